"""Compile benchmark: 100, 1,000 and 10,000 generated specs.

    .venv/bin/python tests/bench/bench_compile.py [--sizes 100,1000,10000]

Prints ms per spec for a full compile (parse with positions, validate, resolve, graph, emit
dvc.yaml + params + workflows) from spec text in memory, the growth ratio between sizes
(goal: 10x the specs for at most 11x the time) and, as the baseline run in the same process,
the ratio against only parsing the same YAML with libyaml (the floor any compile pays).
Goal: 1,000 specs in under 1 s.
"""

from __future__ import annotations

import argparse
import gc
import time

import yaml

from llmops.compiler.compile import compile_project
from llmops.compiler.parse import parse_project_file, parse_specs

PROJECT = "kind: Project\nname: bench\n"

UNIT = {
    "data": """kind: Dataset
name: data-{i}
description: Generated dataset {i}.
sources:
  - path: data/raw/{i}/*.jsonl
    fields: {{text: body, label: queue}}
cleaning:
  - step: normalize
  - step: dedup-exact
split: {{train: 0.8, validation: 0.1, test: 0.1}}
""",
    "prompt": """kind: Prompt
name: prompt-{i}
template: "Q: {{{{ text }}}}\\nA:"
variables: [text]
dataset: data-{i}
""",
    "tune": """kind: FineTune
name: tune-{i}
base_model: {{path: models/base}}
dataset: data-{i}
prompt: prompt-{i}
method: {{type: lora, r: 8}}
training: {{lr: 0.0002, epochs: 1}}
resources: {{gpus: 1}}
""",
    "eval": """kind: EvalSuite
name: eval-{i}
models: [{{finetune: tune-{i}}}]
baselines: [{{path: models/base}}]
dataset: data-{i}
prompt: prompt-{i}
metrics: [{{name: rouge}}, {{name: bleu}}]
""",
    "policy": """kind: Policy
name: policy-{i}
rules:
  - {{type: threshold, suite: eval-{i}, metric: rougeL, min: 0.1}}
""",
}


def generate(n_specs: int) -> dict[str, str]:
    sources = {}
    units = max(1, n_specs // len(UNIT))
    for i in range(units):
        for kind, template in UNIT.items():
            sources[f"specs/{kind}/{kind}-{i}.yaml"] = template.format(i=i)
    return sources


def compile_once(sources: dict[str, str]) -> int:
    project_file, errors = parse_project_file(PROJECT)
    assert project_file is not None and not errors
    return len(compile_project(parse_specs(project_file, sources)).files)


def parse_only(sources: dict[str, str]) -> int:
    return sum(len(yaml.compose(t, Loader=yaml.CSafeLoader).value) for t in sources.values())


def best_of(fn, sources, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn(sources)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    compile_once(generate(50))  # warm caches (schema, templates)
    previous = None
    print(f"{'specs':>7} {'compile s':>10} {'ms/spec':>8} {'growth':>7} {'yaml-only s':>12} {'vs yaml':>8}")
    for n in sizes:
        sources = generate(n)
        repeat = 3 if n <= 1000 else 1
        t = best_of(compile_once, sources, repeat)
        base = best_of(parse_only, sources, repeat)
        growth = f"{t / previous[1] / (n / previous[0]) * 10:.1f}x" if previous else "-"
        per_spec = t / len(sources) * 1000
        print(f"{len(sources):>7} {t:>10.3f} {per_spec:>8.3f} {growth:>7} {base:>12.3f} {t / base:>7.1f}x")
        previous = (n, t)
    print("growth = time ratio scaled to 10x the specs (goal <= 11x); vs yaml = compile / libyaml compose")


if __name__ == "__main__":
    main()
