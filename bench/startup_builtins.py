"""Start-up with 30 built-in instrumentors registered against start-up with today's table.

Start-up reads the built-ins from a generated table (plain data) instead of importing their
modules, so registering more of them should cost next to nothing. This builds two copies of the
package, one with the real table and one with 24 more rows (instrumentors of libraries the
program never imports, as most are in any one app), and times ``python -c pass`` traced by each
(the bootstrap directory on PYTHONPATH, no launcher), alternating, in fresh processes.

    python bench/startup_builtins.py [--runs 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = Path("llmtrace_agent", "_runtime", "builtin_table.py")


def package_copy(where: Path, extra_rows: int) -> Path:
    """A copy of src/ whose built-in table has ``extra_rows`` more (never imported) libraries."""
    shutil.copytree(ROOT / "src", where, ignore=shutil.ignore_patterns("*.egg-info"))
    table = where / TABLE
    text = table.read_text().rstrip().removesuffix(")")
    for number in range(extra_rows):
        name = f"benchlib{number}"
        text += f'    ("{name}", "llmtrace_agent.instrumentors.{name}:X", ("{name}",), None),\n'
    table.write_text(text + ")\n")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(where)], check=True)
    return where


_ACTIVATE = """
import sys, time
from llmtrace_agent._runtime import builtin_table, import_hooks
from llmtrace_agent._runtime.config import Config
from llmtrace_agent._runtime.plugins import PluginRegistry
best = float("inf")
for _ in range(200):
    import_hooks._pending.clear()
    started = time.perf_counter()
    PluginRegistry(Config({})).activate([])
    best = min(best, time.perf_counter() - started)
print(best)
"""


def activate_seconds(src: Path) -> float:
    """The fastest of 200 registrations of every built-in (the work start-up adds per row)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", _ACTIVATE], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def run_once(src: Path) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": f"{src / 'llmtrace_agent' / 'bootstrap'}:{src}",
        "OTEL_TRACES_EXPORTER": "none",
    }
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as scratch:
        today = package_copy(Path(scratch, "today"), 0)
        thirty = package_copy(Path(scratch, "thirty"), 30 - count_builtins())
        samples: dict[Path, list[float]] = {today: [], thirty: []}
        for _ in range(5):  # warm the page cache
            run_once(today), run_once(thirty)
        for _ in range(runs):
            for src in (today, thirty):
                samples[src].append(run_once(src))
        base = statistics.median(samples[today]) * 1e3
        more = statistics.median(samples[thirty]) * 1e3
        label = f"{count_builtins()} built-ins"
        print(f"python -c pass, traced, {label}: {base:.2f} ms (median of {runs})")
        print(f"python -c pass, traced, 30 built-ins: {more:.2f} ms ({more - base:+.2f} ms)")
        for src, name in ((today, label), (thirty, "30 built-ins")):
            print(f"registering {name}: {activate_seconds(src) * 1e6:.1f} µs (best of 200)")


def count_builtins() -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from llmtrace_agent._runtime.builtin_table import BUILTINS

    return len(BUILTINS)


if __name__ == "__main__":
    main()
