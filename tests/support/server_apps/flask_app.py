"""A Flask app making LLM calls in a view and in a streamed response (gunicorn, ``flask run``)."""

from __future__ import annotations

import os
import time

import openai
from flask import Flask, Response, request, stream_with_context

client = openai.OpenAI(
    base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-test-not-a-real-key", max_retries=0
)
MESSAGES = [{"role": "user", "content": "hi"}]
app = Flask(__name__)


@app.get("/health")
def health() -> dict[str, bool]:
    return {"ok": True}


@app.get("/hello/<name>")
def hello(name: str) -> dict[str, object]:
    time.sleep(float(request.args.get("wait", 0)))  # busy: the next request goes to another worker
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    return {"name": name, "answer": reply.choices[0].message.content, "pid": os.getpid()}


@app.get("/stream")
def stream() -> Response:
    def relay():  # type: ignore[no-untyped-def]
        chunks = client.chat.completions.create(
            model="gpt-4o-stream", messages=MESSAGES, stream=True
        )
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    return Response(stream_with_context(relay()), mimetype="text/plain")


@app.get("/boom")
def boom() -> None:
    raise RuntimeError("the view failed")
