"""`tune-<finetune>`: fine-tuning (runners/tune); with a sweep, one trial stage per combination,
`trial-<finetune>@<key>`, which DVC runs as one `matrix` stage (the select stage then takes the
`tune-<finetune>` name)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from llmops.compiler.catalog import stage_name, trial_group
from llmops.compiler.kinds.finetune import FineTune, Sweep
from llmops.compiler.kinds.prompt import Prompt
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import ConfigModel, Matrix, ModelLocation, Result, Stage, StageConfig


class TuneInputs(ConfigModel):
    dataset: str
    examples: str | None  # the prompt stage's rendered examples, when it rendered this dataset
    prompt: Result(Prompt)
    base_model: ModelLocation
    seed: int
    trial: dict[str, Any] | None = Field(default=None, exclude_if=lambda v: v is None)
    # the KnowledgeIndex folder, when the prompt retrieves (absent from the JSON otherwise)
    retrieval_index: str | None = Field(default=None, exclude_if=lambda v: v is None)


class TuneConfig(StageConfig):
    kind: Literal["tune"]
    spec: Result(FineTune)
    inputs: TuneInputs


CONFIG = TuneConfig


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: FineTune = sf.spec
    if spec.status != "active":
        return []  # retired: out of the pipeline; its spec (and the audit's record) stay in git
    if spec.sweep:
        return trials(ctx, sf)
    name = stage_name("tune", sf.name)
    deps, upstream, inputs = tune_inputs(ctx, sf, spec)
    return [
        ctx.make(
            "tune",
            sf,
            spec=spec,
            inputs=inputs,
            deps=deps,
            upstream=upstream,
            outs=[ctx.model_dir(sf.name)],
            metrics=[ctx.metrics_file(name)],
            plots=[ctx.plots_dir(name)],
        )
    ]


def tune_inputs(
    ctx: BuildContext, sf: SpecFile, spec: FineTune, trial: Any = None
) -> tuple[list, list, TuneInputs]:
    """deps, upstream and inputs of a tuning run (a plain tune stage or one sweep trial)."""
    base_dep, base_stage, base = ctx.base_model_location(sf.name, spec.base_model)
    prompt = ctx.get("Prompt", spec.prompt)
    ctx.get("Dataset", spec.dataset)
    deps = [ctx.dataset_dir(spec.dataset), base_dep]
    upstream = [stage_name("data", spec.dataset), base_stage]
    examples = None
    if prompt.spec.dataset == spec.dataset and not spec.objective.preference:
        # the prompt stage rendered this very dataset; otherwise the runner renders it itself
        # (always for a preference objective: the rendered examples hold no chosen/rejected)
        examples = ctx.prompt_dir(prompt.name)
        deps.append(examples)
        upstream.append(stage_name("prompt", prompt.name))
    elif prompt.spec.template_file:
        deps.append(prompt.spec.template_file)
    index_deps, index_dir, index_stage = ctx.retrieval(prompt.spec)
    deps += index_deps
    upstream.append(index_stage)
    inputs = TuneInputs(
        dataset=ctx.dataset_dir(spec.dataset),
        examples=examples,
        prompt=prompt.spec,
        base_model=base,
        seed=ctx.seed(spec.training.seed),
        trial=trial,
        retrieval_index=index_dir,
    )
    return deps, upstream, inputs


def trial_outputs(ctx: BuildContext, finetune: str, key: str) -> dict[str, list[str]]:
    return {
        "outs": [f"{ctx.paths.artifacts}/sweeps/{finetune}/{key}"],
        "metrics": [f"{ctx.paths.metrics}/sweeps/{finetune}/{key}.json"],
        "plots": [f"{ctx.paths.plots}/sweeps/{finetune}/{key}"],
    }


def trials(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    """One tune stage per combination of a sweep, named as DVC names `matrix` stages (built
    once per FineTune: the select stage reads them back from the context)."""
    if ("trials", sf.name) in ctx.memo:
        return ctx.memo[("trials", sf.name)]
    sweep = sf.spec.sweep
    group = trial_group(sf.name)
    axes = tuple(
        (key, tuple(values))
        for key, values in zip(axis_keys(list(sweep.parameters)), sweep.parameters.values(), strict=True)
    )
    templated = {k: tuple(v) for k, v in trial_outputs(ctx, sf.name, "${key}").items()}
    stages = []
    for index, (key, params) in enumerate(sweep.trials()):
        spec = Sweep.apply(sf.spec, params)  # `sweep: null`: a new value reruns only its own trial
        deps, upstream, inputs = tune_inputs(ctx, sf, spec, trial=params)
        stages.append(
            ctx.make(
                "tune",
                sf,
                name=f"{group}@{key}",
                spec=spec,
                inputs=inputs,
                deps=deps,
                upstream=upstream,
                **trial_outputs(ctx, sf.name, key),
                matrix=Matrix(group, key, index, axes, **templated),
            )
        )
    ctx.memo[("trials", sf.name)] = stages
    return stages


def axis_keys(paths: list[str]) -> list[str]:
    """Matrix keys for swept paths: the field name (`lr`), or `training_lr` where two would clash."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return [
        name if last.count(name) == 1 else path.replace(".", "_")
        for name, path in zip(last, paths, strict=True)
    ]
