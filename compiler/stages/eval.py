"""`eval-<suite>`: an EvalSuite's models and baselines scored on a held-out split
(runners/eval).

Every file the stage reads is a dependency, so DVC reruns it when one changes: the dataset, the
models, the prompt's template file, and the Python a custom metric (`module.path:function`)
loads from the project. That module is found the way Python imports it with the project root
first on `sys.path`, without importing it (the compiler runs no project code):
`evals.checks:score` is the package folder `evals/checks/` when `evals/checks/__init__.py`
exists (a package wins over a module of the same name, as in Python), else the module file
`evals/checks.py`; each parent package's `__init__.py` runs on import too. A module found in
neither place is a spec error at the metric's line. Specs parsed without the project's files
(`ParsedProject.is_file` is None) take the module file, the usual case, unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.evalsuite import JUDGE_VARIABLES, EvalSuite
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
from llmops.errors import Diagnostic, SpecError


class LabeledPath(PathModel):
    label: str  # the model's name in the results (`ModelRef.label`)


class LabeledHub(HubModel):
    label: str


class LabeledDeployment(DeploymentModel):
    label: str


LabeledModel = LabeledPath | LabeledHub | LabeledDeployment


class EvalInputs(ConfigModel):
    # the split's Dataset folder and the Prompt: set when the suite has `metrics` (harness-only
    # suites have neither, and the JSON leaves them out)
    dataset: str | None = Field(default=None, exclude_if=lambda v: v is None)
    prompt: Result(Prompt) | None = Field(default=None, exclude_if=lambda v: v is None)
    seed: int
    models: list[LabeledModel]
    baselines: list[LabeledModel]
    # the KnowledgeIndex folder, when the prompt retrieves (absent from the JSON otherwise)
    retrieval_index: str | None = Field(default=None, exclude_if=lambda v: v is None)
    # the judged metrics' judge: its Prompt per judged metric, and its model when it is a local one
    # (absent otherwise)
    judge_prompts: dict[str, Result(Prompt)] = Field(default_factory=dict, exclude_if=lambda v: not v)
    judge_model: LabeledModel | None = Field(default=None, exclude_if=lambda v: v is None)


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
    deps: list[str | None] = []
    upstream: list[str | None] = []
    if spec.dataset is not None:
        ctx.get("Dataset", spec.dataset)
        deps.append(ctx.dataset_dir(spec.dataset))
        upstream.append(stage_name("data", spec.dataset))
    groups: dict[str, list[LabeledModel]] = {"models": [], "baselines": []}
    for group, refs in (("models", spec.models), ("baselines", spec.baselines)):
        for ref in refs:
            dep, stage, where = ctx.model_location(ref)
            deps.append(dep)
            upstream.append(stage)
            groups[group].append(labeled(where, ref.label))
    prompt = ctx.get("Prompt", spec.prompt) if spec.prompt is not None else None
    index_dir = None
    if prompt is not None:
        if prompt.spec.template_file:
            deps.append(prompt.spec.template_file)
        index_deps, index_dir, index_stage = ctx.retrieval(prompt.spec)
        deps += index_deps
        upstream.append(index_stage)
    if spec.harness is not None and spec.harness.include_path:
        deps.append(spec.harness.include_path)  # the local task YAMLs and their data files
    deps += metric_files(ctx, sf)
    judge_prompts, judge_model = judge_inputs(ctx, sf, deps, upstream)
    name = stage_name("eval", sf.name)
    plots = ctx.plot_props(name, EVAL_PLOTS)
    return [
        ctx.make(
            "eval",
            sf,
            spec=spec,
            inputs=EvalInputs(
                dataset=ctx.dataset_dir(spec.dataset) if spec.dataset is not None else None,
                prompt=prompt.spec if prompt is not None else None,
                seed=ctx.seed(spec.generation.seed),
                **groups,
                retrieval_index=index_dir,
                judge_prompts=judge_prompts,
                judge_model=judge_model,
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


def judge_inputs(
    ctx: BuildContext, sf: SpecFile, deps: list, upstream: list
) -> tuple[dict[str, Prompt], LabeledModel | None]:
    """The judge's Prompt per judged metric and its local model (adding their files and stages to
    deps/upstream). A judge prompt must declare the variables its metric fills: a spec error at
    `judge.prompt` (or `judge.rubric_prompt`)."""
    spec: EvalSuite = sf.spec
    if spec.judge is None:
        return {}, None
    prompts: dict[str, Prompt] = {}
    for metric in spec.metrics or []:
        if metric.name not in JUDGE_VARIABLES:
            continue
        field = "rubric_prompt" if metric.name == "judge_rubric" and spec.judge.rubric_prompt else "prompt"
        prompt = ctx.get("Prompt", getattr(spec.judge, field)).spec
        missing = [v for v in JUDGE_VARIABLES[metric.name] if v not in prompt.variables]
        if missing:
            raise SpecError(
                [
                    sf.at(
                        "judge",
                        field,
                        message=f"metric {metric.name} fills the judge prompt's variables "
                        f"{', '.join(JUDGE_VARIABLES[metric.name])}, but Prompt '{prompt.name}' "
                        f"does not declare {', '.join(missing)}",
                        hint=f"add {', '.join(missing)} to the Prompt's `variables` (and its template)"
                        + ("" if field == "rubric_prompt" else "; judge_rubric may have a rubric_prompt"),
                    )
                ]
            )
        if prompt.template_file:
            deps.append(prompt.template_file)
        prompts[metric.name] = prompt
    model = None
    if spec.judge.model is not None:
        dep, stage, where = ctx.model_location(spec.judge.model)
        deps.append(dep)
        upstream.append(stage)
        model = labeled(where, spec.judge.model.label)
    return prompts, model


def metric_files(ctx: BuildContext, sf: SpecFile) -> list[str]:
    """The project files the suite's custom metrics load (see the module docstring)."""
    found: list[str] = []
    errors: list[Diagnostic] = []
    for i, metric in enumerate(sf.spec.metrics):
        if metric.name != "custom" or not metric.callable:
            continue
        files = module_files(metric.callable.partition(":")[0], ctx.has_file)
        if files is None:
            errors.append(_missing_module(sf, i, metric.callable))
        else:
            found += files
    if errors:
        raise SpecError(errors)
    return list(dict.fromkeys(found))


def module_files(module: str, has_file: Callable[[str], bool | None]) -> list[str] | None:
    """What importing `module` from the project root loads: its parent packages' `__init__.py`
    files and then the package folder or the module file; None when the project has neither."""
    parts = module.split(".")
    where = "/".join(parts)
    parents = [f"{'/'.join(parts[:n])}/__init__.py" for n in range(1, len(parts))]
    if has_file(f"{where}/__init__.py"):
        own = where
    elif has_file(f"{where}.py") is not False:  # True, or None: no probe, take the module file
        own = f"{where}.py"
    else:
        return None
    return [p for p in parents if has_file(p)] + [own]


def _missing_module(sf: SpecFile, index: int, target: str) -> Diagnostic:
    module, _, function = target.partition(":")
    where = module.replace(".", "/")
    return sf.at(
        "metrics",
        index,
        "callable",
        message=f"custom metric {target}: the project has no module {module} "
        f"(neither {where}.py nor {where}/__init__.py)",
        hint=f"define `{function}` in {where}.py (from the folder of llmops.yaml), or correct `callable`",
    )
