"""Training benchmark: the llmops tune stage against a hand-written Transformers + PEFT loop.

    .venv/bin/python tests/bench/bench_train.py [--size small|0.5b] [--steps 30] [--rounds 5] [--threads N]

Both sides train the same LoRA (r=16, all linear layers) on the same Llama built from a config
(with a tokenizer trained on the bench data by the base stage), the same tokenized batches,
batch size, learning rate, schedule, gradient clipping and precision. The hand-written loop is
what one would write without llmops: `get_peft_model`, AdamW, a linear schedule, autocast on
GPU, `loss.backward()`, clip, step. Each side's tokens/s counts non-padding tokens over its
training loop only (model loading and saving excluded); rounds alternate the two sides and the
best round of each counts. Both draw batches in the same order (the Trainer's seedable sampler
seeded with the stage's seed, which the hand loop's `RandomSampler` generator reproduces), so
both pad the same batches and count the same tokens. On CUDA it also prints MFU, counting 4N
FLOPs per token for LoRA (forward 2N + backward through activations 2N; frozen weights need no
weight gradients). The llmops side keeps its defaults: a checkpoint every quarter of the run
(so an interrupted run resumes), dvclive logging every 10 steps.

Goal: llmops >= 0.95x the hand-written loop on CPU; MFU >= 30% on an H100 with --size 0.5b.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES: dict[str, dict[str, Any]] = {
    "small": {
        "config": {
            "hidden_size": 256,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "intermediate_size": 1024,
        },
        "vocab": 2000,
        "max_length": 256,
        "batch": 8,
    },
    "0.5b": {
        "config": {
            "hidden_size": 1024,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "intermediate_size": 4096,
        },
        "vocab": 32000,
        "max_length": 1024,
        "batch": 16,
    },
}
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}
WORDS = (  # noqa: SIM905 - a sentence reads better than a 40-item list
    "order parcel refund account password invoice delivery return exchange warranty battery screen "
    "charger update subscription plan billing address card payment tracking courier label box size "
    "colour replacement store app login email code support hours weekend holiday"
).split()


def make_project(root: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    folder = root / "data"
    folder.mkdir(parents=True)
    for split, count in (("train", rows), ("validation", 0), ("test", 0)):
        with (folder / f"{split}.jsonl").open("w") as handle:
            for _ in range(count):
                question = " ".join(rng.choices(WORDS, k=rng.randint(12, 40))) + "?"
                answer = " ".join(rng.choices(WORDS, k=rng.randint(40, 160))) + "."
                handle.write(json.dumps({"text": question, "answer": answer}) + "\n")


def build_base(root: Path, size: dict[str, Any]) -> None:
    from llmops.runners.base.run import run
    from llmops.runners.registry import typed_config

    build = {
        "architecture": "llama",
        "config": size["config"],
        "tokenizer_dataset": "bench",
        "vocab_size": size["vocab"],
        "pretrain_steps": 0,
        "pretrain_lr": 1e-3,
        "pretrain_batch_size": 8,
        "max_length": 128,
        "text_columns": ["text", "answer"],
    }
    config = {
        "stage": "base-bench",
        "kind": "base",
        "runner_version": 1,
        "spec": {"name": "bench", "base_model": {"build": build}},
        "inputs": {"dataset": "data", "seed": 1},
        "outputs": {"outs": ["base"], "metrics": [], "plots": [], "reports": []},
    }
    run(typed_config(config), root)  # type: ignore[arg-type]


def tune_config(size: dict[str, Any], steps: int, precision: str) -> dict[str, Any]:
    prompt = {
        "kind": "Prompt",
        "name": "bench",
        "template": "Question: {{ text }}\nAnswer:",
        "template_file": None,
        "system": None,
        "variables": ["text"],
        "completion": "answer",
        "chat_format": "none",
        "few_shot": [],
        "tests": [],
        "dataset": None,
        "limits": {},
        "resources": {"gpus": 0},
    }
    training = {
        "epochs": 1,
        "max_steps": steps,
        "lr": 2e-4,
        "scheduler": "linear",
        "warmup_ratio": 0.0,
        "batch_size": size["batch"],
        "grad_accum": 1,
        "max_length": size["max_length"],
        "packing": False,
        "precision": precision,
        "gradient_checkpointing": False,
        "completion_only_loss": True,
        "seed": None,
        "eval_steps": None,
        "save_steps": None,
        "logging_steps": 10,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
    }
    method = {
        "type": "lora",
        "r": 16,
        "alpha": 32,
        "dropout": 0.0,
        "target_modules": "all-linear",
        "num_virtual_tokens": 8,
        "prompt_tuning_init_text": None,
        "merge": False,
    }
    return {
        "stage": "tune-bench",
        "kind": "tune",
        "runner_version": 1,
        "spec": {
            "kind": "FineTune",
            "name": "bench",
            "base_model": {"path": "base"},
            "dataset": "bench",
            "prompt": "bench",
            "method": method,
            "training": training,
            "resources": {"gpus": 0},
        },
        "inputs": {
            "dataset": "data",
            "examples": None,
            "prompt": prompt,
            "base_model": {"path": "base"},
            "seed": 3,
        },
        "outputs": {"outs": ["model"], "metrics": ["metrics.json"], "plots": [], "reports": []},
    }


def run_llmops(root: Path, config: dict[str, Any]) -> float:
    from llmops.runners.registry import typed_config
    from llmops.runners.tune.run import train_stage

    return float(train_stage(typed_config(config), root)["tokens_per_s"])  # type: ignore[arg-type]


def run_hand_loop(root: Path, config: dict[str, Any]) -> float:
    """The loop a user would write by hand with the same model, data and settings."""
    import torch
    from peft import LoraConfig, get_peft_model
    from torch.utils.data import DataLoader, RandomSampler
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_linear_schedule_with_warmup

    from llmops.runners.registry import typed_config
    from llmops.training.examples import load_examples
    from llmops.training.tokenize import PadCollator, encode

    t = config["spec"]["training"]
    inputs = typed_config(config).inputs
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(root / "base")
    examples = load_examples(
        inputs.prompt,
        root,
        tokenizer,
        dataset=inputs.dataset,
        examples=inputs.examples,  # type: ignore[attr-defined]
    ).splits["train"]
    rows = encode(examples, tokenizer, max_length=t["max_length"], completion_only=True, packing=False).rows
    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(root / "base", use_safetensors=True).to(device)
    m = config["spec"]["method"]
    model = get_peft_model(
        model,
        LoraConfig(
            task_type="CAUSAL_LM",
            r=m["r"],
            lora_alpha=m["alpha"],
            lora_dropout=m["dropout"],
            target_modules="all-linear",
        ),
    )
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=t["lr"], weight_decay=0.0, fused=device == "cuda")
    schedule = get_linear_schedule_with_warmup(optimizer, 0, t["max_steps"])
    loader = DataLoader(
        rows,
        batch_size=t["batch_size"],
        sampler=RandomSampler(rows, generator=torch.Generator().manual_seed(config["inputs"]["seed"])),
        collate_fn=PadCollator(tokenizer.pad_token_id),
    )
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=t["precision"] == "bf16")
    tokens, step = 0, 0
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    while step < t["max_steps"]:
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast:
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, t["max_grad_norm"])
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            tokens += int(batch["attention_mask"].sum())
            step += 1
            if step == t["max_steps"]:
                break
    if device == "cuda":
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - started)


def main(argv: list[str]) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: its default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    size = SIZES[args.size]
    cuda = torch.cuda.is_available()
    precision = "bf16" if cuda else "fp32"
    with tempfile.TemporaryDirectory(prefix="llmops-bench-train-") as tmp:
        root = Path(tmp)
        make_project(root, args.rows)
        build_base(root, size)
        config = tune_config(size, args.steps, precision)
        run_hand_loop(
            root,
            {
                **config,
                "spec": {**config["spec"], "training": {**config["spec"]["training"], "max_steps": 2}},
            },
        )  # warm-up: allocator, kernels, caches
        best = {"llmops": 0.0, "hand": 0.0}
        ratios = []
        for round_ in range(args.rounds):
            hand = run_hand_loop(root, config)
            ours = run_llmops(root, config)
            best["hand"], best["llmops"] = max(best["hand"], hand), max(best["llmops"], ours)
            ratios.append(ours / hand)
            print(f"round {round_ + 1}: llmops {ours:,.0f} tok/s, hand-written {hand:,.0f} tok/s")
        from transformers import AutoModelForCausalLM

        n_params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(root / "base").parameters())
    device = torch.cuda.get_device_name(0) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"model: Llama built from config, {n_params / 1e6:.1f}M parameters, {precision}, on {device}")
    print(f"llmops tune stage : {best['llmops']:,.0f} tokens/s")
    print(f"hand-written loop : {best['hand']:,.0f} tokens/s")
    print(
        f"ratio llmops/hand : {best['llmops'] / best['hand']:.3f} best vs best, "
        f"{sorted(ratios)[len(ratios) // 2]:.3f} median of rounds  (goal >= 0.95)"
    )
    if cuda:
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in device), None)
        if peak:
            for side in ("llmops", "hand"):
                mfu = best[side] * 4 * n_params / (peak * 1e12)
                print(f"MFU {side:<7}: {mfu:.1%} of {peak:.0f} TFLOPS bf16 (4N FLOPs/token, LoRA)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
