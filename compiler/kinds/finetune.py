"""FineTune: a base model, a PEFT method, hyperparameters, an optional sweep, resources."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, ValidationError, WithJsonSchema, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from llmops.compiler.kinds.common import (
    HubId,
    Name,
    Reference,
    RelPath,
    Resources,
    Revision,
    SpecBase,
    SpecModel,
)
from llmops.compiler.kinds.dataset import Column


class BuildBase(SpecModel):
    """A small model built from a config, with a tokenizer trained on a Dataset (tests, CPU)."""

    architecture: Literal["llama"] = Field(default="llama", description="The architecture built; only llama.")
    config: dict[str, int | float | str | bool] = Field(
        default_factory=dict,
        description="Llama config values (hidden_size, num_hidden_layers, num_attention_heads, ...) over "
        "llmops' small defaults.",
    )
    tokenizer_dataset: Name = Field(
        description="The Dataset whose train split trains the tokenizer (and the pretraining)."
    )
    vocab_size: int = Field(
        default=512, ge=64, le=262_144, description="Vocabulary size of the byte-level BPE tokenizer."
    )
    pretrain_steps: int = Field(
        default=0, ge=0, description="Causal-LM steps on the tokenizer dataset's text before tuning."
    )
    pretrain_lr: float = Field(
        default=3e-3, gt=0, lt=1, description="Peak learning rate of the pretraining (cosine schedule)."
    )
    pretrain_batch_size: int = Field(default=16, ge=1, description="Batch size of the pretraining.")
    max_length: int = Field(default=128, ge=8, description="Context length of the built model's pretraining.")
    text_columns: list[str] = Field(
        default_factory=lambda: ["text", "answer"],
        description="Columns of the tokenizer dataset whose text trains the tokenizer and the base model.",
    )


class BaseModelSpec(SpecModel):
    hub: HubId | None = Field(
        default=None, description="A Hugging Face hub model id; needs `revision` unless `allow_unpinned`."
    )
    revision: Revision | None = Field(default=None, description="Commit, tag or branch of the hub model.")
    allow_unpinned: bool = Field(
        default=False, description="Accept a hub model without a revision (the run is then not reproducible)."
    )
    path: RelPath | None = Field(default=None, description="A local model folder (safetensors).")
    build: BuildBase | None = Field(
        default=None,
        description="Build a small Llama with a tokenizer trained on a Dataset (the base stage).",
    )
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
    type: Literal["lora", "qlora", "prompt-tuning", "full"] = Field(
        default="lora",
        description="lora, qlora (LoRA over a 4-bit base; CUDA only), prompt-tuning or full fine-tuning.",
    )
    r: int = Field(default=8, ge=1, le=1024, description="LoRA rank.")
    alpha: float = Field(default=16, gt=0, description="LoRA alpha (the adapter's scale is alpha / r).")
    dropout: float = Field(default=0.05, ge=0, lt=1, description="Dropout on the LoRA layers.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        default="all-linear", description="Modules LoRA adapts: their names, or all-linear."
    )
    num_virtual_tokens: int = Field(
        default=16, ge=1, le=1024, description="Virtual tokens that prompt tuning learns."
    )
    prompt_tuning_init_text: str | None = Field(
        default=None, description="Initialise prompt-tuning vectors from this text instead of at random."
    )
    merge: bool = Field(default=False, description="Also save the merged model.")


class Training(SpecModel):
    epochs: float = Field(
        default=1, gt=0, description="Passes over the training examples; max_steps overrides it."
    )
    max_steps: int | None = Field(
        default=None, ge=1, description="Optimizer steps to train for, instead of epochs."
    )
    lr: float = Field(default=2e-4, gt=0, lt=1, description="Peak learning rate.")
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        default="linear", description="Learning-rate schedule."
    )
    warmup_ratio: float = Field(
        default=0.0, ge=0, lt=1, description="Share of the steps that warm the learning rate up."
    )
    batch_size: int = Field(default=8, ge=1, description="Examples per device and step (for evaluation too).")
    grad_accum: int = Field(default=1, ge=1, description="Batches accumulated into one optimizer step.")
    max_length: int = Field(
        default=512,
        ge=8,
        description="Tokens per example, prompt and answer; longer ones are cut (with packing, the block "
        "length).",
    )
    packing: bool = Field(
        default=False,
        description="Concatenate examples into blocks of max_length tokens instead of padding each one.",
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        default="auto", description="auto: bf16 on GPUs that have it, else fp16; fp32 on CPU."
    )
    gradient_checkpointing: bool = Field(
        default=False, description="Recompute activations in the backward pass: less memory, more time."
    )
    completion_only_loss: bool = Field(
        default=True, description="Loss on the answer only, not on the prompt."
    )
    seed: int | None = Field(default=None, ge=0, description="Seed of the run; default: the project seed.")
    eval_steps: int | None = Field(
        default=None,
        ge=1,
        description="Evaluate on the validation split every this many steps; unset: before and after "
        "training only.",
    )
    save_steps: int | None = Field(
        default=None, ge=1, description="Checkpoint every this many steps; default: a quarter of the run."
    )
    logging_steps: int = Field(default=10, ge=1, description="Log the loss every this many steps.")
    weight_decay: float = Field(default=0.0, ge=0, lt=1, description="AdamW weight decay.")
    max_grad_norm: float = Field(default=1.0, ge=0, description="Gradients are clipped to this norm.")


# The DPO loss variants TRL 1.16's DPOTrainer accepts (`DPOConfig.loss_type`).
DpoLoss = Literal[
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sigmoid_norm",
]
PREFERENCE_OBJECTIVES = ("dpo", "orpo", "kto", "simpo")


class Objective(SpecModel):
    """What the tuning optimises: next-token loss on answers (sft), or a preference objective
    trained with TRL on pairs (dpo, orpo, simpo: prompt, chosen, rejected) or on single answers
    marked good or bad (kto: prompt, completion, label). The prompt always comes from rendering
    the FineTune's Prompt over the row, exactly as SFT renders it, so serving sees the same text."""

    type: Literal["sft", "dpo", "orpo", "kto", "simpo"] = Field(
        default="sft",
        description="sft: supervised answers; dpo, orpo, simpo: chosen/rejected pairs; kto: answers "
        "labelled good or bad.",
    )
    beta: float = Field(
        default=0.1,
        gt=0,
        description="dpo/kto: how far the policy may move from the reference (higher: less); orpo: the "
        "weight of the odds-ratio term; simpo: the reward scale.",
    )
    loss_type: DpoLoss | None = Field(
        default=None, description="dpo only: the DPO loss variant TRL computes; default sigmoid."
    )
    simpo_gamma: float = Field(default=0.5, ge=0, description="simpo only: the target reward margin.")
    desirable_weight: float = Field(
        default=1.0, gt=0, description="kto only: weight of the losses of good answers."
    )
    undesirable_weight: float = Field(
        default=1.0, gt=0, description="kto only: weight of the losses of bad answers."
    )
    chosen_column: Column = Field(default="chosen", description="Pairs: the column of the preferred answer.")
    rejected_column: Column = Field(
        default="rejected", description="Pairs: the column of the answer not preferred."
    )
    completion_column: Column = Field(default="completion", description="kto: the column of the answer.")
    label_column: Column = Field(
        default="label", description="kto: the column saying whether the answer is good (true) or bad."
    )
    max_prompt_length: int | None = Field(
        default=None,
        ge=1,
        description="Preference objectives: prompts longer than this many tokens keep their last ones "
        "(the question nearest the answer); unset: only training.max_length cuts.",
    )

    @model_validator(mode="after")
    def _fits_type(self) -> Objective:
        if self.loss_type is not None and self.type != "dpo":
            raise ValueError(f"loss_type is a dpo setting; objective type is {self.type}")
        return self

    @property
    def preference(self) -> bool:
        return self.type in PREFERENCE_OBJECTIVES


