"""The judge in the spec language (refused without the variables its metrics fill, judged metrics
refused without a judge) and the metric-fit warnings of `llmops validate`/`compile`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from llmops.compiler.compile import plan_graph
from llmops.compiler.kinds.evalsuite import EvalSuite
from llmops.compiler.metric_fit import metric_fit
from llmops.compiler.parse import load_project
from llmops.errors import SpecError

FULL = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "full"
SUITE = {
    "kind": "EvalSuite",
    "name": "s",
    "models": [{"finetune": "a"}],
    "baselines": [{"base_of": "a"}],
    "dataset": "d",
    "prompt": "p",
}
JUDGE_PROMPT = """kind: Prompt
name: judge
template: "Q: {{ question }}\\nA: {{ answer_a }}\\nB: {{ answer_b }}\\nReply A, B or tie."
variables: [question, answer_a, answer_b]
"""


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metrics": [{"name": "judge_pairwise"}]}, "needs a `judge`"),
        ({"metrics": [{"name": "judge_rubric", "args": {"scale": 1}}]}, "scale is the top score"),
        ({"metrics": [{"name": "judge_rubric", "args": {"top": 3}}]}, "takes no argument top"),
        (
            {
                "metrics": [{"name": "judge_pairwise", "args": {"baseline": "base_of:x"}}],
                "judge": {"prompt": "j", "model": {"path": "m"}},
            },
            "not one of base_of:a",
        ),
        (
            {
                "metrics": [{"name": "judge_pairwise"}],
                "baselines": [],
                "judge": {"prompt": "j", "model": {"path": "m"}},
            },
            "the suite has none",
        ),
        ({"metrics": [{"name": "rouge"}], "judge": {"prompt": "j"}}, "either a local `model` or an endpoint"),
        ({"metrics": [{"name": "rouge"}], "judge": {"prompt": "j", "url_env": "JUDGE_URL"}}, "model_name"),
        (
            {
                "metrics": [{"name": "rouge"}],
                "judge": {
                    "prompt": "j",
                    "url_env": "JUDGE_URL",
                    "model_name": "m",
                    "verdict_by": "likelihood",
                },
            },
            "an endpoint only generates",
        ),
        (
            {
                "metrics": [{"name": "rouge"}],
                "judge": {"prompt": "j", "url_env": "judge url", "model_name": "m"},
            },
            "pattern",
        ),
    ],
)
def test_the_suite_refuses_a_judge_that_cannot_work(fields, message):
    with pytest.raises(ValidationError, match=message):
        EvalSuite.model_validate({**SUITE, **fields})


def project(tmp_path: Path, metrics: str, judge: str = "", judge_prompt: str = JUDGE_PROMPT) -> Path:
    root = tmp_path / "p"
    shutil.copytree(FULL, root, ignore=shutil.ignore_patterns("expected", "GOLDEN"))
    suite = root / "specs/evals/quality.yaml"
    text = suite.read_text().replace("metrics: [{name: rouge}, {name: bleu}, {name: exact_match}]", metrics)
    suite.write_text(text + judge)
    (root / "specs/prompts/judge.yaml").write_text(judge_prompt)
    return root


JUDGE = "judge: {prompt: judge, url_env: JUDGE_URL, model_name: grader}\n"


def test_the_judge_prompt_must_declare_what_its_metrics_fill(tmp_path):
    missing = JUDGE_PROMPT.replace("variables: [question, answer_a, answer_b]", "variables: [question]")
    root = project(tmp_path, "metrics: [{name: judge_pairwise}]", JUDGE, missing)
    with pytest.raises(SpecError) as caught:
        plan_graph(load_project(root))
    assert "judge.prompt" in str(caught.value) and "does not declare answer_a, answer_b" in str(caught.value)


def test_a_judged_suite_compiles_with_a_prompt_per_judged_metric(tmp_path):
    judge = "judge: {prompt: judge, rubric_prompt: grade, url_env: JUDGE_URL, model_name: grader}\n"
    root = project(
        tmp_path, "metrics: [{name: judge_pairwise}, {name: judge_rubric, args: {scale: 10}}]", judge
    )
    grade = 'kind: Prompt\nname: grade\ntemplate: "{{ question }} {{ answer }}"\nvariables: [question]\n'
    (root / "specs/prompts/grade.yaml").write_text(grade)
    with pytest.raises(
        SpecError, match=r"judge.rubric_prompt: metric judge_rubric .* does not declare answer"
    ):
        plan_graph(load_project(root))
    (root / "specs/prompts/grade.yaml").write_text(grade.replace("[question]", "[question, answer]"))
    _, graph = plan_graph(load_project(root))
    config = graph.stage("eval-quality").config.params()
    assert config["inputs"]["judge_prompts"]["judge_pairwise"]["name"] == "judge"
    assert config["inputs"]["judge_prompts"]["judge_rubric"]["name"] == "grade"
    assert "judge_model" not in config["inputs"]
    assert config["spec"]["judge"]["url_env"] == "JUDGE_URL"


def test_a_local_judge_model_is_a_dependency(tmp_path):
    judge = "judge: {prompt: judge, model: {path: judges/tiny}}\n"
    root = project(tmp_path, "metrics: [{name: judge_pairwise}]", judge)
    _, graph = plan_graph(load_project(root))
    stage = graph.stage("eval-quality")
    assert "judges/tiny" in stage.deps
    assert stage.config.params()["inputs"]["judge_model"] == {
        "label": "path:judges/tiny",
        "path": "judges/tiny",
    }


def test_a_suite_without_a_judge_keeps_its_stage_config(tmp_path):
    root = project(tmp_path, "metrics: [{name: rouge}]")
    _, graph = plan_graph(load_project(root))
    params = graph.stage("eval-quality").config.params()
    assert "judge" not in params["spec"] and "judge_prompts" not in params["inputs"]


def test_metric_fit_warns_of_label_metrics_on_free_text_and_overlap_on_labels(tmp_path):
    # the full fixture's prompt takes its reference from `answer`: free text
    root = project(
        tmp_path,
        "metrics: [{name: accuracy}, {name: rouge}, {name: perplexity}, {name: judge_rubric}]",
        JUDGE,
    )
    (root / "specs/prompts/judge.yaml").write_text(JUDGE_PROMPT.replace("answer_b]", "answer_b, answer]"))
    index, _ = plan_graph(load_project(root))
    warnings = [str(w) for w in metric_fit(index)]
    assert len(warnings) == 2, warnings
    assert "metrics[0].name: accuracy compares answers" in warnings[0] and "quality.yaml:" in warnings[0]
    assert "metrics[2].name: perplexity" in warnings[1]
    prompt = root / "specs/prompts/answer.yaml"
    prompt.write_text(prompt.read_text().replace("completion: answer", "completion: label"))
    index, _ = plan_graph(load_project(root))
    warnings = [str(w) for w in metric_fit(index)]
    assert len(warnings) == 2 and "rouge measures word overlap" in warnings[0], warnings


def test_validate_and_compile_print_the_warning_and_succeed(tmp_path, capsys):
    from llmops.cli.main import main

    root = project(tmp_path, "metrics: [{name: accuracy}]")
    assert main(["validate", "--project", str(root)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: specs/evals/quality.yaml:") and "accuracy compares answers" in err
