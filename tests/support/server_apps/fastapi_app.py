"""A FastAPI app making LLM calls every way a request can (uvicorn, gunicorn, hypercorn)."""

from __future__ import annotations

import asyncio
import os
import time

import openai
from fastapi import APIRouter, BackgroundTasks, FastAPI, WebSocket
from fastapi.responses import StreamingResponse

BASE_URL = os.environ["FAKE_OPENAI_URL"]
KEY = "sk-test-not-a-real-key"
client = openai.OpenAI(base_url=BASE_URL, api_key=KEY, max_retries=0)
async_client = openai.AsyncOpenAI(base_url=BASE_URL, api_key=KEY, max_retries=0)
MESSAGES = [{"role": "user", "content": "hi"}]

app = FastAPI()
api = APIRouter(prefix="/api")


@app.get("/health")
def health() -> dict[str, bool]:
    return {"ok": True}


@app.post("/ask/{topic}")
def ask(topic: str, wait: float = 0) -> dict[str, object]:
    """A sync endpoint: FastAPI runs it in a thread pool."""
    time.sleep(wait)  # a busy worker leaves the next request to another one
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    return {"topic": topic, "answer": reply.choices[0].message.content or "", "pid": os.getpid()}


@api.get("/async/{topic}")
async def ask_async(topic: str) -> dict[str, str]:
    reply = await async_client.chat.completions.create(model="gpt-4o-async", messages=MESSAGES)
    return {"topic": topic, "answer": reply.choices[0].message.content or ""}


@app.post("/busy/{topic}")
async def busy(topic: str, wait: float = 0) -> dict[str, object]:
    """Blocks its worker's event loop for ``wait`` seconds: the next connection goes to another."""
    time.sleep(wait)
    reply = await async_client.chat.completions.create(model="gpt-4o-busy", messages=MESSAGES)
    return {"topic": topic, "answer": reply.choices[0].message.content or "", "pid": os.getpid()}


def summarise() -> None:
    client.chat.completions.create(model="gpt-4o-background", messages=MESSAGES)


@app.post("/background")
def background(tasks: BackgroundTasks) -> dict[str, bool]:
    tasks.add_task(summarise)
    return {"queued": True}


@app.get("/stream")
def stream() -> StreamingResponse:
    def relay():  # type: ignore[no-untyped-def]
        chunks = client.chat.completions.create(
            model="gpt-4o-stream", messages=MESSAGES, stream=True
        )
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    return StreamingResponse(relay(), media_type="text/plain")


@app.get("/sse")
async def sse() -> StreamingResponse:
    async def events():  # type: ignore[no-untyped-def]
        chunks = await async_client.chat.completions.create(
            model="gpt-4o-sse", messages=MESSAGES, stream=True
        )
        async for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                yield f"data: {chunk.choices[0].delta.content}\n\n"
                await asyncio.sleep(0)

    return StreamingResponse(events(), media_type="text/event-stream")


@app.get("/sse-slow")
async def sse_slow() -> StreamingResponse:
    """Relays a slow LLM stream: the test's client leaves after the first event."""

    async def events():  # type: ignore[no-untyped-def]
        chunks = await async_client.chat.completions.create(
            model="gpt-4o-slow", messages=MESSAGES, stream=True
        )
        async for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                yield f"data: {chunk.choices[0].delta.content}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@app.get("/boom")
def boom() -> None:
    raise RuntimeError("the endpoint failed")


@app.websocket("/ws/{room}")
async def chat_socket(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    question = await websocket.receive_text()
    reply = await async_client.chat.completions.create(
        model="gpt-4o-ws", messages=[{"role": "user", "content": question}]
    )
    await websocket.send_text(reply.choices[0].message.content or "")
    await websocket.close()


app.include_router(api)
