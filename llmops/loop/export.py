"""The loop's one coupling to `llmops feedback export`: the command line it runs and how it
reads the answer. Kept in this one function so a change to the export's options is one edit.

It runs the export as a subprocess (the CLI is the contract the docs describe, and the loop
must not import the feedback service):

    llmops feedback export DEPLOYMENT --license L --add-to DATASET
        [--preferences --add-preferences-to PREFERENCE_DATASET] --min-new N --json

`--json` prints one line `{"sft_rows", "pairs", "unpaired", "new_rows", "files",
"datasets_changed"}`; with `--min-new N` it writes nothing unless N rows are new to the files
already there; exit 1 means nothing qualified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import StageFailed, UsageError
from llmops.loop.target import LoopTarget


@dataclass
class ExportSummary:
    new_rows: int
    counts: dict[str, Any] = field(default_factory=dict)  # the export's JSON summary, when it gave one
    output: str = ""  # what the export printed, for the pull request's body


def export_argv(target: LoopTarget, min_new: int) -> list[str]:
    loop = target.loop
    if loop is None or target.dataset is None:
        raise UsageError(f"deployment {target.deployment} has no monitoring.loop")
    argv = [sys.executable, "-m", "llmops.cli", "feedback", "export", target.deployment]
    argv += ["--license", loop.license, "--add-to", target.dataset]
    if loop.preference_dataset:
        argv += ["--preferences", "--add-preferences-to", loop.preference_dataset]
    argv += ["--min-new", str(min_new), "--json"]
    return argv


def run_export(root: Path, target: LoopTarget, min_new: int) -> ExportSummary:
    """Export the feedback into the working tree; how many rows are new. Nothing is written when
    fewer than `min_new` are (the export's own rule)."""
    proc = _run(root, export_argv(target, min_new))
    if proc.returncode == 1:  # nothing qualified: the export wrote nothing
        return ExportSummary(0, output=_text(proc))
    _check(proc)
    counts = _json_line(proc.stdout)
    if counts is None:
        raise StageFailed("llmops feedback export --json printed no JSON summary:\n" + _text(proc)[-2000:])
    return ExportSummary(int(counts.get("new_rows") or 0), counts, _text(proc))


def _run(root: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=root, env=without_token(), capture_output=True, text=True, check=False)


def without_token() -> dict[str, str]:
    """The environment minus the write token: the commands the loop runs on the project never need it."""
    return {k: v for k, v in os.environ.items() if k != "GITHUB_TOKEN"}


def _check(proc: subprocess.CompletedProcess[str]) -> None:
    if proc.returncode != 0:
        raise StageFailed(f"llmops feedback export failed (exit {proc.returncode}):\n{_text(proc)[-3000:]}")


def _text(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr).strip()


def _json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return None
