"""GitHub Actions workflows from the stage graph (placeholder until the workflow emitter lands)."""

from __future__ import annotations

from llmops.compiler.graph import StageGraph
from llmops.compiler.resolve import Index


def emit_workflows(index: Index, graph: StageGraph) -> dict[str, str]:
    return {}
