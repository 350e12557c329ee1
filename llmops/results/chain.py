"""The key of a stage's results: what it ran (cmd), with which settings (params files) on which
inputs (deps hashes), so a job can find in the remote what an upstream job computed without
having that job's dvc.lock and without running anything.

A git-tracked input is hashed where it lies; an input that another stage writes takes the hash
that stage's record holds for it. So the keys chain from the repository's files through every
record to the stage asked for, and a record is found exactly when every stage above it ran on
these same files and settings. This is DVC's run-cache idea, kept by llmops because DVC's own
run-cache skips stages whose outputs are `persist` (ours are, so a failed run keeps the last
good outputs on a laptop).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmops.results.pipeline import PipelineStage, producer_of, producers

KEY_FORMAT = 1


class ChainError(ValueError):
    """An input the key needs is not there (a missing file, an upstream without results)."""


@dataclass(frozen=True)
class StageInputs:
    """What a stage's key is made of; also what its dvc.lock entry must agree with."""

    stage: str
    cmd: str
    params: dict[str, str]  # params file -> sha256 of its bytes
    deps: dict[str, str]  # dep path -> DVC md5 (`.dir` for a folder)

    def key(self) -> str:
        body = {"format": KEY_FORMAT, "stage": self.stage, "cmd": self.cmd}
        body |= {"params": self.params, "deps": self.deps}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def stage_inputs(
    stage: PipelineStage,
    stages: list[PipelineStage],
    file_bytes: Callable[[str], bytes | None],
    tracked_md5: Callable[[str], str | None],
    produced_md5: Callable[[str, str], str | None],
) -> StageInputs:
    """The inputs of `stage`: params files read with `file_bytes`, git-tracked deps hashed with
    `tracked_md5`, and deps another stage writes looked up with `produced_md5(stage, path)`
    (the hash that stage's results record for that output)."""
    made_by = producers(stages)
    params: dict[str, str] = {}
    for path in stage.params:
        data = file_bytes(path)
        if data is None:
            raise ChainError(f"{stage.name}: params file {path} is missing (run `llmops compile`)")
        params[path] = hashlib.sha256(data).hexdigest()
    deps: dict[str, str] = {}
    for path in stage.deps:
        producer = producer_of(path, made_by)
        if producer is None:
            md5 = tracked_md5(path)
            if md5 is None:
                raise ChainError(f"{stage.name}: input {path} is missing")
        else:
            if path not in made_by:
                raise ChainError(
                    f"{stage.name}: input {path} is inside an output of {producer}; "
                    "a stage's inputs must be whole outputs of the stages above it"
                )
            md5 = produced_md5(producer, path)
            if md5 is None:
                raise ChainError(f"{stage.name}: no results of {producer} record {path}")
        deps[path] = md5
    return StageInputs(stage.name, stage.cmd, params, deps)


def lock_disagreements(inputs: StageInputs, entry: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """How a dvc.lock entry disagrees with the inputs it is to be recorded under (empty: it
    agrees). `params` is each params file's parsed content, as DVC records it."""
    problems: list[str] = []
    if entry.get("cmd") != inputs.cmd:
        problems.append(f"cmd {entry.get('cmd')!r} is not {inputs.cmd!r}")
    locked_deps = {d.get("path"): d.get("md5") for d in entry.get("deps") or [] if isinstance(d, dict)}
    for path, md5 in inputs.deps.items():
        if locked_deps.get(path) != md5:
            problems.append(f"input {path} is {md5} on disk but {locked_deps.get(path)} in dvc.lock")
    locked_params = entry.get("params") or {}
    for path, content in params.items():
        if locked_params.get(path) != content:
            problems.append(f"params {path} differ from dvc.lock")
    return problems


def out_md5s(entry: dict[str, Any]) -> dict[str, str]:
    """output path -> md5 of a dvc.lock entry."""
    return {
        str(o["path"]): str(o["md5"])
        for o in entry.get("outs") or []
        if isinstance(o, dict) and o.get("path") and o.get("md5")
    }
