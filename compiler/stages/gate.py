"""`gate-<policy>`: a Policy's rules over the results of the suites they name and of its
review (runners/gate); in CI a failed gate fails the pull request's check."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.policy import Policy
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import ConfigModel, Result, Stage, StageConfig


class GateInputs(ConfigModel):
    results: list[str] = Field(default_factory=list)  # the metrics files the rules read


class GateConfig(StageConfig):
    kind: Literal["gate"]
    spec: Result(Policy)
    inputs: GateInputs


CONFIG = GateConfig


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: Policy = sf.spec
    suites = sorted({r.suite for r in spec.rules if r.suite})
    for suite in suites:
        ctx.get("EvalSuite", suite)
    deps = [ctx.metrics_file(stage_name("eval", s)) for s in suites]
    upstream = [stage_name("eval", s) for s in suites]
    if spec.review:
        deps.append(ctx.metrics_file(stage_name("review", sf.name)))
        upstream.append(stage_name("review", sf.name))
    return [
        ctx.make(
            "gate",
            sf,
            spec=spec,
            inputs=GateInputs(results=deps),
            deps=deps,
            upstream=upstream,
            metrics=[ctx.metrics_file(stage_name("gate", sf.name))],
        )
    ]
