"""What every stage builder shares: where outputs go, where models come from, and `make`.

A builder asks the context for the specs it refers to (`ctx.get`), so the context knows which
spec files each stage was built from; `llmops run` checks those alone to tell whether a stage's
config on disk is still what the specs say.
"""

from __future__ import annotations

from typing import Any

from llmops.compiler.catalog import stage_kind, stage_name
from llmops.compiler.kinds.common import ModelRef, Resources
from llmops.compiler.parse import SpecFile
from llmops.compiler.plotdefs import plot_definitions
from llmops.compiler.resolve import Index
from llmops.compiler.stages.model import (
    DeploymentModel,
    HubModel,
    ModelLocation,
    Outputs,
    PathModel,
    Stage,
)

# (dependency path, upstream stage, runner-facing location) of a model
Located = tuple[str | None, str | None, ModelLocation]


class BuildContext:
    def __init__(self, index: Index) -> None:
        self.index = index
        self.project = index.parsed.project
        self.paths = self.project.paths
        self.memo: dict[Any, Any] = {}
        self._sources: set[str] = set()

    # -- the specs a stage is built from -------------------------------------------------

    def begin(self, sf: SpecFile) -> None:
        """Start building the stages of one spec: its sources are it and llmops.yaml so far."""
        self._sources = {sf.path, self.index.parsed.project_file.path}

    def get(self, kind: str, name: str) -> SpecFile:
        found = self.index.get(kind, name)
        self._sources.add(found.path)
        return found

    def all(self, kind: str) -> list[SpecFile]:
        found = self.index.all(kind)
        self._sources.update(sf.path for sf in found)
        return found

    # -- paths every stage agrees on ------------------------------------------------------

    def dataset_dir(self, name: str) -> str:
        return f"{self.paths.artifacts}/datasets/{name}"

    def prompt_dir(self, name: str) -> str:
        return f"{self.paths.artifacts}/prompts/{name}"

    def index_dir(self, name: str) -> str:
        return f"{self.paths.artifacts}/indexes/{name}"

    def retrieval(self, prompt: Any) -> tuple[list[str], str | None, str | None]:
        """(deps, index folder, index stage) of a Prompt that retrieves, else ([], None, None):
        a stage that renders the prompt depends on the index (and a local reranker's folder)
        and runs after the index stage."""
        retrieval = getattr(prompt, "retrieval", None)
        if retrieval is None:
            return [], None, None
        self.get("KnowledgeIndex", retrieval.index)
        folder = self.index_dir(retrieval.index)
        deps = [folder]
        if retrieval.rerank is not None and retrieval.rerank.model.path:
            deps.append(retrieval.rerank.model.path)
        return deps, folder, stage_name("index", retrieval.index)

    def base_dir(self, finetune: str) -> str:
        return f"{self.paths.artifacts}/base/{finetune}"

    def model_dir(self, finetune: str) -> str:
        return f"{self.paths.artifacts}/models/{finetune}"

    def metrics_file(self, stage: str) -> str:
        return f"{self.paths.metrics}/{stage}.json"

    def plots_dir(self, stage: str) -> str:
        return f"{self.paths.plots}/{stage}"

    def report_file(self, name: str) -> str:
        return f"{self.paths.reports}/{name}.md"

    def plot_props(self, stage: str, *extra: Any) -> dict[str, dict[str, Any]]:
        """`dvc plots` properties of a stage's plot files (see plotdefs.py), by path."""
        return {
            path: {k: v for k, v in props.items() if k != "cache"}
            for entry in plot_definitions(self.plots_dir(stage), *extra)
            for path, props in entry.items()
        }

    def seed(self, value: int | None) -> int:
        return value if value is not None else self.project.defaults.seed

    def has_file(self, rel: str) -> bool | None:
        """Whether the project holds the file `rel` (relative to its root); None when the specs
        were parsed without the project's files (`ParsedProject.is_file`)."""
        probe = self.index.parsed.is_file
        return None if probe is None else probe(rel)

    # -- models ---------------------------------------------------------------------------

    def model_location(self, ref: ModelRef) -> Located:
        if ref.finetune:
            return (
                self.model_dir(ref.finetune),
                stage_name("tune", ref.finetune),
                PathModel(path=self.model_dir(ref.finetune)),
            )
        if ref.base_of:
            return self.base_model_location(ref.base_of, self.get("FineTune", ref.base_of).spec.base_model)
        if ref.deployment:
            return None, None, DeploymentModel(deployment=ref.deployment)
        if ref.path:
            return ref.path, None, PathModel(path=ref.path)
        return None, None, HubModel(hub=str(ref.hub), revision=ref.revision)

    def base_model_location(self, finetune: str, base: Any) -> Located:
        if base.build:
            return (
                self.base_dir(finetune),
                stage_name("base", finetune),
                PathModel(path=self.base_dir(finetune)),
            )
        if base.finetune:
            return self.model_location(ModelRef(finetune=base.finetune))
        if base.path:
            return base.path, None, PathModel(path=base.path)
        return None, None, HubModel(hub=base.hub, revision=base.revision)

    # -- the stage ------------------------------------------------------------------------

    def make(
        self,
        kind: str,
        sf: SpecFile,
        *,
        spec: Any,
        inputs: Any,
        name: str | None = None,
        deps: Any = (),
        upstream: Any = (),
        resources: Resources | None = None,
        outs: Any = (),
        metrics: Any = (),
        plots: Any = (),
        reports: Any = (),
        **extra: Any,
    ) -> Stage:
        """A stage of `kind` with its typed config; empty deps and upstream entries drop out."""
        row = stage_kind(kind)
        name = name or stage_name(kind, sf.name)
        resources = resources or getattr(sf.spec, "resources", None)
        runner = resources.runner_class if resources else "cpu"
        outputs = Outputs(outs=list(outs), metrics=list(metrics), plots=list(plots), reports=list(reports))
        config = row.config_model()(
            stage=name,
            kind=kind,
            runner_version=row.version,
            spec=spec,
            inputs=inputs,
            outputs=outputs,
        )
        return Stage(
            name=name,
            kind=kind,
            spec=sf,
            config=config,
            deps=tuple(sorted({d for d in deps if d})),
            upstream=tuple(sorted({u for u in upstream if u})),
            outs=tuple(outs),
            metrics=tuple(metrics),
            plots=tuple(plots),
            reports=tuple(reports),
            runner=runner,
            runs_on=self.labels(resources, runner),
            gpus=resources.gpus if resources else 0,
            timeout_minutes=resources.timeout_minutes if resources else 360,
            in_pipeline=row.in_pipeline,
            sources=tuple(sorted(self._sources)),
            **extra,
        )

    def labels(self, resources: Resources | None, runner: str) -> tuple[str, ...]:
        """`runs-on`: explicit labels, else multi-GPU labels for gpus > 1, else the runner class's."""
        runners = self.project.defaults.runners
        if resources and resources.labels:
            return tuple(resources.labels)
        if runner == "gpu" and resources and resources.gpus > 1 and runners.multi_gpu:
            return tuple(runners.multi_gpu)
        return tuple(getattr(runners, runner))