_SWEEP_PATH = re.compile(r"^(training|method|objective)\.[a-z_]{1,64}$")
_SWEEP_TEXT = r"^[A-Za-z0-9_.+-]{1,64}$"
SWEEP_MAX_TRIALS = 256
SWEEP_MAX_KEY = 128
SweepScalar = bool | int | float | str


def _sweep_path_problem(path: str) -> str | None:
    """Why `path` is not `training.<field>`, `method.<field>` or `objective.<field>` naming a
    real field, or None."""
    if not _SWEEP_PATH.match(path):
        return f"'{path}' is not training.<field>, method.<field> or objective.<field>"
    section, field = path.split(".", 1)
    fields = {"training": Training, "method": Method, "objective": Objective}[section].model_fields
    if field in fields:
        return None
    from llmops.compiler.diagnose import suggest

    hint = suggest(field, fields)
    hint = hint.replace("'", f"'{section}.", 1) if hint else f"its fields: {', '.join(sorted(fields))}"
    return f"{section} has no field '{field}' ({hint})"


def _sweep_value(value: Any) -> SweepScalar:
    """A scalar that is safe in a stage name, a file name and a shell word."""
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a sweep value must be a finite number")
        return value
    if isinstance(value, str) and re.match(_SWEEP_TEXT, value):
        return value
    raise ValueError("a sweep value is a number, true/false, or 1-64 letters, digits, '_', '.', '+' and '-'")


