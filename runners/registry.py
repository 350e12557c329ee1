"""The runner registry: a stage's JSON config -> its typed config -> its runner.

The catalog (`compiler/catalog.py`) names each kind's config model and runner module; this
validates a config once, against that model, and calls `run(config, root)`. Runners import
lazily: each may pull in heavy libraries (torch, transformers, vllm) that `llmops --help` must
never pay for, and a stage imports only its own runner.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from llmops.compiler.catalog import KINDS
from llmops.compiler.stages.model import StageConfig
from llmops.errors import UsageError
from llmops.paths import inside_all


class Runner(Protocol):
    def __call__(self, config: Any, root: Path) -> None: ...


def runner_for(kind: str) -> Runner:
    row = KINDS.get(kind)
    if row is None:
        raise UsageError(f"this llmops has no runner for {kind} stages")
    return importlib.import_module(row.runner).run  # type: ignore[no-any-return]


def typed_config(data: dict[str, Any], *, where: str = "stage config") -> StageConfig:
    """Validate a stage config (as `llmops compile` wrote it) into its kind's model."""
    body = {k: v for k, v in data.items() if k != "//"}
    kind = body.get("kind")
    row = KINDS.get(kind) if isinstance(kind, str) else None
    if row is None:
        raise UsageError(f"{where}: unknown stage kind {kind!r}; run `llmops compile`")
    try:
        return row.config_model().model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise UsageError(
            f"{where}: not a valid {kind} stage config ({loc}: {first['msg']}); run `llmops compile`"
        ) from None


def check_outputs(config: StageConfig, root: Path) -> None:
    """Refuse, before a stage writes anything, an output that would land outside the project:
    `artifacts/` (or `metrics/`, a report folder...) symlinked elsewhere would make the stage
    write there (`llmops.paths.PathOutsideProject`, exit 2)."""
    outputs = config.outputs
    inside_all(root, [*outputs.outs, *outputs.metrics, *outputs.plots, *outputs.reports], "output")


def run_stage(config: StageConfig | dict[str, Any], root: Path) -> None:
    """Run one stage from its config (typed, or the JSON data `llmops compile` wrote)."""
    typed = config if isinstance(config, StageConfig) else typed_config(config)
    check_outputs(typed, root)
    runner_for(typed.kind)(typed, root)
