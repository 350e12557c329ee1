"""`review-<policy>`: the bias, security, leakage and licence review of the models a Policy
guards (runners/review); it exists when the Policy has a `review:` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.policy import Policy
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import ConfigModel, Result, Stage, StageConfig


class ReviewInputs(ConfigModel):
    models: dict[str, str] = Field(default_factory=dict)  # FineTune name -> its model folder


class ReviewConfig(StageConfig):
    kind: Literal["review"]
    spec: Result(Policy)
    inputs: ReviewInputs


CONFIG = ReviewConfig


def guarded_models(ctx: BuildContext, policy: Policy) -> list[str]:
    """The active FineTunes a Policy guards: those it names, and those its Deployments serve."""
    names = {n for n in policy.applies_to.finetunes if ctx.get("FineTune", n).spec.status == "active"}
    for dep_name in policy.applies_to.deployments:
        deployment = ctx.get("Deployment", dep_name).spec
        if deployment.model.finetune and deployment.status == "active":
            names.add(deployment.model.finetune)
    return sorted(names)


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: Policy = sf.spec
    if not spec.review:
        return []
    models = guarded_models(ctx, spec)
    return [
        ctx.make(
            "review",
            sf,
            spec=spec,
            inputs=ReviewInputs(models={m: ctx.model_dir(m) for m in models}),
            deps=[ctx.model_dir(m) for m in models] + list(spec.review.security_probes),
            upstream=[stage_name("tune", m) for m in models],
            outs=[f"{ctx.paths.artifacts}/reviews/{sf.name}"],
            metrics=[ctx.metrics_file(stage_name("review", sf.name))],
        )
    ]
