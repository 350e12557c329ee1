"""CLI start-up benchmark: `llmops --help` and `llmops validate` against a bare interpreter.

    .venv/bin/python tests/bench/bench_startup.py [--runs 20]

The baseline, run in the same command, is `python -c pass`: what any Python CLI pays before
its first line. Goal: `llmops --help` under 0.2 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def best(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
        assert done.returncode in (0, 1), done.stderr
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    py = sys.executable
    baseline = best([py, "-c", "pass"], runs)
    rows = [
        ("python -c pass (baseline)", baseline),
        ("llmops --help", best([py, "-m", "llmops.cli", "--help"], runs)),
        ("llmops validate (repo)", best([py, "-m", "llmops.cli", "validate"], max(3, runs // 4))),
        (
            "llmops compile --check (repo)",
            best([py, "-m", "llmops.cli", "compile", "--check"], max(3, runs // 4)),
        ),
    ]
    for label, seconds in rows:
        print(f"{label:32} {seconds * 1000:8.1f} ms  {seconds / baseline:5.1f}x baseline")


if __name__ == "__main__":
    main()