ParamPath = Annotated[
    str,
    WithJsonSchema({"type": "string", "pattern": _SWEEP_PATH.pattern}),
    Field(description="`training.<field>`, `method.<field>` or `objective.<field>`: a field to vary."),
]
SweepValue = Annotated[
    SweepScalar,
    PlainValidator(_sweep_value),
    WithJsonSchema(
        {"anyOf": [{"type": "boolean"}, {"type": "number"}, {"type": "string", "pattern": _SWEEP_TEXT}]}
    ),
    Field(description="A number, true or false, or 1-64 letters, digits, '_', '.', '+' and '-'."),
]


def sweep_label(value: SweepScalar) -> str:
    """How DVC writes a matrix value into a stage name: `true`/`false`, else `str()`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Sweep(SpecModel):
    """A grid of hyperparameters: one trial per combination, then the best by `metric` wins.

    Trials are the cartesian product of the values in the order written, named the way DVC names
    `matrix` stages: each value as text, joined by '-'.
    """

    parameters: dict[ParamPath, Annotated[list[SweepValue], Field(min_length=1)]] = Field(
        min_length=1,
        description="`training.<field>`, `method.<field>` or `objective.<field>` -> the values to try.",
    )
    metric: str = Field(
        default="eval_loss",
        pattern=r"^[A-Za-z0-9_./-]{1,128}$",
        description="Key in each trial's metrics file (a dotted path for nested ones).",
    )
    goal: Literal["minimize", "maximize"] = Field(
        default="minimize", description="Whether the best trial has the lowest or the highest `metric`."
    )

    def trials(self) -> list[tuple[str, dict[str, SweepScalar]]]:
        """(name suffix, {path: value}) for every combination, in DVC's matrix order."""
        paths = list(self.parameters)
        return [
            ("-".join(sweep_label(v) for v in combo), dict(zip(paths, combo, strict=True)))
            for combo in itertools.product(*self.parameters.values())
        ]

    @staticmethod
    def apply(finetune: Any, params: dict[str, SweepScalar]) -> Any:
        """The FineTune with one trial's values in training/method/objective and no sweep of its own."""
        changed: dict[str, dict[str, Any]] = {}
        for path, value in params.items():
            section, field = path.split(".", 1)
            changed.setdefault(section, {})[field] = value
        update: dict[str, Any] = {"sweep": None}
        for section, values in changed.items():
            model = getattr(finetune, section)
            update[section] = type(model).model_validate({**model.model_dump(), **values})
        return finetune.model_copy(update=update)

    @model_validator(mode="after")
    def _grid(self) -> Sweep:
        errors: list[InitErrorDetails] = []
        for path, values in self.parameters.items():
            problem = _sweep_path_problem(path)
            if problem:
                errors.append(_error(("parameters", path), path, problem))
            seen: dict[str, int] = {}
            for i, value in enumerate(values):
                label = sweep_label(value)
                if label in seen:
                    errors.append(_error(("parameters", path, i), value, f"'{label}' is listed twice"))
                seen.setdefault(label, i)
        count = math.prod(len(v) for v in self.parameters.values())
        if not errors and count > SWEEP_MAX_TRIALS:
            message = f"{count} combinations; a sweep runs at most {SWEEP_MAX_TRIALS} trials"
            errors.append(_error(("parameters",), None, message))
        if not errors:
            keys: dict[str, int] = {}
            for key, _ in self.trials():
                keys[key] = keys.get(key, 0) + 1
                if len(key) > SWEEP_MAX_KEY:
                    message = f"trial name '{key[:40]}...' is longer than {SWEEP_MAX_KEY} characters"
                    errors.append(_error(("parameters",), None, message))
                    break
            clashes = sorted(k for k, n in keys.items() if n > 1)
            if clashes:
                message = f"two trials would both be named '{clashes[0]}'; use values without '-'"
                errors.append(_error(("parameters",), None, message))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


