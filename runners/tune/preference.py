"""The tune stage for a preference objective (dpo, orpo, kto, simpo): the dataset's rows with the
Prompt rendered over them -> TRL's trainer for the objective -> the same outputs as SFT.

Only the trainer differs from SFT (`run.py`): the base model, precision, PEFT method, seed,
fingerprinted resume, multi-GPU settings, the saved folder and its card are the same code, so a
preference-tuned model is served, evaluated and gated exactly like an SFT one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import StageFailed
from llmops.hf.hardware import choose_precision
from llmops.runners.tune import launch

if TYPE_CHECKING:
    from llmops.compiler.stages.tune import TuneConfig


def train_preference_stage(
    config: TuneConfig, root: Path, *, callbacks: Sequence[Any] = ()
) -> dict[str, Any]:
    """Train with TRL and write the outputs; returns the metrics."""
    import torch

    from llmops.hf.loading import load_causal_lm, load_tokenizer, resolve_location
    from llmops.runners.tune.methods import peft_config, quantization_config, trainable_parameters
    from llmops.runners.tune.run import _base_stamp, finish
    from llmops.training.preference import train_preference
    from llmops.training.preference_data import load_preference_rows
    from llmops.training.trainer import RunPlan, fingerprint

    spec, inputs = config.spec, config.inputs
    training, method, objective = spec.training, spec.method, spec.objective
    precision = choose_precision(training.precision, method.type)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    name, revision = resolve_location(inputs.base_model, root)
    tokenizer = load_tokenizer(name, revision)
    data = load_preference_rows(
        inputs.prompt,
        root,
        tokenizer,
        objective,
        dataset=inputs.dataset,
        retrieval_index=getattr(inputs, "retrieval_index", None),
    )
    if not data.splits.get("train"):
        raise StageFailed(f"{config.stage}: the train split has no rows")

    torch.manual_seed(inputs.seed)
    model = load_causal_lm(
        name,
        revision,
        root,
        dtype=dtype if method.type != "qlora" else None,
        quantization=quantization_config(method, dtype),
    )
    if method.type == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=training.gradient_checkpointing
        )
    work = root / ".llmops" / "work" / config.stage
    plan = RunPlan(
        work=work,
        fingerprint=fingerprint(config.params(), data.data_hashes, _base_stamp(name, revision)),
        training=training,
        seed=inputs.seed,
        precision=precision,
        distributed=launch.trainer_settings(spec.resources, method.type, work),
    )
    result = train_preference(
        model,
        tokenizer,
        objective,
        data.splits["train"],
        data.splits.get("validation", []),
        plan,
        peft_config=peft_config(method, name),  # TRL wraps the model; no PEFT model passed in
        callbacks=callbacks,
    )
    if not result.trainer.is_world_process_zero():
        return result.metrics
    parameters = trainable_parameters(result.trainer.model)
    counts = {"train_examples": len(data.splits["train"]), "truncated_prompts": data.truncated_prompts}
    return finish(config, root, result, tokenizer, precision, parameters, counts, data, work)
