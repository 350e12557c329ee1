"""FineTune: a base model, a PEFT method, hyperparameters, an optional sweep, resources."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from llmops.compiler.spec.common import HubId, Name, RelPath, Resources, Revision, SpecBase, SpecModel

ParamPath = Annotated[str, Field(pattern=r"^(training|method)\.[a-z_]{1,64}$")]


class BuildBase(SpecModel):
    """A small model built from a config, with a tokenizer trained on a Dataset (tests, CPU)."""

    architecture: Literal["llama"] = "llama"
    config: dict[str, int | float | str | bool] = Field(default_factory=dict)
    tokenizer_dataset: Name
    vocab_size: int = Field(default=512, ge=64, le=262_144)
    pretrain_steps: int = Field(default=0, ge=0)


class BaseModelSpec(SpecModel):
    hub: HubId | None = None
    revision: Revision | None = None
    allow_unpinned: bool = False
    path: RelPath | None = None
    build: BuildBase | None = None
    finetune: Name | None = Field(default=None, description="Continue from another FineTune.")

    @model_validator(mode="after")
    def _one_source(self) -> BaseModelSpec:
        given = [k for k in ("hub", "path", "build", "finetune") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("name exactly one of hub, path, build or finetune")
        if self.hub and not self.revision and not self.allow_unpinned:
            raise ValueError("a hub model needs a pinned revision (or allow_unpinned: true)")
        return self


class Method(SpecModel):
    type: Literal["lora", "qlora", "prompt-tuning", "full"] = "lora"
    r: int = Field(default=8, ge=1, le=1024)
    alpha: float = Field(default=16, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    num_virtual_tokens: int = Field(default=16, ge=1, le=1024)
    merge: bool = Field(default=False, description="Also save the merged model.")


class Training(SpecModel):
    epochs: float = Field(default=1, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    lr: float = Field(default=2e-4, gt=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    batch_size: int = Field(default=8, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    max_length: int = Field(default=512, ge=8)
    packing: bool = False
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    gradient_checkpointing: bool = False
    completion_only_loss: bool = True
    seed: int | None = Field(default=None, ge=0)
    eval_steps: int | None = Field(default=None, ge=1)
    save_steps: int | None = Field(default=None, ge=1)


class Sweep(SpecModel):
    parameters: dict[ParamPath, list[Any]] = Field(min_length=1)
    metric: str = "eval_loss"
    goal: Literal["minimize", "maximize"] = "minimize"


class FineTune(SpecBase):
    kind: Literal["FineTune"]
    base_model: BaseModelSpec
    dataset: Name
    prompt: Name
    method: Method = Field(default_factory=Method)
    training: Training = Field(default_factory=Training)
    sweep: Sweep | None = None
    resources: Resources = Field(default_factory=Resources)

    @model_validator(mode="after")
    def _sweep_values(self) -> FineTune:
        if self.sweep:
            for key, values in self.sweep.parameters.items():
                if not values:
                    raise ValueError(f"sweep.parameters.{key} needs at least one value")
        return self
