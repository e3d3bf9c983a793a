"""Every benchmark at a tiny size, so one that a change broke is caught the day it lands.

    .venv/bin/python -m bench.smoke        (make bench-smoke; CI runs it)

Each benchmark runs as `python -m bench.<name>` in a process of its own, with the options below,
and passes when it exits 0 and prints its Markdown table. Nothing is measured here: the sizes
are far too small for figures to mean anything (`make bench` runs the real sizes).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "landing": ["--seconds", "1", "--connections", "2"],
    "journeys": ["--seconds", "3", "--concurrency", "2", "--warmup", "0", "--profile", "3"],
    "meter_search": ["--meters", "300", "--requests", "20", "--no-scan"],
    "webhook_drain": ["--deliveries", "200", "--sample-seconds", "0.5"],
}


def run(name: str, options: list[str], folder: Path) -> str | None:
    """None when the benchmark ran and printed its table, else what went wrong."""
    if name == "meter_search":
        options = [*options, "--log", str(folder / "bench-serve.log")]
    started = time.monotonic()
    try:
        finished = subprocess.run(
            [sys.executable, "-m", f"bench.{name}", *options],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return "did not finish in 10 minutes"
    seconds = time.monotonic() - started
    table = [line for line in finished.stdout.splitlines() if line.startswith("|")]
    if finished.returncode != 0 or not table:
        return f"exit {finished.returncode}\n{finished.stdout[-2000:]}\n{finished.stderr[-3000:]}"
    print(f"bench.{name}: ran in {seconds:.0f} s and printed a table of {len(table)} lines")
    return None


def main() -> None:
    failures = {}
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as folder:
        for name, options in TINY.items():
            problem = run(name, options, Path(folder))
            if problem is not None:
                failures[name] = problem
    for name, problem in failures.items():
        print(f"bench.{name} FAILED: {problem}", file=sys.stderr)
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
