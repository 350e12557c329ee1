"""Compile benchmark: 50, 1,000 and 5,000 generated specs, in memory and through the CLI.

    .venv/bin/python tests/bench/bench_compile.py [--sizes 50,1000,5000] [--repeat 3] [--no-cli]

In memory: ms per spec for a full compile (parse with positions, validate, resolve, graph, emit
dvc.yaml + params + workflows) from spec text, the growth ratio between sizes (goal: 10x the
specs for at most 11x the time), the ratio against only parsing the same YAML with libyaml (the
floor any compile pays), and the dvc.yaml + params emit against the same emit through the general
writers (`yaml.dump` with libyaml, `json.dumps(indent=2)`), which give the same bytes.

CLI: wall and CPU seconds of `llmops compile` in a subprocess, on a project generated on disk:
cold is the first run after generating (it writes every file), warm the best of the runs after
(nothing to write). The baseline, run in the same command on its own copy of the project, is the
same CLI with the general writers, one atomic write with two fsyncs per file, networkx for the
graph, PyYAML's own resolver callbacks and the garbage collector on (what the compile did
before). Both run with bytecode cached, as an installed llmops does (in a temporary
PYTHONPYCACHEPREFIX, so the tree stays clean). Run on a tree from before the dedicated writers
(through PYTHONPATH), the baseline columns read nan and the other figures are that tree's.
Goal: 1,000 specs in under 1 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from llmops.compiler.compile import compile_project
from llmops.compiler.parse import parse_project_file, parse_specs

PROJECT = "kind: Project\nname: bench\nstorage: {remote: {url: /srv/dvc-remote}}\n"

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


def has_general_writers() -> bool:
    """False for a tree from before the dedicated writers (to measure it the same way)."""
    from llmops.compiler.emit import dvc

    return hasattr(dvc, "reference_yaml")


def emit_times(sources: dict[str, str], repeat: int) -> tuple[float, float]:
    """(dedicated writers, general writers): seconds to emit dvc.yaml and the params files."""
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.emit import dvc

    project_file, _ = parse_project_file(PROJECT)
    _, graph = plan_graph(parse_specs(project_file, sources))
    fast = best_of(lambda _: dvc.emit_dvc(graph), None, repeat)
    if not has_general_writers():
        return fast, float("nan")
    files = dvc.emit_dvc(graph)
    saved = dvc.block_yaml, dvc.json_text
    dvc.block_yaml, dvc.json_text = dvc.reference_yaml, _general_json
    try:
        general = best_of(lambda _: dvc.emit_dvc(graph), None, repeat)
        assert dvc.emit_dvc(graph) == files  # the same bytes
    finally:
        dvc.block_yaml, dvc.json_text = saved
    return fast, general


def _general_json(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- the CLI on disk --------------------------------------------------------------------------

# The baseline CLI: today's `llmops compile` with what the compile used before put back.
BASELINE = """
import json, sys
import networkx as nx
import yaml
from llmops.atomic import write_bytes
from llmops.cli import generated, main as cli
from llmops.compiler import compile as pipeline, read_yaml
from llmops.compiler.emit import dvc
dvc.block_yaml = dvc.reference_yaml
dvc.json_text = lambda d: json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False) + "\\n"
generated.write_many = lambda files: [write_bytes(p, d) for p, d in files.items()]
cli.NO_GC = set()
for name in ("resolve", "descend_resolver", "ascend_resolver"):
    setattr(read_yaml._Loader, name, getattr(yaml.resolver.BaseResolver, name))
build_graph = pipeline.build_graph
def networkx_graph(stages):
    graph = nx.DiGraph()
    for s in stages:
        graph.add_node(s.name, stage=s)
    graph.add_edges_from((u, s.name) for s in stages for u in s.upstream)
    try:
        nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        list(nx.lexicographical_topological_sort(graph))
    return build_graph(stages)
