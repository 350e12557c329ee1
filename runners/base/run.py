"""The base stage: train a tokenizer on a Dataset, build a small Llama from a config, and
optionally pretrain it on the same text, so tests and the CPU example tune a real model that
was never downloaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import replace_dir, write_text
from llmops.errors import StageFailed, UsageError

if TYPE_CHECKING:
    from llmops.compiler.kinds.finetune import BuildBase
    from llmops.compiler.stages.base import BaseConfig

LLAMA_DEFAULTS: dict[str, Any] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": True,
    "rms_norm_eps": 1e-6,
}


def corpus(dataset_dir: Path, columns: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """(train texts, validation texts, file hashes) from the dataset's splits."""
    from llmops.hashing import file_sha256

    texts: dict[str, list[str]] = {"train": [], "validation": []}
    hashes = {}
    for split in texts:
        path = dataset_dir / f"{split}.jsonl"
        if not path.is_file():
            continue
        hashes[f"{dataset_dir.name}/{split}.jsonl"] = file_sha256(path)
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    parts = [str(row[c]) for c in columns if row.get(c) not in (None, "")]
                    if parts:
                        texts[split].append("\n".join(parts))
    if not texts["train"]:
        raise StageFailed(f"{dataset_dir}: no text in columns {', '.join(columns)} of the train split")
    return texts["train"], texts["validation"], hashes


def llama_config(build: BuildBase, tokenizer: Any) -> Any:
    from transformers import LlamaConfig

    values: dict[str, Any] = {**LLAMA_DEFAULTS, **build.config}
    values.setdefault("intermediate_size", int(values["hidden_size"]) * 4)
    values.setdefault("num_key_value_heads", values["num_attention_heads"])
    try:
        return LlamaConfig(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **values,
        )
    except Exception as exc:  # transformers validates configs with its own error types
        detail = str(exc).strip().splitlines()[-1].strip()
        raise StageFailed(f"base_model.build.config is not a valid Llama config: {detail}") from None


def run(config: BaseConfig, root: Path) -> None:
    import torch
    from transformers import LlamaForCausalLM

    from llmops.compiler.kinds.finetune import Training
    from llmops.hf.hardware import choose_precision
    from llmops.runners.base.tokenizer import train_tokenizer
    from llmops.training.examples import Example
    from llmops.training.tokenize import encode
    from llmops.training.trainer import RunPlan, fingerprint, train

    build = config.spec.base_model.build
    if build is None:
        raise UsageError(f"{config.stage}: the FineTune's base_model builds nothing; run `llmops compile`")
    seed = config.inputs.seed
    train_texts, eval_texts, hashes = corpus(root / config.inputs.dataset, build.text_columns)
    tokenizer = train_tokenizer(train_texts, build.vocab_size)
    model_config = llama_config(build, tokenizer)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(model_config)
    metrics: dict[str, Any] = {
        "params": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "corpus_texts": len(train_texts),
        "pretrain_steps": build.pretrain_steps,
    }
    work = root / ".llmops" / "work" / config.stage
    if build.pretrain_steps:
        encode_args = {"max_length": build.max_length, "completion_only": False, "packing": True}
        rows = encode([Example("", t) for t in train_texts], tokenizer, **encode_args)
        held = encode([Example("", t) for t in eval_texts], tokenizer, **encode_args) if eval_texts else None
        training = Training(
            epochs=1,
            max_steps=build.pretrain_steps,
            lr=build.pretrain_lr,
            scheduler="cosine",
            warmup_ratio=0.05,
            batch_size=build.pretrain_batch_size,
            grad_accum=1,
            logging_steps=max(1, build.pretrain_steps // 20),
        )
        plan = RunPlan(
            work=work,
            fingerprint=fingerprint(config.params(), hashes),
            training=training,
            seed=seed,
            precision=choose_precision("auto", "full"),
        )
        result = train(model, tokenizer, rows.rows, held.rows if held else [], plan)
        model = result.trainer.model
        metrics.update({f"pretrain_{k}": v for k, v in result.metrics.items()})
    card = {
        "stage": config.stage,
        "runner_version": config.runner_version,
        "adapter": False,
        "built": build.model_dump(mode="json"),
        "data": hashes,
        "metrics": metrics,
    }
    with replace_dir(root / config.outputs.outs[0]) as staging:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        (staging / "llmops-model.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    for path in config.outputs.metrics:
        write_text(root / path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(work, ignore_errors=True)
