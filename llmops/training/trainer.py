"""One training run with the Hugging Face Trainer: resumable, seeded, logged with dvclive.

Checkpoints live in a work folder outside the stage's outputs (`.llmops/work/<stage>`), keyed
by a fingerprint of everything that shapes the run; an interrupted run with the same
fingerprint resumes from its last checkpoint (weights, optimizer, scheduler, RNG, data order)
and ends with the same weights as an uninterrupted one. The base stage's pretraining and the
tune stage both train through here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

from llmops.hf.hardware import CostMeter, cuda_available
from llmops.training.tokenize import PadCollator

if TYPE_CHECKING:
    from llmops.compiler.kinds.finetune import Training

WORK_DIR = ".llmops/work"


@dataclass(frozen=True)
class RunPlan:
    """What one run needs beyond the model and the data."""

    work: Path
    fingerprint: str
    training: Training
    seed: int
    precision: str
    distributed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    metrics: dict[str, Any]
    trainer: Any
    resumed_from: int | None


def fingerprint(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def prepare_work_dir(work: Path, print_: str) -> Path | None:
    """The last checkpoint to resume from, after clearing a work folder left by other settings."""
    stamp = work / "fingerprint"
    if work.exists() and (not stamp.is_file() or stamp.read_text() != print_):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(print_)
    checkpoints = sorted(
        (p for p in (work / "checkpoints").glob("checkpoint-*") if (p / "trainer_state.json").is_file()),
        key=lambda p: int(p.name.rsplit("-", 1)[1]),
    )
    return checkpoints[-1] if checkpoints else None


def total_steps(rows: int, training: Training, world: int = 1) -> int:
    per_step = training.batch_size * training.grad_accum * world
    if training.max_steps:
        return int(training.max_steps)
    return max(1, math.ceil(math.ceil(rows / per_step) * training.epochs))


def train(
    model: Any,
    tokenizer: Any,
    train_rows: Sequence[dict[str, list[int]]],
    eval_rows: Sequence[dict[str, list[int]]],
    plan: RunPlan,
    *,
    callbacks: Sequence[Any] = (),
) -> RunResult:
    resume = prepare_work_dir(plan.work, plan.fingerprint)
    set_seed(plan.seed)
    args = training_arguments(plan, len(train_rows), has_eval=bool(eval_rows))
    live_cb = LiveCallback(plan.work / "dvclive", resume_step=_step_of(resume))
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=PadCollator(tokenizer.pad_token_id),
        train_dataset=list(train_rows),
        eval_dataset=list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        callbacks=[live_cb, *callbacks],
    )
    start_loss = float(trainer.evaluate()["eval_loss"]) if eval_rows else None
    meter = CostMeter().start()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    meter.stop()
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    metrics: dict[str, Any] = {
        "train_loss": _last_logged(trainer, "loss"),
        "train_loss_mean": round(float(output.training_loss), 6),
        "steps": int(trainer.state.global_step),
        "epochs": round(float(trainer.state.epoch or 0), 4),
    }
    if eval_rows:
        evaluated = trainer.evaluate()
        metrics["eval_loss"] = round(float(evaluated["eval_loss"]), 6)
        metrics["eval_loss_start"] = round(float(start_loss), 6) if start_loss is not None else None
        metrics["eval_perplexity"] = round(math.exp(min(evaluated["eval_loss"], 50)), 4)
        live_cb.log_final(trainer.state.global_step, metrics["eval_loss"])
    metrics.update(meter.as_metrics(tokens, timed=tokens - _tokens_at(resume)))
    return RunResult(metrics, trainer, _step_of(resume))


def training_arguments(plan: RunPlan, rows: int, *, has_eval: bool) -> Any:
    return TrainingArguments(**training_argument_values(plan, rows, has_eval=has_eval))


def training_argument_values(plan: RunPlan, rows: int, *, has_eval: bool) -> dict[str, Any]:
    """The TrainingArguments fields a run sets, as keywords: TRL's configs subclass
    TrainingArguments, so the preference trainers get exactly the SFT run's settings."""
    t = plan.training
    steps = total_steps(rows, t)
    save_steps = t.save_steps or max(1, steps // 4)
    return dict(
        output_dir=str(plan.work / "checkpoints"),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        num_train_epochs=float(t.epochs),
        max_steps=t.max_steps or -1,
        learning_rate=t.lr,
        lr_scheduler_type=t.scheduler,
        warmup_steps=round(t.warmup_ratio * steps),
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        bf16=plan.precision == "bf16",
        fp16=plan.precision == "fp16",
        use_cpu=not cuda_available(),
        # The fused AdamW kernel pays off on GPUs; on CPU the multi-tensor one is faster
        # (measured with tests/bench/bench_train.py).
        optim="adamw_torch_fused" if cuda_available() else "adamw_torch",
        logging_steps=t.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if has_eval and t.eval_steps else "no",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=2,
        report_to="none",
        seed=plan.seed,
        data_seed=plan.seed,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=not sys.stderr.isatty(),
        **_checkpointing(t.gradient_checkpointing),
        **plan.distributed,
    )


def _checkpointing(enabled: bool) -> dict[str, Any]:
    """Activation checkpointing under the name this transformers version uses."""
    if not enabled:
        return {}
    name = (
        "activation" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__ else "gradient"
    )
    return {f"{name}_checkpointing": True, f"{name}_checkpointing_kwargs": {"use_reentrant": False}}


class LiveCallback(TrainerCallback):
    """Logs the Trainer's figures with dvclive at their true global step, so `dvc plots` draws
    loss curves; on resume, rows past the checkpoint are dropped before logging goes on."""

    def __init__(self, folder: Path, *, resume_step: int | None, extra_keys: Sequence[str] = ()) -> None:
        if resume_step is None and folder.exists():
            shutil.rmtree(folder)
        if resume_step is not None:
            _truncate_tsvs(folder, resume_step)
        self.folder = folder
        self.keys = {"loss", "learning_rate", "grad_norm", "eval_loss", *extra_keys}
        self.live: Any = None

    def _live(self) -> Any:
        if self.live is None:
            self.live = _standalone_live(self.folder)
        return self.live

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **_: Any):
        if not state.is_world_process_zero or not logs:
            return
        live = self._live()
        live.step = state.global_step
        for key, value in logs.items():
            if key in self.keys and _finite(value):
                live.log_metric(f"{'eval' if key.startswith('eval') else 'train'}/{key}", float(value))

    def log_final(self, step: int, eval_loss: float) -> None:
        live = self._live()
        live.step = step
        live.log_metric("eval/eval_loss", eval_loss)


