"""Benchmarks: llmtrace-agent against no tracing, a hand-made-span floor and the peers.

    python bench/run.py                 # everything (creates the peers' venvs on first run)
    python bench/run.py --quick         # fewer rounds, for a smoke run
    python bench/run.py --only calls    # calls | gemini | bedrock | chunks | scrub | startup
                                        # | throughput
    python bench/run.py --no-peers      # ours, bare and the floor only (no venvs, no PyPI)

Every figure is measured in one run, interleaved (round-robin over the contenders, in a shuffled
order each round) so that drift in the machine's speed hits all alike, and reported as the median
of the rounds. Exports go to a loopback OTLP/HTTP receiver in its own process
(``bench/otlp_sink.py``). Results print as markdown and are written to ``bench/results/``.

The peers are installed from PyPI into ``.venvs/bench-<peer>`` (each with the newest openai it
accepts; every peer's ``bare`` row runs in its own venv so each ratio compares like with like).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
VENVS = ROOT / ".venvs"
OURS_PYTHON = Path(sys.executable)
LLMTRACE_RUN = OURS_PYTHON.parent / "llmtrace-run"

# name -> (pip arguments, distribution whose version the table shows)
PEERS: dict[str, tuple[list[str], str]] = {
    "genai-openai": (
        ["--pre", "opentelemetry-instrumentation-genai-openai", "openai"],
        "opentelemetry-instrumentation-genai-openai",
    ),
    "openllmetry": (
        ["opentelemetry-instrumentation-openai", "openai"],
        "opentelemetry-instrumentation-openai",
    ),
    "openinference": (
        ["openinference-instrumentation-openai", "openai"],
        "openinference-instrumentation-openai",
    ),
    "otel-distro": (
        ["--pre", "opentelemetry-distro", "opentelemetry-exporter-otlp", "openai"],
        "opentelemetry-distro",
    ),
}
SDK_PACKAGES = ["opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"]


# --- environments -------------------------------------------------------------------------------


def venv_python(peer: str) -> Path:
    return VENVS / f"bench-{peer}" / "bin" / "python"


def ensure_venv(peer: str) -> Path | None:
    """The peer's venv python, created and installed on first use; None if that failed."""
    python = venv_python(peer)
    if python.exists():
        return python
    pip_args, _ = PEERS[peer]
    print(f"creating .venvs/bench-{peer} (pip install {' '.join(pip_args)})…", file=sys.stderr)
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", str(python.parents[1])], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *pip_args, *SDK_PACKAGES],
            check=True,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"  skipped {peer}: {exc}", file=sys.stderr)
        shutil.rmtree(python.parents[1], ignore_errors=True)
        return None
    return python


