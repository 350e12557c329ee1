"""The gate stage: `gate-<policy>` of a Policy.

Evaluates the policy's rules over the metrics files the stage depends on (the evaluation
results of the suites its rules name, and the policy's review results), writes the record
`{"passed", "failed", "rules": [...]}` to `metrics/gate-<policy>.json`, then fails (exit 1)
when any rule failed.

The record is written before the stage fails so that it exists for whoever looks next
(`cat`, the job log, `llmops gate`). DVC does not commit a stage whose command fails: a failed
gate leaves its record in the workspace but dvc.lock unchanged, so the next `dvc repro` runs the
gate again rather than caching a failure.

No ML library is imported: this only reads JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.atomic import write_text
from llmops.errors import CheckFailed
from llmops.runners.gate.rules import Results, evaluate, summary


def gate_results(config: dict[str, Any], root: Path) -> dict[str, Any]:
    """The gate record of a `gate-<policy>` stage config, from the files on disk."""
    spec = config.get("spec") or {}
    policy = str(spec.get("name") or config.get("stage", "gate").removeprefix("gate-"))
    files = list((config.get("inputs") or {}).get("results") or [])
    return summary(evaluate(spec, Results(root, files, policy)))


def run(config: dict[str, Any], root: Path) -> None:
    record = gate_results(config, root)
    for path in config["outputs"]["metrics"]:
        write_text(root / path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    if not record["passed"]:
        stage = config.get("stage", "gate")
        failed = [r for r in record["rules"] if not r["passed"]]
        lines = "\n".join(f"  {r['rule']}: {r['message']}" for r in failed)
        count = record["failed"]
        raise CheckFailed(f"{stage}: {count} rule result{'s' if count != 1 else ''} failed:\n{lines}")
