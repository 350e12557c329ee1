"""Which runner runs which stage kind. Runners import lazily: each may pull in heavy
libraries (torch, transformers, vllm) that `llmops --help` must never pay for."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from llmops.errors import UsageError

RUNNERS: dict[str, str] = {
    "data": "llmops.runners.data.run",
    "prompt": "llmops.runners.prompt.run",
    "base": "llmops.runners.base.run",
    "tune": "llmops.runners.tune.run",
    "eval": "llmops.runners.eval.run",
    "select": "llmops.runners.select.run",
    "review": "llmops.runners.review.run",
    "gate": "llmops.runners.gate.run",
    "deploy": "llmops.runners.deploy.run",
    "monitor": "llmops.runners.monitor.run",
}

ARRIVES_WITH: dict[str, str] = {}


class Runner(Protocol):
    def __call__(self, config: dict[str, Any], root: Path) -> None: ...


def runner_for(kind: str) -> Runner:
    module = RUNNERS.get(kind)
    if module is None:
        later = ARRIVES_WITH.get(kind)
        detail = f"; it arrives with {later}" if later else ""
        raise UsageError(f"this llmops has no runner for {kind} stages yet{detail}")
    return importlib.import_module(module).run  # type: ignore[no-any-return]
