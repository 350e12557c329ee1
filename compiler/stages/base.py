"""`base-<finetune>`: a tiny base model built from a config and pretrained on a Dataset
(runners/base), for FineTunes whose `base_model` says `build:`."""

from __future__ import annotations

from typing import Literal

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.common import Name
from llmops.compiler.kinds.finetune import BaseModelSpec, FineTune
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import ConfigModel, Stage, StageConfig


class BaseSpec(ConfigModel):
    """The part of a FineTune that decides its built base model: training it reruns nothing here."""

    name: Name
    base_model: BaseModelSpec


class BaseInputs(ConfigModel):
    dataset: str  # the tokenizer Dataset's folder of splits
    seed: int


class BaseConfig(StageConfig):
    kind: Literal["base"]
    spec: BaseSpec
    inputs: BaseInputs


CONFIG = BaseConfig


def build(ctx: BuildContext, sf: SpecFile) -> list[Stage]:
    spec: FineTune = sf.spec
    build_spec = spec.base_model.build
    if spec.status != "active" or build_spec is None:
        return []
    ctx.get("Dataset", build_spec.tokenizer_dataset)
    data = ctx.dataset_dir(build_spec.tokenizer_dataset)
    return [
        ctx.make(
            "base",
            sf,
            spec=BaseSpec(name=sf.name, base_model=spec.base_model),
            inputs=BaseInputs(dataset=data, seed=ctx.seed(spec.training.seed)),
            deps=[data],
            upstream=[stage_name("data", build_spec.tokenizer_dataset)],
            outs=[ctx.base_dir(sf.name)],
            metrics=[ctx.metrics_file(stage_name("base", sf.name))],
        )
    ]
