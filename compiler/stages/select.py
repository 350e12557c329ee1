"""`tune-<finetune>` of a sweep: copies the best trial's model where a plain tune stage writes
(runners/select), so everything downstream names one model whatever the sweep found."""

from __future__ import annotations

from typing import Any, Literal

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.common import Resources
from llmops.compiler.kinds.finetune import FineTune
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import ConfigModel, Result, Stage, StageConfig
from llmops.compiler.stages.tune import trials


class Trial(ConfigModel):
    name: str
    params: dict[str, Any]
    model: str  # the trial's model folder
    metrics: str  # the trial's metrics file


class SelectInputs(ConfigModel):
    trials: list[Trial]
    metric: str
    goal: Literal["minimize", "maximize"]


class SelectConfig(StageConfig):
    kind: Literal["select"]
    spec: Result(FineTune)
    inputs: SelectInputs


CONFIG = SelectConfig


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: FineTune = sf.spec
    if spec.status != "active" or not spec.sweep:
        return []
    runs = trials(ctx, sf)
    entries = [
        Trial(name=t.name, params=t.config.inputs.trial, model=t.outs[0], metrics=t.metrics[0])  # type: ignore[union-attr]
        for t in runs
    ]
    name = stage_name("select", sf.name)
    return [
        ctx.make(
            "select",
            sf,
            name=name,
            spec=spec,
            inputs=SelectInputs(trials=entries, metric=spec.sweep.metric, goal=spec.sweep.goal),
            resources=Resources(timeout_minutes=spec.resources.timeout_minutes),
            deps=[path for t in runs for path in (*t.outs, *t.metrics)],
            upstream=[t.name for t in runs],
            outs=[ctx.model_dir(sf.name)],
            metrics=[ctx.metrics_file(name)],
            reports=[ctx.report_file(f"sweep-{sf.name}")],
        )
    ]
