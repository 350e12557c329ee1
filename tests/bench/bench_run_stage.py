"""Per-stage overhead of `llmops run` as a project grows: one trivial data stage, in projects of
50, 1,000 and 5,000 Dataset specs.

    .venv/bin/python tests/bench/bench_run_stage.py [--sizes 50,1000,5000] [--rounds 3]

Each size is compiled once, then `llmops run data-d0` (a Dataset of three records) is timed as
a fresh process, the way `dvc repro` and CI jobs call it (median of --rounds). The baseline run
in the same command is `llmops --version` (a fresh process that imports nothing but the CLI):
the overhead is what a stage costs beyond starting Python. A stage runs from its own config and
the few spec files it came from, so the goal is a ratio to the smallest project near 1.0 at
every size (before: 0.46 s at 50 specs, 1.2 s at 1,000, 4.0 s at 5,000).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LLMOPS = str(Path(sys.executable).parent / "llmops")
DATASET = """kind: Dataset
name: d{i}
sources:
  - path: data/d{i}.jsonl
split: {{train: 0.34, validation: 0.33, test: 0.33}}
"""


def make_project(root: Path, size: int) -> None:
    (root / "specs").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "llmops.yaml").write_text("kind: Project\nname: bench\n")
    rows = "".join(json.dumps({"text": f"record {n} of the bench"}) + "\n" for n in range(3))
    for i in range(size):
        (root / "specs" / f"d{i}.yaml").write_text(DATASET.format(i=i))
        (root / "data" / f"d{i}.jsonl").write_text(rows)


def timed(args: list[str], cwd: Path, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(args, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,1000,5000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        baseline = timed([LLMOPS, "--version"], Path(tmp), args.rounds)
        print(f"baseline `llmops --version`: {baseline * 1000:.0f} ms")
        first = None
        for size in sizes:
            root = Path(tmp) / f"p{size}"
            make_project(root, size)
            subprocess.run([LLMOPS, "compile"], cwd=root, check=True, capture_output=True)
            stage = timed([LLMOPS, "run", "data-d0"], root, args.rounds)
            first = first or stage
            print(
                f"{size:>6} specs: llmops run data-d0 {stage * 1000:6.0f} ms"
                f"  overhead over baseline {(stage - baseline) * 1000:6.0f} ms"
                f"  ratio to {sizes[0]} specs {stage / first:.2f}"
            )


if __name__ == "__main__":
    main()
