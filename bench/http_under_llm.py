"""Per-call cost of each ``LLMTRACE_HTTP_UNDER_LLM`` setting, all in one process.

    python bench/http_under_llm.py [ROUNDS] [CALLS_PER_ROUND]     # default 100 60

``run.py`` compares worker processes, and a few tens of µs per call differ between two processes
of a busy machine whatever they run. Here one process, the agent exporting over OTLP/HTTP to the
loopback sink (``otlp_sink.py``) with its default metrics, runs OpenAI chat calls through an
in-process mock transport (``workload.py``) five ways in turn, in a shuffled order each round:
untraced (the httpx instrumentor unpatched, the SDK's own ``create``), the floor (one hand-made
span with our span's attributes around that call, exported by the same pipeline), and through the
agent with ``never``, ``retries`` (the default) and ``always``. Each way's turn ends with a flush
(timed), so its spans are exported in one batch of CALLS_PER_ROUND; the figure is the process's
CPU time per call (every thread, the export thread included).

The VM's speed drifts from second to second, so the rounds are many and short (~0.4 s): a way's
*added* cost is the median over rounds of its CPU per call minus the untraced way's in the same
round, and each figure comes with a 95% bootstrap interval over the rounds. The export share is
reported apart: an OTLP request costs about 1 ms of CPU whatever it carries, which a batch of
CALLS_PER_ROUND spans shares (the floor and the agent alike), so larger rounds read a little
lower per call and a little higher as a ratio. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from in_process import InProcess
from run import Sink
from spread import bootstrap, median_of, quartiles
from workload import MESSAGES, MODEL

MODES = ("never", "retries", "always")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    load_before = os.getloadavg()
    sink = Sink()
    try:
        bench = InProcess(sink)
        import llmtrace_agent
        from llmtrace_agent._runtime import agent_state

        def plain() -> None:
            bench.untraced(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2)

        def ours() -> None:
            bench.traced(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2)

        base = agent_state.config
        ways = {"untraced": plain, "floor": bench.floor_call, **dict.fromkeys(MODES, ours)}
        # Per way, one figure a round: CPU µs per call, and the flush's share of it.
        cpu: dict[str, list[float]] = {way: [] for way in ways}
        export: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(200):  # warm up: imports, pydantic, prices, the export thread
            ours()
        llmtrace_agent.flush(30.0)
        process_time = time.process_time
        for _ in range(rounds):
            order = list(ways)
            random.shuffle(order)
            for way in order:
                bench.trace_http(way in MODES)
                if way in MODES:
                    agent_state.config = base.replace(http_under_llm=way)
                call = ways[way]
                start = process_time()
                for _ in range(per_round):
                    call()
                called = process_time()
                llmtrace_agent.flush(30.0)
                end = process_time()
                cpu[way].append((end - start) / per_round * 1e6)
                export[way].append((end - called) / per_round * 1e6)
        agent_state.config = base
        llmtrace_agent.shutdown()
    finally:
        sink.close()
    print(json.dumps(summary(cpu, export, per_round, load_before, os.getloadavg())))


def differences(values: Sequence[float], bare: Sequence[float]) -> list[float]:
    """Each round's figure minus the untraced way's in the same round."""
    return [value - base for value, base in zip(values, bare, strict=True)]


def summary(
    cpu: dict[str, list[float]],
    export: dict[str, list[float]],
    per_round: int,
    load_before: Sequence[float],
    load_after: Sequence[float],
) -> dict[str, object]:
    """Medians of the per-round differences from the untraced way, with their intervals."""
    rounds, bare = len(cpu["untraced"]), cpu["untraced"]
    added = {way: differences(values, bare) for way, values in cpu.items() if way != "untraced"}

    def with_interval(estimate: Callable[[Sequence[int]], float], digits: int) -> list[float]:
        low, high = bootstrap(estimate, rounds)
        return [round(value, digits) for value in (estimate(range(rounds)), low, high)]

    def ratio(way: str) -> Callable[[Sequence[int]], float]:
        return lambda indexes: median_of(added[way], indexes) / median_of(added["floor"], indexes)

    return {
        "rounds": rounds,
        "calls_per_round": per_round,
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpu_us_per_call": {way: round(statistics.median(v), 1) for way, v in cpu.items()},
        "added_us_per_call": {
            way: with_interval(partial(median_of, values), 1) for way, values in added.items()
        },
        "added_us_per_call_round_quartiles": {
            way: [round(value, 1) for value in quartiles(values)] for way, values in added.items()
        },
        "export_us_per_call": {
            way: round(statistics.median(differences(values, export["untraced"])), 1)
            for way, values in export.items()
            if way != "untraced"
        },
        "added_vs_floor": {way: with_interval(ratio(way), 2) for way in MODES},
        "note": "added_us_per_call and added_vs_floor: [median over rounds, 95% bootstrap "
        "interval]; export_us_per_call: the flush's share of the added cost",
    }


if __name__ == "__main__":
    main()