def _standalone_live(folder: Path) -> Any:
    """dvclive as a writer of metrics and plot series only. Left alone it opens the enclosing
    DVC repo (failing in a git repo without commits, and even running `dvc init` where DVC is
    missing) to name an experiment; the stage's outputs are DVC's business, not the logger's."""
    from dvclive import live as dvclive_live

    opener = dvclive_live.get_dvc_repo
    dvclive_live.get_dvc_repo = lambda: None
    try:
        return dvclive_live.Live(dir=str(folder), resume=True, save_dvc_exp=False, dvcyaml=False, report=None)
    finally:
        dvclive_live.get_dvc_repo = opener


def export_plots(work: Path, target: Path) -> None:
    """Copy dvclive's TSV series into the stage's plots folder."""
    source = work / "dvclive" / "plots" / "metrics"
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        for tsv in sorted(source.rglob("*.tsv")):
            dest = target / tsv.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tsv, dest)


def _truncate_tsvs(folder: Path, step: int) -> None:
    for tsv in (folder / "plots" / "metrics").rglob("*.tsv"):
        with tsv.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows:
            continue
        kept = [r for r in rows if int(r["step"]) <= step]
        with tsv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
            writer.writeheader()
            writer.writerows(kept)


def _last_logged(trainer: Any, key: str) -> float | None:
    for entry in reversed(trainer.state.log_history):
        if key in entry:
            return round(float(entry[key]), 6)
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _tokens_at(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return int(state.get("num_input_tokens_seen") or 0)


def _step_of(checkpoint: Path | None) -> int | None:
    return int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else None
