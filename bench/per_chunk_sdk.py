"""Added CPU per streamed chunk, end to end through the openai SDK, all in one process.

    python bench/per_chunk_sdk.py [ROUNDS] [TRIPLES_PER_ROUND]     # default 300 10

``per_chunk.py`` prices our per-chunk code alone, over chunks already parsed; this prices what an
app sees: ``chat.completions.create(stream=True)`` read to the end through the SDK's SSE parsing
(~80 µs a chunk), the mock transport of ``workload.py`` answering, the agent (its defaults)
exporting over OTLP/HTTP to the loopback sink (``otlp_sink.py``). Three ways: untraced (the
httpx instrumentor unpatched, the SDK's own ``create``), the floor (one hand-made span with our
span's attributes, reading each chunk's finish reason, usage, id and model as ours does) and the
agent. They run one stream each in a shuffled order (a triple), and each traced stream's process
CPU time minus the untraced one's in its triple is a difference, so a slow moment of a busy
machine hits one triple, not one side of the comparison. Each round runs TRIPLES_PER_ROUND
triples of 202-chunk streams and as many of 3-chunk ones, alternately, then flushes (untimed:
a streamed call makes one span whatever its length, so exporting does not change the slope;
rounds shorter than the export thread's 1 s delay keep its work out of the timed streams).

The per-chunk figure is the slope: (median difference of the long streams - median difference of
the short ones) / 199, the per-call cost cancelling out; with a 95% bootstrap interval over the
triples. CPU time counts every thread of the process. The added cost is ~1% of the SDK's own per
chunk, so the default takes 3,000 triples (~3.5 min on a 2-CPU VM): 1,000 gave 0.76-1.16 µs in
five runs. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from in_process import InProcess
from run import Sink
from spread import bootstrap, median_of
from workload import MESSAGES, MODEL, sse_body

SHORT, LONG = 1, 200  # content chunks; each stream adds a finish and a usage chunk
STEP = LONG - SHORT  # 202 - 3 chunks
TRACED = ("floor", "agent")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    load_before = os.getloadavg()
    sink = Sink()
    try:
        bench = InProcess(sink)
        import llmtrace_agent

        def read(create: Callable[..., object]) -> Callable[[], None]:
            def stream() -> None:
                for _chunk in create(  # type: ignore[attr-defined]
                    model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2, stream=True
                ):
                    pass

            return stream

        ways: dict[str, Callable[[], None]] = {
            "untraced": read(bench.untraced),
            "floor": lambda: bench.floor_stream(None),  # type: ignore[operator]
            "agent": read(bench.traced),
        }
        bodies = {SHORT: sse_body(SHORT), LONG: sse_body(LONG)}
        # Per stream length, per traced way: each triple's CPU µs minus its untraced stream's.
        differences = {length: {way: [] for way in TRACED} for length in bodies}
        untraced_us: dict[int, list[float]] = {length: [] for length in bodies}
        process_time = time.process_time

        def triple(length: int, record: bool) -> None:
            bench.server.stream_body = bodies[length]
            order = list(ways)
            random.shuffle(order)
            spent = {}
            for way in order:
                bench.trace_http(way == "agent")
                stream = ways[way]
                start = process_time()
                stream()
                spent[way] = (process_time() - start) * 1e6
            if record:
                untraced_us[length].append(spent["untraced"])
                for way in TRACED:
                    differences[length][way].append(spent[way] - spent["untraced"])

        for _ in range(20):  # warm up: imports, pydantic, prices, the export thread
            triple(SHORT, record=False)
            triple(LONG, record=False)
        llmtrace_agent.flush(30.0)
        for _ in range(rounds):
            for _ in range(per_round):
                triple(LONG, record=True)
                triple(SHORT, record=True)
            llmtrace_agent.flush(30.0)
        bench.trace_http(True)
        llmtrace_agent.shutdown()
    finally:
        sink.close()
    print(json.dumps(summary(differences, untraced_us, per_round, load_before, os.getloadavg())))


def summary(
    differences: dict[int, dict[str, list[float]]],
    untraced_us: dict[int, list[float]],
    per_round: int,
    load_before: Sequence[float],
    load_after: Sequence[float],
) -> dict[str, object]:
    """The slopes between the long and short streams' median differences, with intervals."""
    count = len(untraced_us[LONG])

    def slope(way: str) -> Callable[[Sequence[int]], float]:
        long, short = differences[LONG][way], differences[SHORT][way]
        return lambda indexes: (median_of(long, indexes) - median_of(short, indexes)) / STEP

    def with_interval(estimate: Callable[[Sequence[int]], float]) -> list[float]:
        low, high = bootstrap(estimate, count)
        return [round(value, 2) for value in (estimate(range(count)), low, high)]

    return {
        "triples": count,
        "triples_per_round": per_round,
        "chunks_per_stream": [SHORT + 2, LONG + 2],
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "untraced_us_per_stream": {
            f"{length + 2} chunks": round(statistics.median(values))
            for length, values in untraced_us.items()
        },
        "added_us_per_stream": {
            f"{length + 2} chunks": {
                way: round(statistics.median(values), 1) for way, values in by_way.items()
            }
            for length, by_way in differences.items()
        },
        "added_us_per_chunk": {way: with_interval(slope(way)) for way in TRACED},
        "note": "added_us_per_chunk: [slope of the median differences, 95% bootstrap interval]",
    }


if __name__ == "__main__":
    main()
