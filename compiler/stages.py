"""Stages: the units of work each spec becomes, with their inputs, outputs and resolved config.

The resolved config holds only what changes a stage's result (spec fields without free text,
upstream paths, the runner's version). It is written to `.llmops/stages/<stage>.json` and
tracked by DVC as params, so a new description reruns nothing and a new learning rate reruns
exactly the tuning stage and what follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llmops.compiler.parse import SpecFile
from llmops.compiler.plotdefs import EVAL_PLOTS, plot_definitions
from llmops.compiler.resolve import Index
from llmops.compiler.kinds.common import ModelRef, Resources
from llmops.compiler.kinds.finetune import Sweep
from llmops.compiler.stages_ops import OperationsStages
from llmops.runners.versions import RUNNER_VERSIONS

STAGE_CONFIG_DIR = ".llmops/stages"
_GLOB = re.compile(r"[*?\[{]")
# Fields that never change a stage's result: editing them reruns nothing. (`status` decides
# whether a stage exists at all; an active spec's stages do not depend on it.)
_NOT_RESULT_FIELDS = {"description": True, "tags": True, "apiVersion": True, "status": True}
_NOT_RESULT_RESOURCES = {"runner", "labels", "timeout_minutes"}


@dataclass(frozen=True)
class Matrix:
    """Where a sweep trial sits in its sweep. DVC gets all trials of one sweep as one `matrix`
    stage named `group`, and names each trial `<group>@<key>` itself; the compiler names the
    trials the same way, so `llmops run`, `dvc repro` and the workflows agree on every name."""

    group: str
    key: str
    index: int  # place in the sweep's order (DVC's matrix order)
    axes: tuple[tuple[str, tuple[Any, ...]], ...]  # (matrix key, values) in the spec's order
    outs: tuple[str, ...]  # the trial's outputs with `${key}` where its key goes
    metrics: tuple[str, ...]
    plots: tuple[str, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    spec: SpecFile
    config: dict[str, Any]
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    reports: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    runner: str = "cpu"
    runs_on: tuple[str, ...] = ()
    gpus: int = 0
    timeout_minutes: int = 360
    in_pipeline: bool = True
    environment: str | None = None
    schedule: str | None = None
    plot_props: dict[str, dict[str, Any]] = field(default_factory=dict)
    matrix: Matrix | None = None

    @property
    def config_path(self) -> str:
        return f"{STAGE_CONFIG_DIR}/{self.name}.json"


class _Builder(OperationsStages):
    def __init__(self, index: Index) -> None:
        self.index = index
        self.project = index.parsed.project
        self.paths = self.project.paths

    def all(self) -> list[Stage]:
        stages: list[Stage] = []
        for sf in self.index.all("Dataset"):
            stages.append(self.dataset(sf))
        for sf in self.index.all("Prompt"):
            if sf.spec.dataset:
                stages.append(self.prompt(sf))
        for sf in self.index.all("FineTune"):
            if sf.spec.status == "retired":
                continue  # out of the pipeline; its spec (and the audit's record) stay in git
            if sf.spec.base_model.build:
                stages.append(self.base(sf))
            if sf.spec.sweep:
                trials = self.trials(sf)
                stages += [*trials, self.select(sf, trials)]
            else:
                stages.append(self.tune(sf))
        for sf in self.index.all("EvalSuite"):
            stages.append(self.eval(sf))
        for sf in self.index.all("Policy"):
            if sf.spec.review:
                stages.append(self.review(sf))
            stages.append(self.gate(sf))
        for sf in self.index.all("Deployment"):
            if sf.spec.status == "active":
                stages.append(self.deploy(sf))
                if sf.spec.monitoring.schedule:
                    stages.append(self.monitor(sf))
        return stages

    # -- paths every stage agrees on ------------------------------------------------------

    def dataset_dir(self, name: str) -> str:
        return f"{self.paths.artifacts}/datasets/{name}"

    def prompt_dir(self, name: str) -> str:
        return f"{self.paths.artifacts}/prompts/{name}"

    def base_dir(self, finetune: str) -> str:
        return f"{self.paths.artifacts}/base/{finetune}"

    def model_dir(self, finetune: str) -> str:
        return f"{self.paths.artifacts}/models/{finetune}"

    def metrics_file(self, stage: str) -> str:
        return f"{self.paths.metrics}/{stage}.json"

    def trial_outputs(self, finetune: str, key: str) -> dict[str, list[str]]:
        return {
            "outs": [f"{self.paths.artifacts}/sweeps/{finetune}/{key}"],
            "metrics": [f"{self.paths.metrics}/sweeps/{finetune}/{key}.json"],
            "plots": [f"{self.paths.plots}/sweeps/{finetune}/{key}"],
        }

    def model_location(self, ref: ModelRef) -> tuple[str | None, str | None, dict[str, Any]]:
        """(dependency path, upstream stage, runner-facing description) of a model reference."""
        if ref.finetune:
            return (
                self.model_dir(ref.finetune),
                f"tune-{ref.finetune}",
                {"path": self.model_dir(ref.finetune)},
            )
        if ref.base_of:
            base = self.index.get("FineTune", ref.base_of).spec.base_model
            return self.base_model_location(ref.base_of, base)
        if ref.deployment:
            return None, None, {"deployment": ref.deployment}
        if ref.path:
            return ref.path, None, {"path": ref.path}
        return None, None, {"hub": ref.hub, "revision": ref.revision}

    def base_model_location(self, finetune: str, base: Any) -> tuple[str | None, str | None, dict[str, Any]]:
        if base.build:
            return self.base_dir(finetune), f"base-{finetune}", {"path": self.base_dir(finetune)}
        if base.finetune:
            return (
                self.model_dir(base.finetune),
                f"tune-{base.finetune}",
                {"path": self.model_dir(base.finetune)},
            )
        if base.path:
            return base.path, None, {"path": base.path}
        return None, None, {"hub": base.hub, "revision": base.revision}

    # -- one method per stage kind -------------------------------------------------------

    def make(self, kind: str, sf: SpecFile, *, name: str | None = None, **kw: Any) -> Stage:
        name = name or f"{kind}-{sf.name}"
        spec = sf.spec
        resources: Resources | None = kw.pop("resources", None) or getattr(spec, "resources", None)
        runner = resources.runner_class if resources else "cpu"
        labels = self.labels(resources, runner)
        outputs = {
            "outs": list(kw.get("outs", ())),
            "metrics": list(kw.get("metrics", ())),
            "plots": list(kw.get("plots", ())),
            "reports": list(kw.get("reports", ())),
        }
        config = {
            "stage": name,
            "kind": kind,
            "runner_version": RUNNER_VERSIONS[kind],
            "spec": kw.pop("spec_fields", None) or _result_fields(spec),
            "inputs": kw.pop("inputs", {}),
            "outputs": outputs,
        }
        deps = tuple(sorted({d for d in kw.pop("deps", ()) if d}))
        upstream = tuple(sorted(set(u for u in kw.pop("upstream", ()) if u)))
        return Stage(
            name=name,
            kind=kind,
            spec=sf,
            config=config,
            deps=deps,
            upstream=upstream,
            runner=runner,
            runs_on=labels,
            gpus=resources.gpus if resources else 0,
            timeout_minutes=resources.timeout_minutes if resources else 360,
            **{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()},
        )

    def labels(self, resources: Resources | None, runner: str) -> tuple[str, ...]:
        """`runs-on`: explicit labels, else multi-GPU labels for gpus > 1, else the runner class's."""
        runners = self.project.defaults.runners
        if resources and resources.labels:
            return tuple(resources.labels)
        if runner == "gpu" and resources and resources.gpus > 1 and runners.multi_gpu:
            return tuple(runners.multi_gpu)
        return tuple(getattr(runners, runner))

    def dataset(self, sf: SpecFile) -> Stage:
        deps, upstream, datasets = [], [], {}
        for src in sf.spec.sources:
            if src.path:
                deps.append(_glob_root(src.path))
            elif src.dataset:
                deps.append(self.dataset_dir(src.dataset))
                upstream.append(f"data-{src.dataset}")
                datasets[src.dataset] = self.dataset_dir(src.dataset)
            elif src.huggingface and src.huggingface.path:
                deps.append(src.huggingface.path)
        if sf.spec.labels and sf.spec.labels.join:
            deps.append(sf.spec.labels.join)
        seed = sf.spec.split.seed if sf.spec.split.seed is not None else self.project.defaults.seed
        plots = {
            path: {k: v for k, v in props.items() if k != "cache"}
            for entry in plot_definitions(f"{self.paths.plots}/data-{sf.name}")
            for path, props in entry.items()
        }
        stage = self.make(
            "data",
            sf,
            deps=deps,
            upstream=upstream,
            inputs={"datasets": datasets, "seed": seed},
            outs=[self.dataset_dir(sf.name)],
            metrics=[self.metrics_file(f"data-{sf.name}")],
            plots=list(plots),
            plot_props=plots,
            reports=[f"{self.paths.reports}/data-{sf.name}.md"],
        )
        return stage

    def prompt(self, sf: SpecFile) -> Stage:
        deps = [self.dataset_dir(sf.spec.dataset)]
        if sf.spec.template_file:
            deps.append(sf.spec.template_file)
        return self.make(
            "prompt",
            sf,
            deps=deps,
            upstream=[f"data-{sf.spec.dataset}"],
            inputs={"dataset": self.dataset_dir(sf.spec.dataset)},
            outs=[self.prompt_dir(sf.name)],
            metrics=[self.metrics_file(f"prompt-{sf.name}")],
        )

    def base(self, sf: SpecFile) -> Stage:
        build = sf.spec.base_model.build
        data = self.dataset_dir(build.tokenizer_dataset)
        return self.make(
            "base",
            sf,
            spec_fields={"name": sf.name, "base_model": sf.spec.base_model.model_dump(mode="json")},
            deps=[data],
            upstream=[f"data-{build.tokenizer_dataset}"],
            inputs={"dataset": data, "seed": self.seed(sf.spec.training.seed)},
            outs=[self.base_dir(sf.name)],
            metrics=[self.metrics_file(f"base-{sf.name}")],
        )

    def tune(self, sf: SpecFile) -> Stage:
        return self.make(
            "tune",
            sf,
            **self.tune_inputs(sf, sf.spec),
            outs=[self.model_dir(sf.name)],
            metrics=[self.metrics_file(f"tune-{sf.name}")],
            plots=[f"{self.paths.plots}/tune-{sf.name}"],
        )

    def tune_inputs(self, sf: SpecFile, spec: Any) -> dict[str, Any]:
        """deps, upstream and inputs of a tuning run (a plain tune stage or one sweep trial)."""
        base_dep, base_stage, base = self.base_model_location(sf.name, spec.base_model)
        prompt = self.index.get("Prompt", spec.prompt)
        deps = [self.dataset_dir(spec.dataset), base_dep]
        upstream = [f"data-{spec.dataset}", base_stage]
        examples = None
        if prompt.spec.dataset == spec.dataset:
            # the prompt stage rendered this very dataset; otherwise the runner renders it itself
            examples = self.prompt_dir(prompt.name)
            deps.append(examples)
            upstream.append(f"prompt-{prompt.name}")
        elif prompt.spec.template_file:
            deps.append(prompt.spec.template_file)
        return {
            "deps": deps,
            "upstream": upstream,
            "inputs": {
                "dataset": self.dataset_dir(spec.dataset),
                "examples": examples,
                "prompt": _result_fields(prompt.spec),
                "base_model": base,
                "seed": self.seed(spec.training.seed),
            },
        }

    def trials(self, sf: SpecFile) -> list[Stage]:
        """One tune stage per combination of a sweep, named as DVC names `matrix` stages."""
        sweep = sf.spec.sweep
        group = f"trial-{sf.name}"
        axes = tuple(
            (key, tuple(values))
            for key, values in zip(_axis_keys(list(sweep.parameters)), sweep.parameters.values(), strict=True)
        )
        templated = {k: tuple(v) for k, v in self.trial_outputs(sf.name, "${key}").items()}
        stages = []
        for index, (key, params) in enumerate(sweep.trials()):
            spec = Sweep.apply(sf.spec, params)
            parts = self.tune_inputs(sf, spec)
            parts["inputs"]["trial"] = params
            fields = _result_fields(spec)  # `sweep: null`: a new value reruns only its own trial
            matrix = Matrix(group, key, index, axes, **templated)
            stages.append(
                self.make(
                    "tune",
                    sf,
                    name=f"{group}@{key}",
                    spec_fields=fields,
                    **parts,
                    **self.trial_outputs(sf.name, key),
                    matrix=matrix,
                )
            )
        return stages

    def select(self, sf: SpecFile, trials: list[Stage]) -> Stage:
        """`tune-<name>` of a sweep: copies the best trial's model where a plain tune stage writes."""
        sweep = sf.spec.sweep
        entries = [
            {
                "name": t.name,
                "params": t.config["inputs"]["trial"],
                "model": t.outs[0],
                "metrics": t.metrics[0],
            }
            for t in trials
        ]
        return self.make(
            "select",
            sf,
            name=f"tune-{sf.name}",
            resources=Resources(timeout_minutes=sf.spec.resources.timeout_minutes),
            deps=[path for t in trials for path in (*t.outs, *t.metrics)],
            upstream=[t.name for t in trials],
            inputs={"trials": entries, "metric": sweep.metric, "goal": sweep.goal},
            outs=[self.model_dir(sf.name)],
            metrics=[self.metrics_file(f"tune-{sf.name}")],
            reports=[f"{self.paths.reports}/sweep-{sf.name}.md"],
        )

    def eval(self, sf: SpecFile) -> Stage:
        spec = sf.spec
        deps = [self.dataset_dir(spec.dataset)]
        upstream = [f"data-{spec.dataset}"]
        models: dict[str, list[dict[str, Any]]] = {"models": [], "baselines": []}
        for group in ("models", "baselines"):
            for ref in getattr(spec, group):
                dep, stage, where = self.model_location(ref)
                deps.append(dep)
                upstream.append(stage)
                models[group].append({"label": ref.label, **where})
        prompt = self.index.get("Prompt", spec.prompt)
        if prompt.spec.template_file:
            deps.append(prompt.spec.template_file)
        eval_plots = {
            path: {k: v for k, v in props.items() if k != "cache"}
            for entry in plot_definitions(f"{self.paths.plots}/eval-{sf.name}", EVAL_PLOTS)
            for path, props in entry.items()
        }
        return self.make(
            "eval",
            sf,
            deps=deps,
            upstream=upstream,
            inputs={
                "dataset": self.dataset_dir(spec.dataset),
                "prompt": _result_fields(prompt.spec),
                "seed": self.seed(spec.generation.seed),
                **models,
            },
            outs=[f"{self.paths.artifacts}/evals/{sf.name}"],
            metrics=[self.metrics_file(f"eval-{sf.name}")],
            plots=list(eval_plots),
            plot_props=eval_plots,
            reports=[f"{self.paths.reports}/eval-{sf.name}.md"],
        )

    def result_fields(self, spec: Any) -> dict[str, Any]:
        return _result_fields(spec)

    def seed(self, value: int | None) -> int:
        return value if value is not None else self.project.defaults.seed


def build_stages(index: Index) -> list[Stage]:
    return _Builder(index).all()


def _result_fields(spec: Any) -> dict[str, Any]:
    data = spec.model_dump(mode="json", exclude=_NOT_RESULT_FIELDS)
    if isinstance(data.get("resources"), dict):
        for key in _NOT_RESULT_RESOURCES:
            data["resources"].pop(key, None)
    return data


def _axis_keys(paths: list[str]) -> list[str]:
    """Matrix keys for swept paths: the field name (`lr`), or `training_lr` where two would clash."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return [
        name if last.count(name) == 1 else path.replace(".", "_")
        for name, path in zip(last, paths, strict=True)
    ]


def _glob_root(path: str) -> str:
    """The folder to depend on for a glob (DVC deps are paths, not patterns)."""
    if not _GLOB.search(path):
        return path
    parts = []
    for part in path.split("/"):
        if _GLOB.search(part):
            break
        parts.append(part)
    return "/".join(parts) or "."
