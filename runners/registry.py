"""Which runner runs which stage kind. Runners import lazily: each may pull in heavy
libraries (torch, transformers, vllm) that `llmops --help` must never pay for."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from llmops.errors import UsageError

RUNNERS: dict[str, str] = {
    "data": "llmops.runners.dataset.run",
}

ARRIVES_WITH = {
    "prompt": "the prompts and fine-tuning issue (#4)",
    "base": "the prompts and fine-tuning issue (#4)",
    "tune": "the prompts and fine-tuning issue (#4)",
    "eval": "the evaluation issue (#5)",
    "review": "the governance issue (#6)",
    "gate": "the governance issue (#6)",
    "deploy": "the deployment issue (#7)",
    "monitor": "the deployment issue (#7)",
}


class Runner(Protocol):
    def __call__(self, config: dict[str, Any], root: Path) -> None: ...


def runner_for(kind: str) -> Runner:
    module = RUNNERS.get(kind)
    if module is None:
        later = ARRIVES_WITH.get(kind)
        detail = f"; it arrives with {later}" if later else ""
        raise UsageError(f"this llmops has no runner for {kind} stages yet{detail}")
    return importlib.import_module(module).run  # type: ignore[no-any-return]
