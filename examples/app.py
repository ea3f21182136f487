"""A small LLM application to trace: ``llmtrace-run python examples/app.py`` (or ``scripts/demo``).

It plans a trip: fetches two forecasts over HTTP with ``requests``, asks a chat model to choose
with the ``openai`` SDK, then streams the model's one-line pitch. It has no tracing code of its
own beyond one OpenTelemetry API span around the whole plan, as a library would write; the agent
supplies the rest. So that it runs anywhere, without network or API key, both services are a tiny
stand-in server it starts on 127.0.0.1 (answering the way api.openai.com does).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import openai
import requests
from opentelemetry import trace

tracer = trace.get_tracer("example-app")
FORECASTS = {"Lisbon": "sunny, 24°C", "Oslo": "light rain, 11°C"}
PITCH = ["Lisbon", ": sun", ", tiles", " and", " pastéis", " de", " nata", "."]


class StandInHandler(BaseHTTPRequestHandler):
    """``GET /forecast?city=Oslo`` and an OpenAI-style ``POST /v1/chat/completions``."""

    def do_GET(self) -> None:
        city = parse_qs(urlparse(self.path).query).get("city", [""])[0]
        self._json({"city": city, "forecast": FORECASTS.get(city, "unknown")})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(0.05)  # a model takes its time
        usage = {"prompt_tokens": 42, "completion_tokens": len(PITCH), "total_tokens": 50}
        base = {"id": "chatcmpl-demo", "created": int(time.time()), "model": "gpt-4o-mini"}
        if not request.get("stream"):
            message = {"role": "assistant", "content": "Lisbon"}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            self._json({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunks = [{"content": piece} for piece in PITCH]
        for index, delta in enumerate([*chunks, {}]):
            reason = None if delta else "stop"
            choice = {"index": 0, "delta": delta, "finish_reason": reason}
            self._event({**base, "object": "chat.completion.chunk", "choices": [choice]})
            time.sleep(0.005 if index else 0.03)
        self._event({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, body: object) -> None:
        self.wfile.write(f"data: {json.dumps(body)}\n\n".encode())
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep stderr for the trace


def plan_trip(base_url: str) -> str:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-demo-not-a-real-key")
    with tracer.start_as_current_span("plan_trip"):
        forecasts = {
            city: requests.get(f"{base_url}/forecast", params={"city": city}, timeout=5).json()
            for city in FORECASTS
        }
        question = f"Forecasts: {json.dumps(forecasts)}. Which city for a beach day? One word."
        choice = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": question}],
            temperature=0,
        )
        city = choice.choices[0].message.content
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"Sell {city} in one line."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        print(plan_trip(f"http://127.0.0.1:{server.server_address[1]}"))
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
