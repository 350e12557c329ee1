"""`eval-<suite>`: an EvalSuite's models and baselines scored on a held-out split
(runners/eval)."""

from __future__ import annotations

from typing import Literal

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.evalsuite import EvalSuite
from llmops.compiler.kinds.prompt import Prompt
from llmops.compiler.parse import SpecFile
from llmops.compiler.plotdefs import EVAL_PLOTS
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import (
    ConfigModel,
    DeploymentModel,
    HubModel,
    ModelLocation,
    PathModel,
    Result,
    Stage,
    StageConfig,
)


class LabeledPath(PathModel):
    label: str  # the model's name in the results (`ModelRef.label`)


class LabeledHub(HubModel):
    label: str


class LabeledDeployment(DeploymentModel):
    label: str


LabeledModel = LabeledPath | LabeledHub | LabeledDeployment


class EvalInputs(ConfigModel):
    dataset: str
    prompt: Result(Prompt)
    seed: int
    models: list[LabeledModel]
    baselines: list[LabeledModel]


class EvalConfig(StageConfig):
    kind: Literal["eval"]
    spec: Result(EvalSuite)
    inputs: EvalInputs


CONFIG = EvalConfig
_LABELED: dict[type, type] = {
    PathModel: LabeledPath,
    HubModel: LabeledHub,
    DeploymentModel: LabeledDeployment,
}


def labeled(where: ModelLocation, label: str) -> LabeledModel:
    return _LABELED[type(where)](**where.model_dump(), label=label)  # type: ignore[no-any-return]


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: EvalSuite = sf.spec
    ctx.get("Dataset", spec.dataset)
    deps = [ctx.dataset_dir(spec.dataset)]
    upstream = [stage_name("data", spec.dataset)]
    groups: dict[str, list[LabeledModel]] = {"models": [], "baselines": []}
    for group, refs in (("models", spec.models), ("baselines", spec.baselines)):
        for ref in refs:
            dep, stage, where = ctx.model_location(ref)
            deps.append(dep)
            upstream.append(stage)
            groups[group].append(labeled(where, ref.label))
    prompt = ctx.get("Prompt", spec.prompt)
    if prompt.spec.template_file:
        deps.append(prompt.spec.template_file)
    name = stage_name("eval", sf.name)
    plots = ctx.plot_props(name, EVAL_PLOTS)
    return [
        ctx.make(
            "eval",
            sf,
            spec=spec,
            inputs=EvalInputs(
                dataset=ctx.dataset_dir(spec.dataset),
                prompt=prompt.spec,
                seed=ctx.seed(spec.generation.seed),
                **groups,
            ),
            deps=deps,
            upstream=upstream,
            outs=[f"{ctx.paths.artifacts}/evals/{sf.name}"],
            metrics=[ctx.metrics_file(name)],
            plots=list(plots),
            plot_props=plots,
            reports=[ctx.report_file(name)],
        )
    ]
