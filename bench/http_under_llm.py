"""Per-call cost of each ``LLMTRACE_HTTP_UNDER_LLM`` setting, all in one process.

    python bench/http_under_llm.py [ROUNDS] [CALLS_PER_ROUND]

``run.py`` compares worker processes, and a few tens of µs per call differ between two processes
of a busy machine whatever they run. Here one process, the agent exporting over OTLP/HTTP to the
loopback sink (``otlp_sink.py``) with its default metrics, runs OpenAI chat calls through an
in-process mock transport (``workload.py``) five ways in turn, in a shuffled order each round:
untraced (the httpx instrumentor unpatched, the SDK's own ``create``), the floor (one hand-made
span with our span's attributes around that call, exported by the same pipeline), and through the
agent with ``never``, ``retries`` (the default) and ``always``. Each round ends with a flush
(timed); the figure is the median over rounds of the process's CPU time per call (every thread,
the export thread included). Prints one JSON object.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from run import Sink
from workload import MESSAGES, MODEL, floor_calls, make_client

MODES = ("never", "retries", "always")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    sink = Sink()
    try:
        import llmtrace_agent

        llmtrace_agent.start(exporters=["otlp"], otlp_endpoint=sink.endpoint)
        import openai  # noqa: F401 (patched on import)
        from opentelemetry import trace

        from llmtrace_agent._runtime import agent, agent_state

        client, _ = make_client()
        http_name = "httpx2" if "httpx2" in sys.modules else "httpx"
        assert agent.registry is not None
        http = agent.registry.statuses[http_name].instrumentor
        http_module = sys.modules[http_name]
        traced = client.chat.completions.create  # type: ignore[attr-defined]
        untraced = traced.__wrapped__  # the SDK's own method, bound

        def plain() -> None:
            untraced(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2)

        def ours() -> None:
            traced(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2)

        client.chat.completions.create = untraced  # type: ignore[attr-defined]
        floor, _ = floor_calls(client, trace.get_tracer("bench.floor"))
        del client.chat.completions.create  # type: ignore[attr-defined]
        base = agent_state.config
        ways = {"untraced": plain, "floor": floor, **dict.fromkeys(MODES, ours)}
        cpu: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(200):  # warm up: imports, pydantic, prices, the export thread
            ours()
        llmtrace_agent.flush(30.0)
        for _ in range(rounds):
            order = list(ways)
            random.shuffle(order)
            for way in order:
                if way in MODES:
                    http.instrument(http_module)  # type: ignore[union-attr]
                    agent_state.config = base.replace(http_under_llm=way)
                else:
                    http.uninstrument(http_module)  # type: ignore[union-attr]
                call = ways[way]
                start = time.process_time()
                for _ in range(per_round):
                    call()
                llmtrace_agent.flush(30.0)
                cpu[way].append((time.process_time() - start) / per_round * 1e6)
        agent_state.config = base
        llmtrace_agent.shutdown()
    finally:
        sink.close()
    medians = {way: statistics.median(figures) for way, figures in cpu.items()}
    bare = medians["untraced"]
    floor_added = medians["floor"] - bare
    print(
        json.dumps(
            {
                "rounds": rounds,
                "calls_per_round": per_round,
                "cpu_us_per_call": {way: round(value, 1) for way, value in medians.items()},
                "added_us_per_call": {
                    way: round(value - bare, 1)
                    for way, value in medians.items()
                    if way != "untraced"
                },
                "added_vs_floor": {
                    way: round((value - bare) / floor_added, 2)
                    for way, value in medians.items()
                    if way != "untraced"
                },
            }
        )
    )


if __name__ == "__main__":
    main()