def _error(loc: tuple[str | int, ...], value: Any, message: str) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("sweep", message),
        loc=loc,
        input=value,  # type: ignore[arg-type]
    )


class FineTune(SpecBase):
    kind: Literal["FineTune"] = Field(description="Always `FineTune`.")
    base_model: BaseModelSpec = Field(description="The model to start from.")
    dataset: Name = Field(
        description="The Dataset to train on: its train split, and its validation split for the eval loss."
    )
    prompt: Name = Field(description="The Prompt that renders the records into training examples.")
    method: Method = Field(
        default_factory=Method, description="The tuning method (through PEFT) and its settings."
    )
    training: Training = Field(
        default_factory=Training, description="Hyperparameters of the Transformers Trainer."
    )
    objective: Objective = Field(
        default_factory=Objective,
        # left out of compiled configs while it is the default, so SFT stages keep their params
        exclude_if=lambda v: v == Objective(),
        description="What the tuning optimises: sft (default) or a preference objective (dpo, orpo, kto, "
        "simpo) on TRL.",
    )
    sweep: Sweep | None = Field(
        default=None, description="A grid of settings to try; the best trial becomes the model."
    )
    resources: Resources = Field(
        default_factory=Resources, description="Where the base and tune stages run, on how many GPUs."
    )
    status: Literal["active", "retired"] = Field(
        default="active",
        description="retired: no longer built or trained (its stages leave the pipeline); "
        "the spec stays in git so the audit keeps its record.",
    )

    @model_validator(mode="after")
    def _objective_fits_method(self) -> FineTune:
        """TRL's preference trainers tune LoRA adapters or all weights; prompt tuning's virtual
        tokens do not fit their paired forward passes."""
        variants = [self]
        for _, params in self.sweep.trials() if self.sweep else []:
            try:
                variants.append(Sweep.apply(self, params))
            except ValidationError:
                continue  # a bad value: `_sweep_values` reports it with its place
        for variant in variants:
            if variant.objective.preference and variant.method.type == "prompt-tuning":
                raise ValueError(
                    f"objective {variant.objective.type} needs method lora, qlora or full, not prompt-tuning"
                )
        return self

    @model_validator(mode="after")
    def _sweep_values(self) -> FineTune:
        """Each swept value must be valid for its field, alone and in every combination."""
        if not self.sweep:
            return self
        errors: list[InitErrorDetails] = []
        for path, values in self.sweep.parameters.items():
            for i, value in enumerate(values):
                try:
                    Sweep.apply(self, {path: value})
                except ValidationError as exc:
                    message = f"{value!r} is not a valid {path}: {_first_message(exc)}"
                    errors.append(_error(("sweep", "parameters", path, i), value, message))
        if not errors and len(self.sweep.parameters) > 1:
            for key, params in self.sweep.trials():
                try:
                    Sweep.apply(self, params)
                except ValidationError as exc:
                    message = f"trial {key} is not valid: {_first_message(exc, where=True)}"
                    errors.append(_error(("sweep", "parameters"), None, message))
                    break
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def references(self) -> Iterator[Reference]:
        yield ("dataset",), "Dataset", self.dataset
        yield ("prompt",), "Prompt", self.prompt
        if self.base_model.finetune:
            yield ("base_model", "finetune"), "FineTune", self.base_model.finetune
        if self.base_model.build:
            yield (
                ("base_model", "build", "tokenizer_dataset"),
                "Dataset",
                self.base_model.build.tokenizer_dataset,
            )


def _first_message(exc: ValidationError, *, where: bool = False) -> str:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) if where else ""
    return (f"{field}: " if field else "") + str(first["msg"]).removeprefix("Value error, ")
