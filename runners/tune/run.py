"""The tune stage: examples -> tokens -> Trainer with a PEFT method -> model folder + metrics.

Reads only its resolved stage config; writes its outputs whole (model folder, metrics JSON,
dvclive plots) only after training succeeded, so a failed run leaves the previous model in
place and an interrupted one resumes from its checkpoint on the next `dvc repro`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import replace_dir, write_text
from llmops.errors import StageFailed
from llmops.hf.hardware import choose_precision
from llmops.runners.tune import launch

if TYPE_CHECKING:
    from llmops.compiler.stages.tune import TuneConfig


def run(config: TuneConfig, root: Path) -> None:
    spec = config.spec
    choose_precision(spec.training.precision, spec.method.type)  # fail before launching
    if launch.needs_launch(spec.resources):
        work = root / ".llmops" / "work" / config.stage
        work.mkdir(parents=True, exist_ok=True)
        config_file = work / "config.json"
        # the worker processes validate it again (llmops.runners.registry.typed_config)
        config_file.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
        command = launch.launch_command(config_file, root, spec.resources.gpus)
        if subprocess.run(command, cwd=root, check=False).returncode != 0:
            raise StageFailed(f"{config.stage}: a training process failed; see its output above")
        return
    train_stage(config, root)


def train_stage(config: TuneConfig, root: Path, *, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train and write the outputs; returns the metrics. `callbacks` go to the Trainer (tests).
    A preference objective (dpo, orpo, kto, simpo) trains with TRL (`preference.py`)."""
    if config.spec.objective.preference:
        from llmops.runners.tune.preference import train_preference_stage

        return train_preference_stage(config, root, callbacks=callbacks)
    import torch

    from llmops.hf.loading import load_causal_lm, load_tokenizer, resolve_location
    from llmops.runners.tune.methods import prepare, quantization_config, trainable_parameters
    from llmops.training.examples import load_examples
    from llmops.training.tokenize import encode
    from llmops.training.trainer import RunPlan, fingerprint, train

    spec, inputs = config.spec, config.inputs
    training, method = spec.training, spec.method
    precision = choose_precision(training.precision, method.type)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    name, revision = resolve_location(inputs.base_model, root)
    tokenizer = load_tokenizer(name, revision)
    examples = load_examples(
        inputs.prompt,
        root,
        tokenizer,
        dataset=inputs.dataset,
        examples=inputs.examples,
        retrieval_index=getattr(inputs, "retrieval_index", None),
    )
    if not examples.splits.get("train"):
        raise StageFailed(f"{config.stage}: the train split has no examples")
    encode_args = {
        "max_length": training.max_length,
        "completion_only": training.completion_only_loss,
        "packing": training.packing,
    }
    train_set = encode(examples.splits["train"], tokenizer, **encode_args)
    eval_set = encode(examples.splits.get("validation", []), tokenizer, **encode_args)

    seed = inputs.seed
    torch.manual_seed(seed)
    model = load_causal_lm(
        name,
        revision,
        root,
        dtype=dtype if method.type != "qlora" else None,
        quantization=quantization_config(method, dtype),
    )
    model = prepare(model, method, name, training.gradient_checkpointing)
    trainable, total = trainable_parameters(model)
    work = root / ".llmops" / "work" / config.stage
    plan = RunPlan(
        work=work,
        fingerprint=fingerprint(config.params(), examples.data_hashes, _base_stamp(name, revision)),
        training=training,
        seed=seed,
        precision=precision,
        distributed=launch.trainer_settings(spec.resources, method.type, work),
    )
    result = train(model, tokenizer, train_set.rows, eval_set.rows, plan, callbacks=callbacks)
    if not result.trainer.is_world_process_zero():
        return result.metrics

    counts = {"train_examples": len(examples.splits["train"]), "truncated_examples": train_set.truncated}
    return finish(config, root, result, tokenizer, precision, (trainable, total), counts, examples, work)


def finish(
    config: TuneConfig,
    root: Path,
    result: Any,
    tokenizer: Any,
    precision: str,
    parameters: tuple[int, int],
    counts: dict[str, Any],
    examples: Any,
    work: Path,
) -> dict[str, Any]:
    """The metrics of a finished run (supervised or preference), its model card and outputs."""
    metrics = {
        **result.metrics,
        "method": config.spec.method.type,
        "precision": precision,
        "trainable_params": parameters[0],
        "total_params": parameters[1],
        **counts,
        "resumed_from_step": result.resumed_from,
    }
    card = model_card(config, examples.prompt_hash, examples.data_hashes, precision, metrics)
    write_outputs(config, root, result.trainer.model, tokenizer, card, metrics, work)
    return metrics


def model_card(
    config: TuneConfig, prompt_hash: str, data: dict[str, str], precision: str, metrics: dict[str, Any]
) -> dict[str, Any]:
    """What the saved folder says about itself (`llmops-model.json`)."""
    spec, inputs = config.spec, config.inputs
    card = {
        "stage": config.stage,
        "runner_version": config.runner_version,
        "adapter": spec.method.type != "full",
        "method": spec.method.model_dump(mode="json"),
        "base_model": inputs.base_model.model_dump(mode="json"),
        "prompt_hash": prompt_hash,
        "data": data,
        "training": {**spec.training.model_dump(mode="json"), "precision": precision, "seed": inputs.seed},
        "metrics": {k: v for k, v in metrics.items() if k not in ("wall_time_s", "tokens_per_s")},
    }
    if spec.objective.preference:
        card["objective"] = spec.objective.model_dump(mode="json")
    return card


def write_outputs(
    config: TuneConfig,
    root: Path,
    model: Any,
    tokenizer: Any,
    card: dict[str, Any],
    metrics: dict[str, Any],
    work: Path,
) -> None:
    """Model folder, plots and metrics, each replaced whole; then the work folder goes."""
    from llmops.runners.tune.save import base_label, save_model
    from llmops.training.trainer import export_plots

    outputs, method = config.outputs, config.spec.method
    model_out = root / outputs.outs[0]
    with replace_dir(model_out) as staging:
        save_model(
            staging,
            model,
            tokenizer,
            card,
            merge=method.merge,
            base_label=base_label(config.inputs.base_model),
        )
    for plots in outputs.plots:
        with replace_dir(root / plots) as staging:
            export_plots(work, staging)
    for path in outputs.metrics:
        write_text(root / path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(work, ignore_errors=True)


def _base_stamp(name: str, revision: str | None) -> list[Any]:
    """Identity of the base weights, cheap enough for a 70B folder: names, sizes, mtimes."""
    folder = Path(name)
    if revision is not None or not folder.is_dir():
        return [name, revision]
    return sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in folder.iterdir() if p.is_file())