pipeline.build_graph = networkx_graph
sys.exit(cli.main(sys.argv[1:]))
"""


def write_project(root: Path, n_specs: int) -> None:
    (root / "specs").mkdir(parents=True)
    (root / "llmops.yaml").write_text(PROJECT)
    for rel, text in generate(n_specs).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.sync()  # so the compile's own flushes do not also pay for the generator's writes


def run_cli(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one CLI process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cli_times(n_specs: int, work: Path, env: dict[str, str], repeat: int) -> dict[str, tuple[float, float]]:
    commands = {"llmops": [sys.executable, "-m", "llmops.cli"]}
    if has_general_writers():
        commands["baseline"] = [sys.executable, "-c", BASELINE]
    nan = (float("nan"), float("nan"))
    found = {"baseline cold": nan, "baseline warm": nan}
    for label, command in commands.items():
        root = work / f"{label}-{n_specs}"
        write_project(root, n_specs)
        argv = [*command, "-C", str(root), "compile"]
        found[f"{label} cold"] = run_cli(argv, env)
        runs = [run_cli(argv, env) for _ in range(repeat)]
        found[f"{label} warm"] = min(runs)
        check = subprocess.run(
            [*command, "-C", str(root), "compile", "--check"], env=env, capture_output=True
        )
        assert check.returncode == 0, check.stderr
        shutil.rmtree(root)
    return found


def cli_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,1000,5000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per warm figure (the best counts)")
    parser.add_argument("--no-cli", action="store_true", help="only the in-memory compile")
    parser.add_argument("--no-memory", action="store_true", help="only the CLI")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not args.no_memory:
        in_memory(sizes, args.repeat)
    if not args.no_cli:
        through_cli(sizes, args.repeat)


def in_memory(sizes: list[int], repeat: int) -> None:
    compile_once(generate(50))  # warm caches (schema, templates)
    previous = None
    print("in memory (seconds, best of the runs)")
    print(
        f"{'specs':>7} {'compile s':>10} {'ms/spec':>8} {'growth':>7} {'yaml-only s':>12} {'vs yaml':>8}"
        f" {'emit s':>7} {'general s':>10} {'speed-up':>9}"
    )
    for n in sizes:
        sources = generate(n)
        times = repeat if n <= 1000 else 1
        t = best_of(compile_once, sources, times)
        base = best_of(parse_only, sources, times)
        emit, general = emit_times(sources, times)
        growth = f"{t / previous[1] / (n / previous[0]) * 10:.1f}x" if previous else "-"
        per_spec = t / len(sources) * 1000
        print(
            f"{len(sources):>7} {t:>10.3f} {per_spec:>8.3f} {growth:>7} {base:>12.3f} {t / base:>7.1f}x"
            f" {emit:>7.3f} {general:>10.3f} {general / emit:>8.1f}x"
        )
        previous = (n, t)
    print("growth = time ratio scaled to 10x the specs (goal <= 11x); vs yaml = compile / libyaml compose")
    print("emit = dvc.yaml + params files; general = the same bytes through yaml.dump and json.dumps")


def through_cli(sizes: list[int], repeat: int) -> None:
    print("\n`llmops compile` (wall s / CPU s; cold = first run after generating, warm = best after)")
    print(
        f"{'specs':>7} {'cold':>13} {'warm':>13} {'baseline cold':>14} {'baseline warm':>14}"
        f" {'cold x':>7} {'warm x':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="llmops-bench-") as tmp:
        work = Path(tmp)
        env = cli_env(work)
        cli_times(5, work, env, 1)  # fill the bytecode cache for both
        for n in sizes:
            t = cli_times(n, work, env, repeat)
            cells = [f"{t[k][0]:>6.2f}/{t[k][1]:<5.2f}" for k in ("llmops cold", "llmops warm")]
            cells += [f"{t[k][0]:>7.2f}/{t[k][1]:<5.2f}" for k in ("baseline cold", "baseline warm")]
            cold = t["baseline cold"][0] / t["llmops cold"][0]
            warm = t["baseline warm"][0] / t["llmops warm"][0]
            print(f"{n:>7} {' '.join(cells)} {cold:>6.1f}x {warm:>6.1f}x")
    print("x = baseline wall time / llmops wall time (goal: 1,000 specs warm and cold under 1 s)")


if __name__ == "__main__":
    main()
