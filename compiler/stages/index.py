"""`index-<name>`: a KnowledgeIndex's documents chunked, embedded and indexed (runners/index).

Its dependencies are everything the chunks and vectors come from: the source files (a glob
depends on its root folder, as a Dataset's does), the Datasets' output folders and a local
embedding model's folder. Editing one document reruns this stage and the stages that retrieve
from the index (prompt, tune, eval), nothing upstream of it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.knowledge_index import KnowledgeIndex
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.data import glob_root
from llmops.compiler.stages.model import ConfigModel, Result, Stage, StageConfig


class IndexInputs(ConfigModel):
    datasets: dict[str, str] = Field(default_factory=dict)  # Dataset name -> its output folder
    seed: int


class IndexConfig(StageConfig):
    kind: Literal["index"]
    spec: Result(KnowledgeIndex)
    inputs: IndexInputs


CONFIG = IndexConfig


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: KnowledgeIndex = sf.spec
    deps: list[str] = []
    upstream: list[str] = []
    datasets: dict[str, str] = {}
    for source in spec.documents:
        if source.path:
            deps.append(glob_root(source.path))
        elif source.dataset:
            ctx.get("Dataset", source.dataset)
            datasets[source.dataset] = ctx.dataset_dir(source.dataset)
            deps.append(ctx.dataset_dir(source.dataset))
            upstream.append(stage_name("data", source.dataset))
    if spec.embedding.model.path:
        deps.append(spec.embedding.model.path)
    name = stage_name("index", sf.name)
    return [
        ctx.make(
            "index",
            sf,
            spec=spec,
            inputs=IndexInputs(datasets=datasets, seed=ctx.seed(None)),
            deps=deps,
            upstream=upstream,
            outs=[ctx.index_dir(sf.name)],
            metrics=[ctx.metrics_file(name)],
            reports=[ctx.report_file(name)],
        )
    ]
