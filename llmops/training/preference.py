"""One preference-tuning run with TRL's trainer for the objective: DPO and KTO (trl), ORPO and
SimPO (trl.experimental: ORPOTrainer, and CPOTrainer with the SimPO loss and no BC term).

Everything around the trainer is the SFT run's (`llmops.training.trainer`): the same
TrainingArguments values (TRL's configs subclass them), the same fingerprinted work folder and
checkpoint resume, the same dvclive series (plus the reward figures) and the same cost meter.
With LoRA the trainer gets the plain model and a `peft_config`, and no reference model: TRL
scores the reference with the adapter disabled, so no second copy of the weights is held; full
fine-tuning lets TRL copy the model as its frozen reference (DPO, KTO; ORPO and SimPO need none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmops.hf.hardware import CostMeter
from llmops.training.trainer import (
    LiveCallback,
    RunPlan,
    RunResult,
    _last_logged,
    _step_of,
    _tokens_at,
    prepare_work_dir,
    training_argument_values,
)

if TYPE_CHECKING:
    from llmops.compiler.kinds.finetune import Objective

# Figures TRL logs that tell whether the preference is learnt: reward of the chosen answer minus
# the rejected one's (margin) and the share of pairs where the chosen one scores higher.
REWARD_KEYS = ("rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected")
LIVE_KEYS = (*REWARD_KEYS, *(f"eval_{k}" for k in REWARD_KEYS))
WITH_REFERENCE = ("dpo", "kto")


def trl_classes(kind: str) -> tuple[Any, Any]:
    """(Config class, Trainer class) of TRL for an objective; imported here, TRL being heavy."""
    if kind == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOConfig, DPOTrainer
    if kind == "kto":
        from trl import KTOConfig, KTOTrainer

        return KTOConfig, KTOTrainer
    if kind == "orpo":
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        return ORPOConfig, ORPOTrainer
    if kind == "simpo":
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        return CPOConfig, CPOTrainer
    raise ValueError(f"no preference trainer for objective {kind!r}")


def objective_settings(objective: Objective) -> dict[str, Any]:
    """The objective's fields under the names its TRL config uses."""
    kind = objective.type
    if kind == "dpo":
        return {"beta": objective.beta, "loss_type": [objective.loss_type or "sigmoid"]}
    if kind == "kto":
        return {
            "beta": objective.beta,
            "desirable_weight": objective.desirable_weight,
            "undesirable_weight": objective.undesirable_weight,
        }
    if kind == "orpo":
        return {"beta": objective.beta}
    # SimPO is CPO's simpo loss without CPO's behaviour-cloning term (as the SimPO paper trains)
    simpo = {"loss_type": "simpo", "cpo_alpha": 0.0, "simpo_gamma": objective.simpo_gamma}
    return {"beta": objective.beta, **simpo}


def trl_config(objective: Objective, plan: RunPlan, rows: int, *, has_eval: bool) -> Any:
    """TRL's config for the run: the SFT run's TrainingArguments values plus the objective's."""
    config_class, _ = trl_classes(objective.type)
    values = training_argument_values(plan, rows, has_eval=has_eval)
    # TRL turns checkpointing and bf16 on by default; here the spec decides, as for SFT
    name = "activation" if "activation_checkpointing" in config_class.__dataclass_fields__ else "gradient"
    values.setdefault(f"{name}_checkpointing", False)
    values.pop("remove_unused_columns")  # TRL's trainers choose the columns their collators read
    return config_class(
        **values,
        **objective_settings(objective),
        max_length=plan.training.max_length,
        disable_dropout=True,
    )


def build_trainer(
    model: Any,
    tokenizer: Any,
    objective: Objective,
    args: Any,
    train_rows: Sequence[dict[str, Any]],
    eval_rows: Sequence[dict[str, Any]],
    *,
    peft_config: Any = None,
    callbacks: Sequence[Any] = (),
) -> Any:
    from datasets import Dataset

    _, trainer_class = trl_classes(objective.type)
    extra: dict[str, Any] = {"ref_model": None} if objective.type in WITH_REFERENCE else {}
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return trainer_class(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(list(train_rows)),
        eval_dataset=Dataset.from_list(list(eval_rows)) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
        **extra,
    )


def train_preference(
    model: Any,
    tokenizer: Any,
    objective: Objective,
    train_rows: Sequence[dict[str, Any]],
    eval_rows: Sequence[dict[str, Any]],
    plan: RunPlan,
    *,
    peft_config: Any = None,
    callbacks: Sequence[Any] = (),
) -> RunResult:
    """Train, resuming a checkpoint of the same fingerprint; the metrics hold the loss and the
    reward figures on the validation split before and after (`eval_rewards/margins_start` ...)."""
    from transformers import set_seed

    resume = prepare_work_dir(plan.work, plan.fingerprint)
    set_seed(plan.seed)
    args = trl_config(objective, plan, len(train_rows), has_eval=bool(eval_rows))
    live_cb = LiveCallback(plan.work / "dvclive", resume_step=_step_of(resume), extra_keys=LIVE_KEYS)
    trainer = build_trainer(
        model,
        tokenizer,
        objective,
        args,
        train_rows,
        eval_rows,
        peft_config=peft_config,
        callbacks=[live_cb, *callbacks],
    )
    before = _evaluated(trainer) if eval_rows else {}
    meter = CostMeter().start()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    meter.stop()
    metrics: dict[str, Any] = {
        "objective": objective.type,
        "train_loss": _last_logged(trainer, "loss"),
        "train_loss_mean": round(float(output.training_loss), 6),
        "steps": int(trainer.state.global_step),
        "epochs": round(float(trainer.state.epoch or 0), 4),
    }
    for key in REWARD_KEYS:
        value = _last_logged(trainer, key)
        if value is not None:
            metrics[key] = value
    if eval_rows:
        after = _evaluated(trainer)
        for key, value in after.items():
            metrics[key] = value
            if key in before:
                metrics[f"{key}_start"] = before[key]
        live_cb.log_final(trainer.state.global_step, after.get("eval_loss", math.nan))
    tokens = int(trainer.state.num_input_tokens_seen or 0) or _estimated_tokens(trainer, plan)
    metrics.update(meter.as_metrics(tokens, timed=tokens - _tokens_at(resume)))
    return RunResult(metrics, trainer, _step_of(resume))


def _evaluated(trainer: Any) -> dict[str, float]:
    """The eval loss and reward figures, rounded (TRL's ORPO/CPO log tensors' floats too)."""
    wanted = ("eval_loss", *(f"eval_{k}" for k in REWARD_KEYS))
    figures = trainer.evaluate()
    present = (k for k in wanted if k in figures and math.isfinite(float(figures[k])))
    return {k: round(float(figures[k]), 6) for k in present}


def _estimated_tokens(trainer: Any, plan: RunPlan) -> int:
    """Tokens trained on when the Trainer cannot count them (ORPO/CPO batches have no
    `input_ids`): the mean tokens of a prepared row (prompt with each answer) times the rows
    the steps consumed."""
    data = trainer.train_dataset
    columns = [c for c in ("chosen_input_ids", "rejected_input_ids") if c in data.column_names]
    if not columns or len(data) == 0:
        return 0
    per_row = sum(len(ids) for c in columns for ids in data[c]) / len(data)
    t = plan.training
    world = max(1, int(getattr(trainer.args, "world_size", 1)))
    rows = trainer.state.global_step * t.batch_size * t.grad_accum * world
    return int(per_row * rows)
