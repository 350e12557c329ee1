"""The gate stage: `gate-<policy>` of a Policy.

Evaluates the policy's rules (`llmops.gates`) over the metrics files the stage depends on (the
evaluation results of the suites its rules name, and the policy's review results), writes the
record `{"passed", "failed", "rules": [...]}` to `metrics/gate-<policy>.json`, then fails (exit 1)
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
from typing import TYPE_CHECKING

from llmops.atomic import write_text
from llmops.errors import CheckFailed
from llmops.gates import disk_reader, gate_record

if TYPE_CHECKING:
    from llmops.compiler.stages.gate import GateConfig


def run(config: GateConfig, root: Path) -> None:
    record = gate_record(config.spec, config.inputs.results, disk_reader(root))
    for path in config.outputs.metrics:
        write_text(root / path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    if not record["passed"]:
        failed = [r for r in record["rules"] if not r["passed"]]
        lines = "\n".join(f"  {r['rule']}: {r['message']}" for r in failed)
        count = record["failed"]
        raise CheckFailed(f"{config.stage}: {count} rule result{'s' if count != 1 else ''} failed:\n{lines}")
