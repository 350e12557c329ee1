"""An EvalSuite's `harness:` (lm-evaluation-harness tasks): a suite needs metrics or harness
tasks, metrics still need a dataset and a prompt, and the eval stage of a harness-only suite
depends on the models and the local task folder, writes no dataset or prompt into its config,
and its CI job installs the `harness` extra."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from llmops.compiler.compile import plan_graph
from llmops.compiler.emit.dvc import stage_config_text
from llmops.compiler.emit.workflows import runner_extras
from llmops.compiler.kinds.evalsuite import EvalSuite
from llmops.compiler.parse import load_project

SUITE = {"kind": "EvalSuite", "name": "bench", "models": [{"finetune": "tiny"}]}
HARNESS = {"tasks": ["tiny_qa"], "include_path": "harness"}


def test_a_harness_only_suite_needs_no_dataset_prompt_or_metrics():
    suite = EvalSuite.model_validate({**SUITE, "harness": HARNESS})
    assert suite.harness is not None and suite.harness.batch_size == 8
    assert [kind for _, kind, _ in suite.references()] == ["FineTune"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "needs `metrics` .*`harness` tasks, or both"),
        ({"metrics": [{"name": "rouge"}], "harness": HARNESS}, "set dataset and prompt"),
        ({"harness": {"tasks": ["a", "a"]}}, "harness task a is listed twice"),
        ({"harness": {"tasks": ["../x"]}}, "tasks.0"),
        ({"harness": {"tasks": ["a"], "include_path": "/abs"}}, "include_path"),
        ({"harness": {"tasks": ["a"], "include_path": "evals/*"}}, "not a pattern"),
        ({"harness": {"tasks": []}}, "tasks"),
    ],
)
def test_bad_suites_are_refused(extra, message):
    with pytest.raises(ValidationError, match=message):
        EvalSuite.model_validate({**SUITE, **extra})


def test_the_harness_stage_depends_on_the_task_folder_and_installs_the_extra(fixture_project):
    root = fixture_project("full")
    (root / "specs/evals/bench.yaml").write_text(
        "kind: EvalSuite\nname: bench\nmodels: [{finetune: tiny}]\nbaselines: [{base_of: tiny}]\n"
        "harness: {tasks: [tiny_qa], include_path: harness, limit: 5}\n"
    )
    _, graph = plan_graph(load_project(root))
    stage = graph.stage("eval-bench")
    assert "harness" in stage.deps
    assert not any("datasets" in dep for dep in stage.deps)
    config = json.loads(stage_config_text(stage))
    assert "dataset" not in config["inputs"] and "prompt" not in config["inputs"]
    assert config["spec"]["harness"]["tasks"] == ["tiny_qa"]
    assert "harness" in runner_extras(stage)
    quality = graph.stage("eval-quality")  # a suite without harness tasks is compiled as before
    assert "harness" not in json.loads(stage_config_text(quality))["spec"]
    assert "harness" not in runner_extras(quality)
