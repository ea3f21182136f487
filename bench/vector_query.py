"""Per-query cost of the chromadb instrumentation: in-process Chroma queries, with and without.

    python bench/vector_query.py [QUERIES_PER_ROUND] [ROUNDS] [otlp|none] [RECORDS]

One process: an in-process (ephemeral) Chroma collection of RECORDS 64-dimensional records,
queried for the 5 nearest to a random vector, with the agent started exporting over OTLP/HTTP to
``bench/otlp_sink.py`` in another process (the batch exporter thread, which encodes and sends
the spans, included), or with ``none`` exporting nothing: the instrumentation alone. Rounds
alternate between patched and unpatched collections (the instrumentor's own
``uninstrument``/``instrument``), so machine noise hits both alike; the medians are compared.
Wall time swings with the machine's load; the process's CPU time (all its threads, the
exporter's and Chroma's included) is the steadier figure.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

DIMENSIONS = 64


def main() -> None:
    per_round = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    exporter = sys.argv[3] if len(sys.argv) > 3 else "otlp"
    records = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("otlp_sink.py"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = sink.stdout.readline().strip()  # type: ignore[union-attr]
        import llmtrace_agent

        llmtrace_agent.start(
            exporters=[exporter], otlp_endpoint=f"http://127.0.0.1:{port}", metrics_exporter="none"
        )
        import chromadb

        from llmtrace_agent._runtime import agent

        assert agent.registry is not None
        instrumentor = agent.registry.statuses["chromadb"].instrumentor
        module = sys.modules["chromadb"]
        rng = random.Random(7)

        def vector() -> list[float]:
            return [rng.random() for _ in range(DIMENSIONS)]

        client = chromadb.EphemeralClient(chromadb.Settings(anonymized_telemetry=False))
        collection = client.create_collection("bench", embedding_function=None)
        for start in range(0, records, 500):
            ids = [str(i) for i in range(start, min(start + 500, records))]
            collection.add(ids=ids, embeddings=[vector() for _ in ids])
        queries = [[vector()] for _ in range(per_round)]
        for query in queries[:200]:  # warm up: index, caches
            collection.query(query_embeddings=query, n_results=5)
        wall: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for patched in (False, True):
                if patched:
                    instrumentor.instrument(module)  # type: ignore[union-attr]
                else:
                    instrumentor.uninstrument(module)  # type: ignore[union-attr]
                start, start_cpu = time.perf_counter(), time.process_time()
                for query in queries:
                    collection.query(query_embeddings=query, n_results=5)
                wall[patched].append((time.perf_counter() - start) / per_round * 1e6)
                cpu[patched].append((time.process_time() - start_cpu) / per_round * 1e6)
        llmtrace_agent.shutdown()
        received = ""
        if exporter == "otlp":
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as stats:
                received = f", {json.load(stats)['spans']} spans exported"
        print(
            f"{rounds} alternating rounds of {per_round} Collection.query (in-process Chroma,"
            f" {records} records x {DIMENSIONS} dims, top 5), exporter {exporter},"
            f" median per query{received}:"
        )
        for label, figures in (("wall", wall), ("CPU", cpu)):
            plain, traced = statistics.median(figures[False]), statistics.median(figures[True])
            print(
                f"  {label:>4}: {plain:7.1f} us not instrumented, {traced:7.1f} us instrumented"
                f" (+{traced - plain:.1f} us, {traced / plain - 1:+.1%})"
            )
    finally:
        sink.stdin.close()  # type: ignore[union-attr]
        sink.wait(10)


if __name__ == "__main__":
    main()
