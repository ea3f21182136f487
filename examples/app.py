"""A small application to trace: ``llmtrace-run python examples/app.py`` (or ``scripts/demo``).

It uses only the OpenTelemetry API, as a library would: the agent supplies the SDK and the
exporter. With ``requests`` installed, it fetches forecasts from a tiny HTTP server it starts on
127.0.0.1, so the trace it prints needs no network and no API key.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from urllib.request import urlopen

from opentelemetry import trace

tracer = trace.get_tracer("example-app")
FORECASTS = {"Lisbon": "sunny, 24°C", "Oslo": "light rain, 11°C"}


class ForecastHandler(BaseHTTPRequestHandler):
    """``GET /forecast?city=Oslo`` answers a JSON forecast."""

    def do_GET(self) -> None:
        city = parse_qs(urlparse(self.path).query).get("city", [""])[0]
        body = json.dumps({"city": city, "forecast": FORECASTS.get(city, "unknown")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep stderr for the trace


def start_server() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForecastHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fetch_forecast(base_url: str, city: str) -> str:
    with tracer.start_as_current_span("fetch_forecast", attributes={"app.city": city}):
        url = f"{base_url}/forecast?city={city}"
        try:
            import requests
        except ImportError:  # the standard library works too, without an HTTP span
            with urlopen(url, timeout=5) as response:
                return str(json.load(response)["forecast"])
        return str(requests.get(url, timeout=5).json()["forecast"])


def plan_trip(base_url: str) -> str:
    with tracer.start_as_current_span("plan_trip"):
        forecasts = {city: fetch_forecast(base_url, city) for city in FORECASTS}
        with tracer.start_as_current_span("choose_city") as span:
            choice = min(forecasts, key=lambda city: "rain" in forecasts[city])
            span.set_attribute("app.choice", choice)
        return f"Go to {choice}: {forecasts[choice]}"


def main() -> None:
    server = start_server()
    try:
        print(plan_trip(f"http://127.0.0.1:{server.server_address[1]}"))
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
