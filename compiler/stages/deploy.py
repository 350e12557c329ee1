"""`deploy-<deployment>`: serve, smoke-test, switch, blue/green (runners/deploy).

It declares no outputs: what it leaves is machine state (the live record and engine logs under
`.llmops/serve/<name>/`), which must never be committed or cached; `deploy/<name>/` holds the
GitOps manifests, which `llmops compile` writes from the specs, not this stage. It is a workflow
job on the main branch, not a DVC stage, and it acts only for an approved merge.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.deployment import Deployment
from llmops.compiler.kinds.prompt import Prompt
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import ConfigModel, ModelLocation, Result, Stage, StageConfig


class DeployInputs(ConfigModel):
    model: ModelLocation
    policies: list[str] = Field(default_factory=list)
    # the Prompt the gateway renders with (`Deployment.prompt`) and, when it retrieves, the
    # KnowledgeIndex folder; both absent from the JSON when unset
    prompt: Result(Prompt) | None = Field(default=None, exclude_if=lambda v: v is None)
    retrieval_index: str | None = Field(default=None, exclude_if=lambda v: v is None)


class DeployConfig(StageConfig):
    kind: Literal["deploy"]
    spec: Result(Deployment)
    inputs: DeployInputs


CONFIG = DeployConfig


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: Deployment = sf.spec
    if spec.status != "active":
        return []
    dep, stage, where = ctx.model_location(spec.model)
    for policy in spec.policies:
        ctx.get("Policy", policy)
    prompt = ctx.get("Prompt", spec.prompt).spec if spec.prompt else None
    index_deps, index_dir, index_stage = ctx.retrieval(prompt)
    return [
        ctx.make(
            "deploy",
            sf,
            spec=spec,
            inputs=DeployInputs(
                model=where, policies=list(spec.policies), prompt=prompt, retrieval_index=index_dir
            ),
            deps=[
                dep,
                *(_bases_served_under(ctx, spec.model.finetune) if spec.model.finetune else []),
                *index_deps,
            ],
            upstream=[stage, index_stage] + [stage_name("gate", p) for p in spec.policies],
            environment=spec.environment,
        )
    ]


def _bases_served_under(ctx: BuildContext, finetune: str) -> list[str]:
    """The project folders an adapter is served on top of: its base and, while that base is
    itself an adapter, the base below it. The deploy job pulls them with the adapter, and the
    deploy stage checks each against dvc.lock before serving."""
    found: list[str] = []
    seen: set[str] = set()
    spec = ctx.get("FineTune", finetune).spec
    while spec.method.type != "full" and spec.name not in seen:
        seen.add(spec.name)
        path, _, _ = ctx.base_model_location(spec.name, spec.base_model)
        if path:
            found.append(path)
        if not spec.base_model.finetune:
            break
        spec = ctx.get("FineTune", spec.base_model.finetune).spec
    return found
