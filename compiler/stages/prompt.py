"""`prompt-<name>`: a Prompt rendered over its Dataset's splits (runners/prompt)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.prompt import Prompt
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import ConfigModel, Result, Stage, StageConfig


class PromptInputs(ConfigModel):
    dataset: str  # the Dataset stage's folder of splits
    # the KnowledgeIndex folder, when the prompt retrieves (absent from the JSON otherwise)
    retrieval_index: str | None = Field(default=None, exclude_if=lambda v: v is None)


class PromptConfig(StageConfig):
    kind: Literal["prompt"]
    spec: Result(Prompt)
    inputs: PromptInputs


CONFIG = PromptConfig


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: Prompt = sf.spec
    if not spec.dataset:
        return []  # a prompt with no dataset of its own is rendered by the stages that use it
    ctx.get("Dataset", spec.dataset)
    index_deps, index_dir, index_stage = ctx.retrieval(spec)
    deps = [ctx.dataset_dir(spec.dataset), *index_deps]
    if spec.template_file:
        deps.append(spec.template_file)
    return [
        ctx.make(
            "prompt",
            sf,
            spec=spec,
            inputs=PromptInputs(dataset=ctx.dataset_dir(spec.dataset), retrieval_index=index_dir),
            deps=deps,
            upstream=[stage_name("data", spec.dataset), index_stage],
            outs=[ctx.prompt_dir(sf.name)],
            metrics=[ctx.metrics_file(stage_name("prompt", sf.name))],
        )
    ]
