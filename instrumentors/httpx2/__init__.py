"""httpx2, the httpx fork openai 3.x sends its requests with: same API, same instrumentor."""

from __future__ import annotations

from llmtrace_agent.instrumentors.httpx import HTTPXInstrumentor


class HTTPX2Instrumentor(HTTPXInstrumentor):
    """Traces every request an ``httpx2.Client`` or ``httpx2.AsyncClient`` sends."""

    name = "httpx2"
    targets = ("httpx2",)
    requires = "httpx2>=2"
