"""Judged metrics: position swap turns a judge's order bias into ties, a fair judge picks the
right winner, unparseable verdicts are counted and fail the stage above the limit, the figures
reach Policy gates, and a local tiny model runs as the judge offline."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmops.compiler.kinds.evalsuite import EvalSuite
from llmops.compiler.kinds.policy import Policy
from llmops.errors import StageFailed
from llmops.gates import Results, disk_reader, evaluate
from llmops.prompting.render import PromptTemplate
from llmops.runners.eval import judged
from llmops.runners.eval.fit import free_text_warning
from llmops.runners.eval.run import build_metrics

JUDGE_PROMPT = {
    "kind": "Prompt",
    "name": "judge",
    "template": "Question: {{ question }}\nAnswer A: {{ answer_a }}\nAnswer B: {{ answer_b }}\n"
    "Which answer is better? Reply A, B or tie.",
    "system": "You are a strict grader.",
    "variables": ["question", "answer_a", "answer_b"],
}
RUBRIC_PROMPT = {
    "kind": "Prompt",
    "name": "rubric",
    "template": "Question: {{ question }}\nAnswer: {{ answer }}\nReference: {{ reference }}\nScore 1-5.",
    "variables": ["question", "answer", "reference"],
}
QUESTIONS = ["capital of France?", "2+2?", "colour of the sky?", "largest planet?"]
REFERENCES = ["Paris is the capital.", "It is 4.", "The sky is blue.", "Jupiter is largest."]
GOOD = REFERENCES
BAD = ["of of of", "5", "green", "Mars"]


class _Judge(BaseHTTPRequestHandler):
    decide: ClassVar[Any] = staticmethod(lambda a, b: "A")
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        user = body["messages"][-1]["content"]
        found = re.search(r"Answer A: (.*)\nAnswer B: (.*)\n", user)
        reply = type(self).decide(*(found.groups() if found else (user, "")))
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def judge_url(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("JUDGE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    _Judge.seen = []
    yield server
    server.shutdown()
    server.server_close()


def suite(*metrics: dict[str, Any], baselines: int = 1, **judge: Any) -> EvalSuite:
    return EvalSuite.model_validate(
        {
            "kind": "EvalSuite",
            "name": "quality",
            "models": [{"finetune": "tiny"}],
            "baselines": [{"base_of": "tiny"}, {"path": "other"}][:baselines],
            "dataset": "qa",
            "prompt": "qa",
            "metrics": list(metrics),
            "bootstrap": {"samples": 200},
            "judge": {"prompt": "judge", "url_env": "JUDGE_URL", "model_name": "grader", **judge},
        }
    )


def result(label: str, predictions: list[str]) -> dict[str, Any]:
    return {
        "label": label,
        "references": REFERENCES,
        "predictions": predictions,
        "scores": [],
        "per_example": {},
        "generation_s": 1.0,
        "scoring_s": 0.0,
        "engine": "transformers",
    }


def figures(spec: EvalSuite, prompt: dict[str, Any], models: list[dict], baselines: list[dict]) -> dict:
    template = PromptTemplate.from_config(prompt, Path("."))
    templates = {m.name: template for m in spec.metrics}
    judged.score(
        spec,
        judged.make_asker(spec, None, Path("."), 7, "transformers"),
        templates,
        QUESTIONS,
        models,
        baselines,
        7,
    )
    return build_metrics(spec, models, baselines)


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("A", "A"),
        ("[[B]]", "B"),
        ("Answer B is better.", "B"),
        ("Tie.", "tie"),
        ("a draw", "tie"),
        ("I think a good answer is A", "A"),
        ("neither", None),
        ("", None),
    ],
)
def test_the_first_verdict_token_is_the_verdict(reply, verdict):
    assert judged.parse_verdict(reply) == verdict


def test_rubric_scores_parse_within_the_scale():
    assert [judged.parse_score(r, 5) for r in ("4", "Score: 5/5", "7", "none")] == [4, 5, None, None]


def test_position_swap_turns_a_first_position_bias_into_ties(judge_url):
    _Judge.decide = staticmethod(lambda a, b: "A")
    spec = suite({"name": "judge_pairwise"})
    metrics = figures(spec, JUDGE_PROMPT, [result("finetune:tiny", GOOD)], [result("base_of:tiny", BAD)])
    mine = metrics["models"]["finetune:tiny"]
    assert mine["judge_pairwise"] == 0.5 and mine["judge_pairwise_consistency"] == 0.0
    assert (mine["judge_pairwise_wins"], mine["judge_pairwise_losses"], mine["judge_pairwise_ties"]) == (
        0,
        0,
        4,
    )
    assert len(_Judge.seen) == 8  # every comparison asked in both orders
    first, swapped = _Judge.seen[0]["messages"][-1]["content"], _Judge.seen[4]["messages"][-1]["content"]
    assert "Answer A: Paris is the capital." in first and "Answer B: Paris is the capital." in swapped
    assert _Judge.seen[0]["messages"][0] == {"role": "system", "content": "You are a strict grader."}
    assert _Judge.seen[0]["temperature"] == 0 and _Judge.seen[0]["model"] == "grader"
    assert "judge_pairwise" not in metrics["baselines"]["base_of:tiny"]


def test_a_fair_judge_gives_the_right_winner_per_baseline(judge_url):
    _Judge.decide = staticmethod(lambda a, b: "A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie")
    spec = suite({"name": "judge_pairwise"}, baselines=2)
    models = [result("finetune:tiny", GOOD)]
    metrics = figures(spec, JUDGE_PROMPT, models, [result("base_of:tiny", BAD), result("path:other", GOOD)])
    mine = metrics["models"]["finetune:tiny"]
    assert mine["judge_pairwise/base_of:tiny"] == 1.0 and mine["judge_pairwise/base_of:tiny_wins"] == 4
    assert mine["judge_pairwise/path:other"] == 0.5 and mine["judge_pairwise/path:other_ties"] == 4
    assert mine["judge_pairwise"] == 0.75 and mine["judge_pairwise_consistency"] == 1.0
    assert mine["judge_pairwise_ci_low"] <= 0.75 <= mine["judge_pairwise_ci_high"]
    assert models[0]["per_example"]["judge_pairwise"] == [0.75] * 4


def test_unparseable_verdicts_are_counted_and_fail_the_stage_above_the_limit(judge_url):
    replies = iter(["A", "no idea"] * 4)
    _Judge.decide = staticmethod(lambda a, b: next(replies))
    spec = suite({"name": "judge_pairwise"}, max_unparseable=0.5)
    metrics = figures(spec, JUDGE_PROMPT, [result("finetune:tiny", GOOD)], [result("base_of:tiny", BAD)])
    assert metrics["models"]["finetune:tiny"]["judge_pairwise_unparseable"] == 4
    _Judge.decide = staticmethod(lambda a, b: "hmm")
    with pytest.raises(StageFailed, match=r"8 of 8 judge replies gave no verdict .*'hmm'"):
        figures(
            suite({"name": "judge_pairwise"}),
            JUDGE_PROMPT,
            [result("finetune:tiny", GOOD)],
            [result("base_of:tiny", BAD)],
        )


def test_rubric_scores_every_model_and_the_gate_reads_the_figures(judge_url, tmp_path):
    _Judge.decide = staticmethod(lambda a, b: "4" if a.split("Answer: ")[1].split("\n")[0] in GOOD else "2")
    spec = suite({"name": "judge_rubric"}, prompt="rubric")
    metrics = figures(spec, RUBRIC_PROMPT, [result("finetune:tiny", GOOD)], [result("base_of:tiny", BAD)])
    assert metrics["baselines"]["base_of:tiny"]["judge_rubric"] == 0.25
    assert metrics["models"]["finetune:tiny"]["judge_rubric"] == 0.75
    assert metrics["deltas"]["finetune:tiny"]["base_of:tiny"]["judge_rubric"] == 0.5
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/eval-quality.json").write_text(json.dumps(metrics))
    rules = [
        {"type": "threshold", "suite": "quality", "metric": "judge_rubric", "min": 0.8},
        {"type": "regression", "suite": "quality", "metric": "judge_rubric", "max_drop": 0.0},
    ]
    policy = Policy.model_validate({"kind": "Policy", "name": "release", "rules": rules})
    found = evaluate(policy, Results(["metrics/eval-quality.json"], "release", disk_reader(tmp_path)))
    assert [r["passed"] for r in found] == [False, True]
    assert "judge_rubric of finetune:tiny is 0.75: misses >= 0.8" in found[0]["message"]


def test_accuracy_on_free_text_warns_at_run_time():
    accuracy = [type("M", (), {"name": "accuracy"})()]
    assert "free text" in (free_text_warning(accuracy, REFERENCES) or "")
    assert free_text_warning(accuracy, ["billing", "shipping", "billing", "other"]) is None


@pytest.mark.parametrize("verdict_by", ["generation", "likelihood"])
def test_a_local_tiny_model_judges_offline(tuned_project: Path, make_config, verdict_by):
    """Generated verdicts from a tiny judge are mostly unparseable (allowed here); verdicts by
    likelihood are always one of the options, so none is."""
    from llmops.runners.eval.run import run
    from llmops.runners.registry import typed_config
    from tests.runners.eval.test_eval_run import eval_config

    config = eval_config(make_config()["inputs"]["prompt"], max_new_tokens=4)
    config["spec"]["metrics"] = [{"name": "judge_pairwise"}, {"name": "judge_rubric", "args": {"scale": 5}}]
    config["spec"]["bootstrap"]["samples"] = 50
    config["spec"]["judge"] = {
        "prompt": "judge",
        "model": {"base_of": "tiny"},
        "max_new_tokens": 3,
        "max_unparseable": 1 if verdict_by == "generation" else 0,
        "verdict_by": verdict_by,
    }
    rubric = {
        **RUBRIC_PROMPT,
        "variables": ["question", "answer"],
        "template": "Q: {{ question }} A: {{ answer }}",
    }
    config["inputs"]["judge_prompts"] = {"judge_pairwise": JUDGE_PROMPT, "judge_rubric": rubric}
    config["inputs"]["judge_model"] = {"label": "base_of:tiny", "path": "base"}
    run(typed_config(config), tuned_project)
    metrics = json.loads((tuned_project / "metrics/eval-quality.json").read_text())
    mine = metrics["models"]["finetune:tiny"]
    assert 0 <= mine["judge_pairwise"] <= 1 and 0 <= mine["judge_rubric"] <= 1
    assert (
        mine["judge_pairwise_wins"] + mine["judge_pairwise_losses"] + mine["judge_pairwise_ties"] == mine["n"]
    )
    assert "judge_rubric" in metrics["baselines"]["base_of:tiny"]
    if verdict_by == "likelihood":
        assert mine["judge_pairwise_unparseable"] == 0 and mine["judge_rubric_unparseable"] == 0


def test_likelihood_verdicts_cancel_a_position_bias_and_keep_the_preference():
    """A judge that always finds "A" 3 nats likelier, and the model's answer 1 nat better on the
    first two questions and 1 nat worse on the third: argmax would say "A" every time (all ties
    after the swap); the bias-cancelled preference gives 2 wins and 1 loss."""
    from llmops.runners.eval.choice import swapped_preference
    from llmops.runners.eval.judged import Tally, _compare_by_likelihood

    quality = [1.0, 1.0, -1.0]  # the model's answer over the baseline's, in the judge's eyes
    bias = 3.0
    first = [{"A": bias + q / 2, "B": -q / 2, "tie": -9.0} for q in quality]  # model's answer is A
    second = [{"A": bias - q / 2, "B": q / 2, "tie": -9.0} for q in quality]  # model's answer is B
    assert [swapped_preference(f, s) for f, s in zip(first, second, strict=True)] == quality
    found = _compare_by_likelihood(first + second, 3, Tally())
    assert (found["wins"], found["losses"], found["ties"]) == (2, 1, 0)
    assert found["column"] == [1.0, 1.0, 0.0]
    assert found["consistent"] == 0  # its most likely option was "A" in both orders: biased