def version_of(python: Path, distribution: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return found.stdout.strip() or "?"


class Sink:
    """The loopback OTLP receiver process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [str(OURS_PYTHON), str(BENCH / "otlp_sink.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.endpoint = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.endpoint + "/stats", timeout=10) as reply:
            return json.loads(reply.read())

    def reset(self) -> None:
        request = urllib.request.Request(self.endpoint + "/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def agent_env(sink: Sink, **extra: str) -> dict[str, str]:
    """The environment ``llmtrace-run`` gets: exporting to the sink, nothing else set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OTEL_"))}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint, PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


# --- per call and per chunk -----------------------------------------------------------------


@dataclass
class Contender:
    """One worker process: a way of tracing (or not) the same workload."""

    label: str
    group: str  # contenders of a group share a venv and its ``bare`` baseline
    command: list[str]
    env: dict[str, str]
    baseline: bool = False
    floor: bool = False
    ours: bool = False
    process: subprocess.Popen[str] | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def wait_ready(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith('{"ready"'):
            raise RuntimeError(f"{self.label}: worker failed to start ({line!r})")

    def run(self, key: str, command: dict[str, object]) -> None:
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        count = int(command["n"])  # type: ignore[call-overload]
        self.samples.setdefault(key, []).append(reply[CLOCK] / count)
        self.samples.setdefault("wall:" + key, []).append(reply["seconds"] / count)
        if "differences" in reply:
            self.samples.setdefault("differences:" + key, []).extend(reply["differences"])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            assert self.process.stdin is not None
            self.process.stdin.write('{"op": "quit"}\n')
            self.process.stdin.close()
            self.process.wait(60)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()

    def median_us(self, key: str) -> float:
        return statistics.median(self.samples[key]) * 1e6


def contenders(sink: Sink, peers: list[str], provider: str = "openai") -> list[Contender]:
    """Ours (bare, floor, the agent two ways) on ``provider``'s workload, then each peer's."""
    workload = str(BENCH / "workload.py")
    ours_python = str(OURS_PYTHON)
    env = agent_env(sink)
    found = [
        Contender(
            "no tracing",
            "ours",
            [ours_python, workload, "bare", sink.endpoint, provider],
            env,
            baseline=True,
        ),
        Contender(
            "floor: one hand-made SDK span, OTLP batch export",
            "ours",
            [ours_python, workload, "floor", sink.endpoint, provider],
            env,
            floor=True,
        ),
        Contender(
            "**llmtrace-agent**, LLM span only, no metrics",
            "ours",
            [str(LLMTRACE_RUN), ours_python, workload, "bare", sink.endpoint, provider],
            agent_env(sink, LLMTRACE_HTTP_UNDER_LLM="never", OTEL_METRICS_EXPORTER="none"),
            ours=True,
        ),
        Contender(
            "**llmtrace-agent**, LLM span + 2 metrics, no HTTP child span",
            "ours",
            [str(LLMTRACE_RUN), ours_python, workload, "bare", sink.endpoint, provider],
            agent_env(sink, LLMTRACE_HTTP_UNDER_LLM="never"),
            ours=True,
        ),
        Contender(
            "**llmtrace-agent**, defaults (LLM span + 2 metrics; HTTP child spans only for "
            "retries and failures)",
            "ours",
            [str(LLMTRACE_RUN), ours_python, workload, "bare", sink.endpoint, provider],
            agent_env(sink),
            ours=True,
        ),
        Contender(
            "**llmtrace-agent**, HTTP child span always (LLM span + HTTP child span + 2 metrics)",
            "ours",
            [str(LLMTRACE_RUN), ours_python, workload, "bare", sink.endpoint, provider],
            agent_env(sink, LLMTRACE_HTTP_UNDER_LLM="always"),
            ours=True,
        ),
    ]
    for peer in peers:
        python = ensure_venv(peer)
        if python is None:
            continue
        distribution = PEERS[peer][1]
        label = f"{distribution} {version_of(python, distribution)}"
        found.append(
            Contender(
                f"no tracing (openai {version_of(python, 'openai')})",
                peer,
                [str(python), workload, "bare", sink.endpoint],
                env,
                baseline=True,
            )
        )
        found.append(Contender(label, peer, [str(python), workload, peer, sink.endpoint], env))
    return found


CLOCK = "cpu_seconds"  # set from --clock: CPU time is what other load on the machine disturbs least
CALL_OPS: list[tuple[str, dict[str, object]]] = [
    ("call", {"op": "calls", "n": 300}),
    ("stream200", {"op": "stream", "n": 20, "chunks": 200}),
    ("stream1", {"op": "stream", "n": 200, "chunks": 1}),
    ("parsed200", {"op": "parsed-stream", "n": 100, "chunks": 200}),
    ("parsed1", {"op": "parsed-stream", "n": 400, "chunks": 1}),
    ("paired200", {"op": "paired-stream", "n": 30, "chunks": 200}),
    ("paired1", {"op": "paired-stream", "n": 100, "chunks": 1}),
]
# Gemini (google-genai) has no pre-parsed form: per_chunk.py measures our per-chunk code there.
GEMINI_OPS = CALL_OPS[:3]
BEDROCK_OPS = CALL_OPS[:3]
CHUNK_STEP = 199  # a C-chunk stream has C + 2 chunks (a finish and a usage chunk): 202 - 3
# (a Gemini one has C + 1, so its 200- and 1-chunk streams differ by 199 chunks too)


def bench_calls(
    sink: Sink,
    peers: list[str],
    rounds: int,
    provider: str = "openai",
    ops: list[tuple[str, dict[str, object]]] = CALL_OPS,
) -> dict[str, object]:
    workers = contenders(sink, peers, provider)
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        for round_number in range(rounds):
            print(f"  round {round_number + 1}/{rounds}", file=sys.stderr)
            order = workers[:]
            random.shuffle(order)
            for worker in order:
                for key, command in ops:
                    worker.run(key, command)
    finally:
        for worker in workers:
            worker.stop()
    return summarise_calls(workers, rounds, ops)


def summarise_calls(
    workers: list[Contender], rounds: int, ops: list[tuple[str, dict[str, object]]] = CALL_OPS
) -> dict[str, object]:
    baselines = {w.group: w for w in workers if w.baseline}
    rows = []
    for worker in workers:
        base = baselines[worker.group]

        def added(key: str, worker: Contender = worker, base: Contender = base) -> float:
            return worker.median_us(key) - base.median_us(key)

        per_chunk = (added("stream200") - added("stream1")) / CHUNK_STEP
        per_parsed_chunk = None
        if "parsed200" in worker.samples:
            per_parsed_chunk = (added("parsed200") - added("parsed1")) / CHUNK_STEP
        # Same process: the slope through the wrapped method minus the slope through the SDK's
        # own (``__wrapped__``), both in this worker, from the medians of all rounds' pairs
        # (traced minus untraced, one stream each); ~0 for tracers that do not wrap.
        per_chunk_same_process = None
        if "differences:paired200" in worker.samples:
            per_chunk_same_process = (
                (
                    statistics.median(worker.samples["differences:paired200"])
                    - statistics.median(worker.samples["differences:paired1"])
                )
                * 1e6
                / CHUNK_STEP
            )
        rows.append(
            {
                "label": worker.label,
                "group": worker.group,
                "baseline": worker.baseline,
                "floor": worker.floor,
                "ours": worker.ours,
                "call_us": worker.median_us("call"),
                "added_call_us": added("call"),
                "stream200_us": worker.median_us("stream200"),
                "added_stream200_us": added("stream200"),
                "added_per_chunk_us": per_chunk,
                "added_per_parsed_chunk_us": per_parsed_chunk,
                "added_per_chunk_same_process_us": per_chunk_same_process,
            }
        )
    floor_added = next(r for r in rows if r["floor"])["added_call_us"]
    for row in rows:
        row["vs_floor"] = row["added_call_us"] / floor_added if floor_added > 0 else None
    return {"rounds": rounds, "rows": rows, "ops": dict(ops)}


# --- start-up ---------------------------------------------------------------------------------


# Runs one command and reports its wall time and peak RSS. A small interpreter of its own forks
# it: the peak RSS the kernel reports for a child includes what it had between fork and exec,
# which for a child of this (larger) runner would hide the command's own figure.
_SPAWN = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed_run(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of one run of ``command``."""
    spawner = [str(OURS_PYTHON), "-I", "-S", "-c", _SPAWN, shutil.which(command[0]) or command[0]]
    done = subprocess.run(
        [*spawner, *command[1:]], env=env, capture_output=True, text=True, cwd=ROOT
    )
    seconds, rss_kib, exit_code = done.stdout.split()
    if exit_code != "0":
        raise RuntimeError(f"{command} exited with {exit_code}")
    return float(seconds), int(rss_kib)


def bench_startup(sink: Sink, repetitions: int, with_distro: bool) -> dict[str, object]:
    python = str(OURS_PYTHON)
    env = agent_env(sink)
    # (script, label, label of the row it is compared with, command, environment)
    cases: list[tuple[str, str, str, list[str], dict[str, str]]] = []
    distro_python = ensure_venv("otel-distro") if with_distro else None
    for script, args in (
        ("python -c pass", ["-c", "pass"]),
        ("python -c 'import openai'", ["-c", "import openai"]),
    ):
        bare = "python"
        cases += [
            (script, bare, bare, [python, *args], env),
            (script, "llmtrace-run python", bare, [str(LLMTRACE_RUN), python, *args], env),
        ]
        if distro_python is not None:
            distro_bare = "python (opentelemetry-distro's venv)"
            distro_env = {
                **env,
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            }
            instrument = str(distro_python.parent / "opentelemetry-instrument")
            cases += [
                (script, distro_bare, distro_bare, [str(distro_python), *args], env),
                (
                    script,
                    "opentelemetry-instrument python",
                    distro_bare,
                    [instrument, str(distro_python), *args],
                    distro_env,
                ),
            ]
    for _ in range(3):  # warm the page cache
        for _script, _label, _base, command, case_env in cases:
            timed_run(command, case_env)
    samples: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for repetition in range(repetitions):
        if repetition % 10 == 0:
            print(f"  start-up {repetition}/{repetitions}", file=sys.stderr)
        order = cases[:]
        random.shuffle(order)
        for script, label, _base, command, case_env in order:
            samples.setdefault((script, label), []).append(timed_run(command, case_env))
    medians = {
        key: (
            statistics.median(t for t, _ in runs) * 1e3,
            statistics.median(m for _, m in runs) / 1024,
        )
        for key, runs in samples.items()
    }
    rows = []
    for script, label, base, _command, _env in cases:
        ms, rss = medians[(script, label)]
        base_ms, base_rss = medians[(script, base)]
        rows.append(
            {
                "script": script,
                "label": label,
                "baseline": label == base,
                "ms": ms,
                "rss_mib": rss,
                "added_ms": ms - base_ms,
                "added_rss_mib": rss - base_rss,
            }
        )
    return {"repetitions": repetitions, "rows": rows}


# --- throughput -------------------------------------------------------------------------------


def bench_throughput(sink: Sink, rate: int, seconds: float) -> dict[str, object]:
    script = str(BENCH / "throughput.py")
    python = str(OURS_PYTHON)
    cases = [
        ("**llmtrace-agent** (its span queue)", [str(LLMTRACE_RUN), python, script, "api"]),
        ("SDK BatchSpanProcessor, defaults", [python, script, "sdk"]),
        ("SDK BatchSpanProcessor, the agent's settings", [python, script, "sdk-tuned"]),
    ]
    rows = []
    for label, command in cases:
        for burst_label, case_rate, case_seconds in (
            (f"{rate}/s for {seconds:g} s", rate, seconds),
            ("burst: 20,000/s for 1 s", 20000, 1.0),
        ):
            print(f"  throughput: {label}, {burst_label}", file=sys.stderr)
            sink.reset()
            env = agent_env(sink, LLMTRACE_EXPORTER="otlp", OTEL_METRICS_EXPORTER="none")
            done = subprocess.run(
                [*command, str(case_rate), str(case_seconds), sink.endpoint],
                env=env,
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=300,
            )
            if done.returncode != 0:
                raise RuntimeError(f"{label}: {done.stderr}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            time.sleep(0.2)
            received = sink.stats()["spans"]
            rows.append(
                {
                    "label": label,
                    "load": burst_label,
                    "made": report["made"],
                    "received": received,
                    "dropped": report["made"] - received,
                    "rss_growth_mib": (report["rss_peak_kib"] - report["rss_start_kib"]) / 1024,
                    "worst_lag_ms": report["worst_lag_s"] * 1e3,
                    "stderr": done.stderr.strip()[-300:],
                }
            )
    return {"rate": rate, "seconds": seconds, "rows": rows}


# --- our code per chunk ---------------------------------------------------------------------


def bench_chunks(processes: int) -> dict[str, object]:
    """``per_chunk.py`` in ``processes`` fresh processes; the median of each case."""
    runs = []
    for number in range(processes):
        print(f"  per chunk {number + 1}/{processes}", file=sys.stderr)
        done = subprocess.run(
            [str(OURS_PYTHON), str(BENCH / "per_chunk.py")],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cases = {label: statistics.median(run[label] for run in runs) for label in runs[0]}
    return {"processes": processes, "cases": cases}


# --- the scrubber per exported span -----------------------------------------------------------


def bench_scrub(processes: int) -> dict[str, object]:
    """``scrub.py`` in ``processes`` fresh processes; the median of each case."""
    runs = []
    for number in range(processes):
        print(f"  scrub {number + 1}/{processes}", file=sys.stderr)
        done = subprocess.run(
            [str(OURS_PYTHON), str(BENCH / "scrub.py")],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cases = {label: statistics.median(run[label] for run in runs) for label in runs[0]}
    return {"processes": processes, "cases": cases}


# --- report -----------------------------------------------------------------------------------


def markdown(results: dict[str, object]) -> str:
    out: list[str] = []
    machine = results["machine"]
    out.append(f"Measured on {machine} by `python bench/run.py` ({results['date']}).\n")
    calls = results.get("calls")
    if calls:
        ops = calls["ops"]  # type: ignore[index]
        clock = (
            "CPU time of the whole worker process (the export thread included)"
            if results["clock"] == "cpu"
            else "wall time"
        )
        out.append(
            f"**Per call**: `chat.completions.create` through an in-process mock transport "
            f"(no network), median of {calls['rounds']} rounds of {ops['call']['n']} calls, "  # type: ignore[index]
            "each round ending with a flush of the exporters (timed: exporting is part of the "
            f"cost), in {clock}. *Added* is against the same venv without tracing.\n"
        )
        out.append("| tracer | µs/call | added µs/call | added vs floor |")
        out.append("|---|---:|---:|---:|")
        for row in calls["rows"]:  # type: ignore[index]
            if row["baseline"]:
                out.append(f"| {row['label']} | {row['call_us']:.0f} | - | - |")
            else:
                out.append(
                    f"| {row['label']} | {row['call_us']:.0f} | {row['added_call_us']:.0f} | "
                    f"{row['vs_floor']:.2f}x |"
                )
        out.append("")
        out.append(
            "**Per stream chunk**: 200-chunk SSE streams through the mock transport, and the same "
            "with chunks parsed in advance (the SDK's `Stream` hands out a prepared list: what is "
            "left is the tracer's own per-chunk code). Per-chunk cost is the slope between "
            "202- and 3-chunk streams, so the per-call cost cancels out. *SSE* compares the "
            "slope with the untraced process's; *same process* with the slope of the same SSE "
            "streams through the SDK's own method (the wrapper's `__wrapped__`) in the traced "
            "process itself, free of what differs between two processes (a few µs per chunk: "
            "the floor, with no per-chunk code, shows it): streams run in pairs, traced and "
            f"untraced alternately, {ops['paired200']['n']} pairs of 202-chunk and "  # type: ignore[index]
            f"{ops['paired1']['n']} of 3-chunk streams a round, and the slope is taken between "  # type: ignore[index]
            "the medians of the pairs' differences over all rounds.\n"
        )
        out.append(
            "| tracer | µs per 200-chunk stream | added µs per stream "
            "| added µs/chunk (SSE) | added µs/chunk (SSE, same process) "
            "| added µs/chunk (pre-parsed) |"
        )
        out.append("|---|---:|---:|---:|---:|---:|")

        def optional(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        for row in calls["rows"]:  # type: ignore[index]
            if row["baseline"]:
                out.append(f"| {row['label']} | {row['stream200_us']:.0f} | - | - | - | - |")
            else:
                out.append(
                    f"| {row['label']} | {row['stream200_us']:.0f} | "
                    f"{row['added_stream200_us']:.0f} | {row['added_per_chunk_us']:.2f} | "
                    f"{optional(row.get('added_per_chunk_same_process_us'))} | "
                    f"{optional(row['added_per_parsed_chunk_us'])} |"
                )
        out.append("")
    gemini = results.get("gemini_calls")
    if gemini:
        out.append(
            "**Gemini, per call and per chunk**: `models.generate_content` and "
            "`generate_content_stream` of google-genai through an in-process mock transport, "
            f"measured as above (median of {gemini['rounds']} rounds, "  # type: ignore[index]
            f"{gemini['ops']['call']['n']} calls each; per chunk: the slope between "  # type: ignore[index]
            "201- and 2-chunk SSE streams). No peer is measured here.\n"
        )
        out.append("| tracer | µs/call | added µs/call | added vs floor | added µs/chunk (SSE) |")
        out.append("|---|---:|---:|---:|---:|")
        for row in gemini["rows"]:  # type: ignore[index]
            if row["baseline"]:
                out.append(f"| {row['label']} | {row['call_us']:.0f} | - | - | - |")
            else:
                out.append(
                    f"| {row['label']} | {row['call_us']:.0f} | {row['added_call_us']:.0f} | "
                    f"{row['vs_floor']:.2f}x | {row['added_per_chunk_us']:.2f} |"
                )
        out.append("")
    bedrock = results.get("bedrock_calls")
    if bedrock:
        out.append(
            "**Bedrock, per call and per chunk**: boto3 `converse` and `converse_stream` to "
            "Bedrock Runtime, urllib3's request sending replaced in-process (botocore's signing, "
            "parsing and event-stream decoding run, and the HTTP child span), measured as above "
            "(median "
            f"of {bedrock['rounds']} rounds, "  # type: ignore[index]
            f"{bedrock['ops']['call']['n']} calls each; per chunk: the slope between "  # type: ignore[index]
            "204- and 5-event streams). No peer is measured here.\n"
        )
        out.append("| tracer | µs/call | added µs/call | added vs floor | added µs/chunk |")
        out.append("|---|---:|---:|---:|---:|")
        for row in bedrock["rows"]:  # type: ignore[index]
            if row["baseline"]:
                out.append(f"| {row['label']} | {row['call_us']:.0f} | - | - | - |")
            else:
                out.append(
                    f"| {row['label']} | {row['call_us']:.0f} | {row['added_call_us']:.0f} | "
                    f"{row['vs_floor']:.2f}x | {row['added_per_chunk_us']:.2f} |"
                )
        out.append("")
    chunks = results.get("chunks")
    if chunks:
        out.append(
            "**Our code per chunk**: the stream proxy and stream state alone over chunks the SDK "
            "already parsed, against iterating them bare (`bench/per_chunk.py`; median of "
            f"{chunks['processes']} processes).\n"
        )
        out.append("| stream | added µs/chunk |")
        out.append("|---|---:|")
        for label, value in chunks["cases"].items():  # type: ignore[union-attr]
            out.append(f"| {label} | {value:.2f} |")
        out.append("")
    scrub = results.get("scrub")
    if scrub:
        out.append(
            "**Scrubbing**: the scrubber's CPU time per exported span (an LLM span and its HTTP "
            "child, alternately), against encoding the same span for OTLP/protobuf (sending "
            "costs more), with and without ~3 KB of captured content per LLM span "
            f"(`bench/scrub.py`; median of {scrub['processes']} processes).\n"
        )
        out.append("| spans | scrub µs/span | OTLP encode µs/span | scrub / encode |")
        out.append("|---|---:|---:|---:|")
        cases = scrub["cases"]  # type: ignore[index]
        for label in (
            key.removeprefix("scrub µs/span, ") for key in cases if key.startswith("scrub")
        ):
            scrub_us = cases[f"scrub µs/span, {label}"]
            encode_us = cases[f"OTLP encode µs/span, {label}"]
            out.append(
                f"| {label} | {scrub_us:.1f} | {encode_us:.1f} | {scrub_us / encode_us:.0%} |"
            )
        out.append("")
    startup = results.get("startup")
    if startup:
        out.append(
            f"**Start-up**: median wall time and peak RSS of {startup['repetitions']} runs each "
            "(interleaved), exporting over OTLP/HTTP to the loopback receiver.\n"
        )
        out.append("| command | ms | added ms | peak RSS MiB | added MiB |")
        out.append("|---|---:|---:|---:|---:|")
        for row in startup["rows"]:  # type: ignore[index]
            added_ms = "-" if row["baseline"] else f"{row['added_ms']:+.1f}"
            added_rss = "-" if row["baseline"] else f"{row['added_rss_mib']:+.1f}"
            out.append(
                f"| `{row['label']}`: `{row['script']}` | {row['ms']:.1f} | {added_ms} | "
                f"{row['rss_mib']:.1f} | {added_rss} |"
            )
        out.append("")
    throughput = results.get("throughput")
    if throughput:
        out.append(
            "**Throughput**: LLM-like spans (~1.4 KB each, content included) through the "
            "OpenTelemetry API to a live loopback OTLP/HTTP receiver, counted at the receiver.\n"
        )
        out.append("| processor | load | spans made | received | dropped | RSS growth MiB |")
        out.append("|---|---|---:|---:|---:|---:|")
        for row in throughput["rows"]:  # type: ignore[index]
            out.append(
                f"| {row['label']} | {row['load']} | {row['made']} | {row['received']} | "
                f"{row['dropped']} | {row['rss_growth_mib']:.1f} |"
            )
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        choices=("calls", "gemini", "bedrock", "chunks", "scrub", "startup", "throughput"),
        action="append",
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--no-peers", action="store_true", help="skip the peers' venvs")
    parser.add_argument("--rounds", type=int, help="per-call rounds (default 15, quick 3)")
    parser.add_argument("--repetitions", type=int, help="start-up runs (default 40, quick 5)")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="per-call figures in CPU time of the worker process (default: robust when other "
        "processes load the machine) or wall time",
    )
    options = parser.parse_args()
    global CLOCK
    CLOCK = "cpu_seconds" if options.clock == "cpu" else "seconds"
    parts = options.only or [
        "calls",
        "gemini",
        "bedrock",
        "chunks",
        "scrub",
        "startup",
        "throughput",
    ]
    peers = [] if options.no_peers else ["genai-openai", "openllmetry", "openinference"]
    rounds = options.rounds or (3 if options.quick else 15)
    repetitions = options.repetitions or (5 if options.quick else 40)
    results: dict[str, object] = {
        "clock": options.clock,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}",
    }
    # A pip-installed agent has its bytecode compiled at install; an editable checkout run with
    # PYTHONDONTWRITEBYTECODE (as here) would otherwise compile it at every start-up.
    compileall.compile_dir(ROOT / "src", quiet=1)
    sink = Sink()
    try:
        if "calls" in parts:
            results["calls"] = bench_calls(sink, peers, rounds)
        if "gemini" in parts:
            results["gemini_calls"] = bench_calls(sink, [], rounds, "gemini", GEMINI_OPS)
        if "bedrock" in parts:
            results["bedrock_calls"] = bench_calls(sink, [], rounds, "bedrock", BEDROCK_OPS)
        if "chunks" in parts:
            results["chunks"] = bench_chunks(3 if options.quick else 7)
        if "scrub" in parts:
            results["scrub"] = bench_scrub(3 if options.quick else 5)
        if "startup" in parts:
            results["startup"] = bench_startup(sink, repetitions, not options.no_peers)
        if "throughput" in parts:
            results["throughput"] = bench_throughput(sink, 2000, 3.0 if options.quick else 10.0)
    finally:
        sink.close()
    report = markdown(results)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{stamp}.md").write_text(report + "\n")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(report + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}/{stamp}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
