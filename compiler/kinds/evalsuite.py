"""EvalSuite: models and baselines scored on a held-out split with `evaluate` metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import ModelRef, Name, Resources, SpecBase, SpecModel

MetricName = Literal[
    "bleu", "sacrebleu", "chrf", "rouge", "exact_match", "accuracy", "f1", "perplexity", "custom"
]
Callable_ = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")]


class Metric(SpecModel):
    name: MetricName
    callable: Callable_ | None = Field(default=None, description="module.path:function for custom.")
    args: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _custom_has_callable(self) -> Metric:
        if (self.name == "custom") != bool(self.callable):
            raise ValueError("a custom metric names a callable, and only a custom one does")
        return self


class Generation(SpecModel):
    max_new_tokens: int = Field(default=64, ge=1, le=32_768)
    temperature: float = Field(default=0.0, ge=0, le=5)
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = Field(default=None, ge=0)
    batch_size: int = Field(default=8, ge=1)
    engine: Literal["auto", "transformers", "vllm"] = "auto"


class Bootstrap(SpecModel):
    samples: int = Field(default=1000, ge=0, le=100_000)
    confidence: float = Field(default=0.95, gt=0, lt=1)


class EvalSuite(SpecBase):
    kind: Literal["EvalSuite"]
    models: list[ModelRef] = Field(min_length=1)
    baselines: list[ModelRef] = Field(default_factory=list)
    dataset: Name
    split: Literal["train", "validation", "test"] = "test"
    allow_train_split: bool = False
    prompt: Name
    generation: Generation = Field(default_factory=Generation)
    metrics: list[Metric] = Field(min_length=1)
    bootstrap: Bootstrap = Field(default_factory=Bootstrap)
    resources: Resources = Field(default_factory=Resources)

    @model_validator(mode="after")
    def _no_training_split(self) -> EvalSuite:
        if self.split == "train" and not self.allow_train_split:
            raise ValueError("evaluating on the train split is refused; set allow_train_split: true")
        return self
