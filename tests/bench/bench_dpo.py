"""Preference-tuning benchmark: the llmops tune stage with `objective: dpo` against calling
`trl.DPOTrainer` directly with the same settings.

    .venv/bin/python tests/bench/bench_dpo.py [--size small|0.5b] [--steps 20] [--rounds 3] [--threads N]

Both sides train the same LoRA (r=16, all linear layers, no reference copy: TRL scores the
reference with the adapter disabled) on the same Llama built from a config (bench_train's), the
same rendered preference rows (prompt, chosen, rejected), batch size, learning rate, schedule,
beta, max_length, clipping and precision, and the same data order (seed). The direct side is
what one writes with TRL alone: `DPOConfig` + `DPOTrainer(peft_config=...)`, without
checkpoints; the llmops side keeps its defaults (a checkpoint every quarter of the run, dvclive
logging, metrics and outputs written atomically). Tokens/s on both sides: the Trainer's count
of non-padding tokens (chosen and rejected sequences) over `trainer.train()` only; rounds
alternate the two sides and the best round of each counts.

Goal: llmops >= 0.95x direct TRL.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_train import SIZES, WORDS, build_base, tune_config

BETA = 0.1


def make_project(root: Path, rows: int, seed: int = 0) -> None:
    """Random-word questions with a chosen and a rejected answer (train split only)."""
    rng = random.Random(seed)
    folder = root / "data"
    folder.mkdir(parents=True)
    with (folder / "train.jsonl").open("w") as handle:
        for _ in range(rows):
            question = " ".join(rng.choices(WORDS, k=rng.randint(12, 40))) + "?"
            chosen, rejected = (" ".join(rng.choices(WORDS, k=rng.randint(30, 100))) + "." for _ in range(2))
            row = {"text": question, "answer": chosen, "chosen": chosen, "rejected": rejected}
            handle.write(json.dumps(row) + "\n")


def dpo_config(size: dict[str, Any], steps: int, precision: str) -> dict[str, Any]:
    config = tune_config(size, steps, precision)
    config["spec"]["objective"] = {"type": "dpo", "beta": BETA}
    return config


def run_llmops(root: Path, config: dict[str, Any]) -> float:
    from llmops.runners.registry import typed_config
    from llmops.runners.tune.run import train_stage

    return float(train_stage(typed_config(config), root)["tokens_per_s"])  # type: ignore[arg-type]


def run_direct(root: Path, config: dict[str, Any], checkpoints: bool = False) -> float:
    """DPOTrainer called by hand with the same model, rows and settings; with `checkpoints`, it
    also saves a checkpoint every quarter of the run, as llmops does for resuming."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from llmops.runners.registry import typed_config
    from llmops.training.preference_data import load_preference_rows

    typed = typed_config(config)
    t, m = config["spec"]["training"], config["spec"]["method"]
    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(root / "base")
    rows = load_preference_rows(
        typed.inputs.prompt,  # type: ignore[attr-defined]
        root,
        tokenizer,
        typed.spec.objective,  # type: ignore[attr-defined]
        dataset="data",
    ).splits["train"]
    torch.manual_seed(3)
    dtype = torch.bfloat16 if t["precision"] == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(root / "base", use_safetensors=True, dtype=dtype)
    with tempfile.TemporaryDirectory(prefix="bench-dpo-direct-") as out:
        args = DPOConfig(
            output_dir=out,
            per_device_train_batch_size=t["batch_size"],
            max_steps=t["max_steps"],
            learning_rate=t["lr"],
            lr_scheduler_type="linear",
            max_grad_norm=t["max_grad_norm"],
            bf16=t["precision"] == "bf16",
            beta=BETA,
            max_length=t["max_length"],
            gradient_checkpointing=False,
            save_strategy="steps" if checkpoints else "no",
            save_steps=max(1, t["max_steps"] // 4),
            logging_steps=10,
            report_to="none",
            seed=config["inputs"]["seed"],
            data_seed=config["inputs"]["seed"],
            use_cpu=not cuda,
            optim="adamw_torch_fused" if cuda else "adamw_torch",
            include_num_input_tokens_seen="non_padding",
            disable_tqdm=True,
        )
        lora = LoraConfig(
            task_type="CAUSAL_LM",
            r=m["r"],
            lora_alpha=m["alpha"],
            lora_dropout=0.0,
            target_modules="all-linear",
        )
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=lora,
        )
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        trainer.train()
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
    return int(trainer.state.num_input_tokens_seen) / elapsed


def main(argv: list[str]) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: its default)")
    parser.add_argument(
        "--same-checkpoints",
        action="store_true",
        help="the direct side also checkpoints every quarter of the run, as llmops does (like for like)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    size = SIZES[args.size]
    cuda = torch.cuda.is_available()
    precision = "bf16" if cuda else "fp32"
    with tempfile.TemporaryDirectory(prefix="llmops-bench-dpo-") as tmp:
        root = Path(tmp)
        make_project(root, args.rows)
        build_base(root, size)
        config = dpo_config(size, args.steps, precision)
        warm = json.loads(json.dumps(config))
        warm["spec"]["training"]["max_steps"] = 2
        run_direct(root, warm)  # warm-up: allocator, kernels, caches, TRL's imports
        best = {"llmops": 0.0, "direct": 0.0}
        ratios = []
        for round_ in range(args.rounds):
            direct = run_direct(root, config, checkpoints=args.same_checkpoints)
            ours = run_llmops(root, config)
            best["direct"], best["llmops"] = max(best["direct"], direct), max(best["llmops"], ours)
            ratios.append(ours / direct)
            print(f"round {round_ + 1}: llmops {ours:,.0f} tok/s, direct DPOTrainer {direct:,.0f} tok/s")
    device = torch.cuda.get_device_name(0) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    saving = "both checkpoint every quarter" if args.same_checkpoints else "only llmops checkpoints"
    print(f"model: Llama built from config ({args.size}), {precision}, on {device}; DPO, LoRA r=16; {saving}")
    print(f"llmops tune stage (dpo): {best['llmops']:,.0f} tokens/s")
    print(f"trl.DPOTrainer direct  : {best['direct']:,.0f} tokens/s")
    print(
        f"ratio llmops/direct    : {best['llmops'] / best['direct']:.3f} best vs best, "
        f"{sorted(ratios)[len(ratios) // 2]:.3f} median of rounds  (goal >= 0.95)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
