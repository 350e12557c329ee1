"""lm-evaluation-harness tasks in the eval stage, for real and offline: a five-question local
multiple-choice task (tests/fixtures/harness/tiny_qa) on the tiny LoRA-tuned Llama and its base;
the figures land under `<task>/<metric>` with intervals, and a Policy gate reads them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from llmops.compiler.kinds.policy import Policy
from llmops.errors import StageFailed
from llmops.gates import Results, disk_reader, evaluate
from llmops.runners.registry import typed_config

pytest.importorskip("lm_eval")

FIXTURE = Path(__file__).parents[2] / "fixtures" / "harness"


def harness_config(prompt: dict[str, Any] | None = None, **harness: Any) -> dict[str, Any]:
    """`.llmops/stages/eval-bench.json` as `llmops compile` writes it; with `prompt`, the suite
    also has a metric (the mixed path: generation and harness on the same models)."""
    spec: dict[str, Any] = {
        "kind": "EvalSuite",
        "name": "bench",
        "models": [{"finetune": "tiny"}],
        "baselines": [{"base_of": "tiny"}],
        "harness": {
            "tasks": ["tiny_qa"],
            "include_path": "harness",
            "num_fewshot": None,
            "limit": None,
            "batch_size": 8,
            **harness,
        },
        "bootstrap": {"samples": 100, "confidence": 0.95},
    }
    inputs: dict[str, Any] = {
        "seed": 7,
        "models": [{"label": "finetune:tiny", "path": "models/tiny"}],
        "baselines": [{"label": "base_of:tiny", "path": "base"}],
    }
    if prompt is not None:
        spec |= {
            "dataset": "qa",
            "prompt": "qa",
            "generation": {"max_new_tokens": 4, "batch_size": 8},
            "metrics": [{"name": "exact_match", "callable": None, "args": {}}],
        }
        inputs |= {"dataset": "data/qa", "prompt": prompt}
    return {
        "stage": "eval-bench",
        "kind": "eval",
        "runner_version": 1,
        "spec": spec,
        "inputs": inputs,
        "outputs": {
            "outs": ["artifacts/evals/bench"],
            "metrics": ["metrics/eval-bench.json"],
            "plots": ["plots/eval-bench/scores.csv"],
            "reports": ["reports/eval-bench.md"],
        },
    }


@pytest.fixture
def project(tuned_project: Path) -> Path:
    shutil.copytree(FIXTURE, tuned_project / "harness")
    return tuned_project


def test_harness_task_scores_every_model_and_a_gate_reads_it(project: Path):
    from llmops.runners.eval.run import run

    before = {p.name for p in project.iterdir()}
    run(typed_config(harness_config()), project)
    # the harness runs in the project root: it leaves nothing there but the stage's outputs
    assert {p.name for p in project.iterdir()} - before <= {"artifacts", "metrics", "plots", "reports"}
    metrics = json.loads((project / "metrics/eval-bench.json").read_text())
    tuned, base = metrics["models"]["finetune:tiny"], metrics["baselines"]["base_of:tiny"]
    for figures in (tuned, base):
        assert 0.0 <= figures["tiny_qa/acc"] <= 1.0
        assert figures["tiny_qa/acc_ci_low"] <= figures["tiny_qa/acc"] <= figures["tiny_qa/acc_ci_high"]
    delta = metrics["deltas"]["finetune:tiny"]["base_of:tiny"]["tiny_qa/acc"]
    assert delta == pytest.approx(tuned["tiny_qa/acc"] - base["tiny_qa/acc"], abs=1e-6)
    assert metrics["harness"]["tasks"]["tiny_qa"]["n"] == 5
    assert {key.partition("_ci")[0] for key in tuned} == {"tiny_qa/acc"}  # no sample count, no `n`
    assert "tiny_qa/acc" not in metrics["_directions"]  # higher is better
    report = (project / "reports/eval-bench.md").read_text()
    assert "| tiny_qa | 5 |" in report and "- `finetune:tiny` vs `base_of:tiny`: tiny_qa/acc +" in report
    raw = json.loads((project / "artifacts/evals/bench/harness.json").read_text())
    assert "acc,none" in raw["base_of:tiny"]["results"]["tiny_qa"]

    policy = Policy.model_validate(
        {
            "kind": "Policy",
            "name": "release",
            "rules": [
                {"type": "threshold", "suite": "bench", "metric": "tiny_qa/acc", "min": 0.0},
                {"type": "threshold", "suite": "bench", "metric": "tiny_qa/acc", "min": 1.01},
            ],
        }
    )
    checked = evaluate(policy, Results(["metrics/eval-bench.json"], "release", disk_reader(project)))
    assert [r["passed"] for r in checked] == [True, False]
    assert checked[0]["observed"] == tuned["tiny_qa/acc"]


def test_harness_figures_join_the_suites_own_metrics(project: Path, make_config):
    from llmops.runners.eval.run import run

    prompt = make_config()["inputs"]["prompt"]
    run(typed_config(harness_config(prompt, limit=2)), project)
    metrics = json.loads((project / "metrics/eval-bench.json").read_text())
    figures = metrics["models"]["finetune:tiny"]
    assert {"exact_match", "tiny_qa/acc"} <= set(figures)
    assert metrics["harness"]["tasks"]["tiny_qa"]["n"] == 2  # limit
    assert "tiny_qa/acc" in metrics["deltas"]["finetune:tiny"]["base_of:tiny"]
    assert "## lm-evaluation-harness tasks" in (project / "reports/eval-bench.md").read_text()


def test_an_unknown_task_is_named_with_the_nearest_ones(tmp_path: Path, monkeypatch):
    import lm_eval.tasks

    from llmops.compiler.kinds.evalsuite import Harness
    from llmops.runners.eval.harness import task_manager

    real = lm_eval.tasks.TaskManager
    # indexing the harness's built-in tasks takes seconds: the local folder stands in for them
    monkeypatch.setattr(lm_eval.tasks, "TaskManager", lambda **kw: real(**{**kw, "include_defaults": False}))
    shutil.copytree(FIXTURE, tmp_path / "harness")
    with pytest.raises(StageFailed, match=r"tiny_q .*did you mean.*tiny_qa"):
        task_manager(Harness(tasks=["tiny_q"], include_path="harness"), tmp_path)
    with pytest.raises(StageFailed, match="include_path missing is not a folder"):
        task_manager(Harness(tasks=["tiny_qa"], include_path="missing"), tmp_path)
