"""Views making LLM calls through the openai SDK (to the tests' fake server)."""

from __future__ import annotations

import os

import openai
from django.http import HttpRequest, JsonResponse

client = openai.OpenAI(
    base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-test-not-a-real-key", max_retries=0
)


def hello(request: HttpRequest, name: str) -> JsonResponse:
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    return JsonResponse({"name": name, "answer": reply.choices[0].message.content})


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def boom(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("the view failed")
