"""`data-<name>`: a Dataset's sources, cleaned, labelled and split (runners/data)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.dataset import Dataset
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import ConfigModel, Result, Stage, StageConfig

_GLOB = re.compile(r"[*?\[{]")


class DataInputs(ConfigModel):
    datasets: dict[str, str] = Field(default_factory=dict)  # upstream Dataset name -> its folder
    seed: int


class DataConfig(StageConfig):
    kind: Literal["data"]
    spec: Result(Dataset)
    inputs: DataInputs


CONFIG = DataConfig


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: Dataset = sf.spec
    deps, upstream, datasets = [], [], {}
    for src in spec.sources:
        if src.path:
            deps.append(glob_root(src.path))
        elif src.dataset:
            ctx.get("Dataset", src.dataset)
            deps.append(ctx.dataset_dir(src.dataset))
            upstream.append(stage_name("data", src.dataset))
            datasets[src.dataset] = ctx.dataset_dir(src.dataset)
        elif src.huggingface and src.huggingface.path:
            deps.append(src.huggingface.path)
    if spec.labels and spec.labels.join:
        deps.append(spec.labels.join)
    name = stage_name("data", sf.name)
    plots = ctx.plot_props(name)
    return [
        ctx.make(
            "data",
            sf,
            spec=spec,
            inputs=DataInputs(datasets=datasets, seed=ctx.seed(spec.split.seed)),
            deps=deps,
            upstream=upstream,
            outs=[ctx.dataset_dir(sf.name)],
            metrics=[ctx.metrics_file(name)],
            plots=list(plots),
            plot_props=plots,
            reports=[ctx.report_file(name)],
        )
    ]


def glob_root(path: str) -> str:
    """The folder to depend on for a glob (DVC deps are paths, not patterns)."""
    if not _GLOB.search(path):
        return path
    parts = []
    for part in path.split("/"):
        if _GLOB.search(part):
            break
        parts.append(part)
    return "/".join(parts) or "."
