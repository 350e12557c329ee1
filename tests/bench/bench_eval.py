"""Evaluation benchmark: examples/s for generation plus scoring, and the share spent scoring.

    .venv/bin/python tests/bench/bench_eval.py [--examples 256] [--size small|0.5b] \
        [--engines transformers,vllm]

Builds a Llama from a config (the bench_train sizes), a dataset of support-like questions and
answers, and runs the real eval stage (`llmops.runners.eval.run`) with ROUGE, BLEU, chrF,
exact match and perplexity and 1,000 bootstrap resamples. It prints examples/s (generation +
scoring) and the scoring share the stage records, once in a fresh state (paying `import
evaluate` and module loading) and once warm. With `--engines transformers,vllm` on a CUDA
machine it runs both engines on the same suite and prints the speed ratio and the largest metric
difference between them (greedy decoding, so predictions should agree).

Goal: scoring under 5% of the time; vLLM >= 3x Transformers on a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import SIZES, build_base, make_project


def eval_config(engine: str, batch: int, max_new_tokens: int) -> dict[str, Any]:
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
    metrics = [
        {"name": n, "callable": None, "args": {}}
        for n in ("rouge", "bleu", "chrf", "exact_match", "perplexity")
    ]
    return {
        "stage": "eval-bench",
        "kind": "eval",
        "runner_version": 1,
        "spec": {
            "kind": "EvalSuite",
            "name": "bench",
            "models": [{"path": "base"}],
            "dataset": "bench",
            "prompt": "bench",
            "split": "test",
            "metrics": metrics,
            "generation": {
                "max_new_tokens": max_new_tokens,
                "temperature": 0.0,
                "top_p": 1.0,
                "stop": [],
                "seed": None,
                "batch_size": batch,
                "engine": engine,
            },
            "bootstrap": {"samples": 1000, "confidence": 0.95},
        },
        "inputs": {
            "dataset": "data",
            "prompt": prompt,
            "seed": 1,
            "models": [{"label": "path:base", "path": "base"}],
            "baselines": [],
        },
        "outputs": {"outs": ["evals"], "metrics": ["metrics.json"], "plots": [], "reports": []},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--engines", default="transformers")
    args = parser.parse_args(argv)
    from llmops.runners.eval.run import run
    from llmops.runners.registry import typed_config

    results = {}
    with tempfile.TemporaryDirectory(prefix="llmops-bench-eval-") as tmp:
        root = Path(tmp)
        make_project(root, 64)
        test_rows = (root / "data" / "train.jsonl").read_text().splitlines()
        rows = (test_rows * (args.examples // len(test_rows) + 1))[: args.examples]
        (root / "data" / "test.jsonl").write_text("\n".join(rows) + "\n")
        build_base(root, SIZES[args.size])
        for engine in args.engines.split(","):
            for state in ("cold", "warm"):
                started = time.perf_counter()
                run(typed_config(eval_config(engine, 32, args.max_new_tokens)), root)  # type: ignore[arg-type]
                wall = time.perf_counter() - started
                metrics = json.loads((root / "metrics.json").read_text())
                speed = metrics["speed"]
                results[(engine, state)] = (speed, metrics["models"]["path:base"], wall)
                print(
                    f"{engine:<12} {state}: {speed['examples_per_s']:.1f} examples/s (generation + scoring), "
                    f"scoring {speed['scoring_share']:.1%} of that; stage wall {wall:.1f}s"
                )
    engines = args.engines.split(",")
    if len(engines) == 2:
        (a, _, _), (b, _, _) = results[(engines[0], "warm")], results[(engines[1], "warm")]
        print(f"speed ratio {engines[1]}/{engines[0]}: {b['examples_per_s'] / a['examples_per_s']:.2f}x")
        ma, mb = results[(engines[0], "warm")][1], results[(engines[1], "warm")][1]
        diff = max(abs(ma[k] - mb[k]) for k in ma if k in mb and isinstance(ma[k], float) and "_ci_" not in k)
        print(f"largest metric difference between engines: {diff:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
