"""`monitor-<deployment>`: the scheduled check of a deployment over what its gateway logged
(runners/monitor). A workflow job on a schedule, not a DVC stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmops.compiler.catalog import stage_name
from llmops.compiler.governance import policies_governing
from llmops.compiler.kinds.deployment import Deployment
from llmops.compiler.kinds.policy import MonitoringThreshold
from llmops.compiler.kinds.prompt import Prompt
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import ConfigModel, ModelLocation, Result, Stage, StageConfig


class Threshold(ConfigModel):
    policy: str
    threshold: MonitoringThreshold
    limit: float


class Reference(ConfigModel):
    """The training inputs that input drift is measured against."""

    path: str  # the FineTune's train split
    columns: list[str]  # the prompt's variables


class MonitorInputs(ConfigModel):
    deployment: str
    policies: list[str] = Field(default_factory=list)
    thresholds: list[Threshold] = Field(default_factory=list)
    window_days: int
    feedback_db: Literal["sqlite", "postgresql"]
    reference: Reference | None
    prompt: Result(Prompt) | None
    model: ModelLocation
    # the KnowledgeIndex folder, when the prompt retrieves (absent from the JSON otherwise)
    retrieval_index: str | None = Field(default=None, exclude_if=lambda v: v is None)


class MonitorConfig(StageConfig):
    kind: Literal["monitor"]
    spec: Result(Deployment)
    inputs: MonitorInputs


CONFIG = MonitorConfig


def applying_policies(ctx: BuildContext, sf: SpecFile) -> list[str]:
    """Its `policies`, and those whose `applies_to` names it or its environment (a Policy that
    names nothing gates releases but sets no monitoring thresholds of its own)."""
    spec: Deployment = sf.spec
    governing = policies_governing(
        (p.spec for p in ctx.all("Policy")),
        deployments=[sf.name],
        environments=[spec.environment],
        named=spec.policies,
        unrestricted=False,
    )
    return sorted(p.name for p in governing)


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: Deployment = sf.spec
    if spec.status != "active" or not spec.monitoring.schedule:
        return []
    applying = applying_policies(ctx, sf)
    thresholds = [
        Threshold(policy=name, threshold=key, limit=limit)
        for name in applying
        for key, limit in sorted(ctx.get("Policy", name).spec.monitoring.items())
    ]
    model_dep, _, where = ctx.model_location(spec.model)
    reference = prompt = None
    deps = [model_dep]
    if spec.model.finetune:
        tuned = ctx.get("FineTune", spec.model.finetune).spec
        prompt = ctx.get("Prompt", tuned.prompt).spec
        reference = Reference(
            path=f"{ctx.dataset_dir(tuned.dataset)}/train.jsonl", columns=list(prompt.variables)
        )
        deps.append(ctx.dataset_dir(tuned.dataset))
    if spec.prompt:  # the prompt the gateway renders with; drift still reads the training columns
        prompt = ctx.get("Prompt", spec.prompt).spec
    index_deps, index_dir, _ = ctx.retrieval(prompt)
    deps += index_deps
    name = stage_name("monitor", sf.name)
    return [
        ctx.make(
            "monitor",
            sf,
            spec=spec,
            inputs=MonitorInputs(
                deployment=sf.name,
                policies=applying,
                thresholds=thresholds,
                window_days=spec.monitoring.window_days,
                feedback_db=spec.monitoring.feedback_db,
                reference=reference,
                prompt=prompt,
                model=where,
                retrieval_index=index_dir,
            ),
            deps=deps,  # not a DVC stage: what its job pulls (training data, model) before it runs
            upstream=[stage_name("deploy", sf.name)],
            metrics=[ctx.metrics_file(name)],
            plots=[ctx.plots_dir(name)],
            schedule=spec.monitoring.schedule,
        )
    ]
