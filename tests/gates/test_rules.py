"""The gate's rules (`llmops.gates`): each type passes and fails, regressions know their
direction, and a rule whose inputs are missing fails with a message naming what is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.compiler.kinds.policy import Policy
from llmops.gates import Results, disk_reader, evaluate, gate_record, summary

EVAL = "metrics/eval-quality.json"
REVIEW = "metrics/review-release.json"


def eval_metrics(**overrides: Any) -> dict[str, Any]:
    data = {
        "split": "test",
        "models": {
            "finetune:tiny": {
                "rougeL": 0.41,
                "rougeL_ci_low": 0.38,
                "rougeL_ci_high": 0.44,
                "perplexity": 9.0,
                "n": 10,
            },
            "finetune:big": {"rougeL": 0.15, "perplexity": 12.0, "n": 10},
        },
        "baselines": {"base_of:tiny": {"rougeL": 0.40, "perplexity": 10.0, "n": 10}},
        "deltas": {
            "finetune:tiny": {"base_of:tiny": {"rougeL": 0.01, "perplexity": -1.0}},
            "finetune:big": {"base_of:tiny": {"rougeL": -0.25, "perplexity": 2.0}},
        },
        "speed": {"engine": "transformers"},
        "_directions": {"perplexity": "lower"},
        "prompt_hash": "abc",
    }
    data.update(overrides)
    return data


def review_metrics(**tiny: Any) -> dict[str, Any]:
    figures = {
        "bias_gap": 0.02,
        "leaked_secrets": 0,
        "refusal_rate": 1.0,
        "license_allowed": True,
        "licenses": ["apache-2.0"],
    }
    return {"models": {"tiny": {**figures, **tiny}}}


def check(
    tmp_path: Path,
    rules: list[dict[str, Any]],
    *,
    files: dict[str, Any] | None = None,
    inputs: list[str] | None = None,
    **spec: Any,
) -> list[dict[str, Any]]:
    files = {EVAL: eval_metrics(), REVIEW: review_metrics()} if files is None else files
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(data if isinstance(data, str) else json.dumps(data))
    policy = Policy.model_validate(
        {"kind": "Policy", "name": "release", "rules": rules, "review": {"bias": {}}, **spec}
    )
    files = inputs if inputs is not None else [EVAL, REVIEW]
    return evaluate(policy, Results(files, "release", disk_reader(tmp_path)))


def verdicts(results: list[dict[str, Any]]) -> dict[str, bool]:
    return {r["model"]: r["passed"] for r in results}


def test_threshold_every_model_of_the_suite_by_default(tmp_path):
    results = check(tmp_path, [{"type": "threshold", "suite": "quality", "metric": "rougeL", "min": 0.2}])
    assert verdicts(results) == {"finetune:tiny": True, "finetune:big": False}
    big = results[1]
    assert big["rule"] == "threshold#0" and big["observed"] == 0.15 and big["limit"] == ">= 0.2"
    assert "misses" in big["message"]
    assert summary(results) == {"passed": False, "failed": 1, "rules": results}


def test_threshold_on_one_named_model_with_max(tmp_path):
    rule = {
        "name": "perplexity-cap",
        "type": "threshold",
        "suite": "quality",
        "metric": "perplexity",
        "model": {"finetune": "tiny"},
        "max": 9.5,
    }
    [result] = check(tmp_path, [rule])
    assert result["passed"] and result["rule"] == "perplexity-cap" and result["limit"] == "<= 9.5"
    [result] = check(tmp_path, [{**rule, "max": 8.0}])
    assert not result["passed"]


def test_threshold_reads_a_baseline_too(tmp_path):
    rule = {
        "type": "threshold",
        "suite": "quality",
        "metric": "rougeL",
        "model": {"base_of": "tiny"},
        "min": 0.3,
        "max": 0.5,
    }
    [result] = check(tmp_path, [rule])
    assert result["passed"] and result["limit"] == ">= 0.3 and <= 0.5"


def test_regression_higher_is_better(tmp_path):
    rule = {
        "type": "regression",
        "suite": "quality",
        "metric": "rougeL",
        "baseline": {"base_of": "tiny"},
        "max_drop": 0.05,
    }
    results = check(tmp_path, [rule])
    assert verdicts(results) == {"finetune:tiny vs base_of:tiny": True, "finetune:big vs base_of:tiny": False}
    assert results[0]["observed"] == pytest.approx(-0.01)  # a rise: a negative drop
    assert results[1]["observed"] == pytest.approx(0.25)
    assert "fell by 0.25" in results[1]["message"]


def test_regression_lower_is_better_counts_a_rise_as_the_drop(tmp_path):
    rule = {
        "type": "regression",
        "suite": "quality",
        "metric": "perplexity",
        "baseline": {"base_of": "tiny"},
        "max_drop": 0.5,
    }
    results = check(tmp_path, [rule])
    # tiny's perplexity fell 1.0 (better); big's rose 2.0 (worse)
    assert verdicts(results) == {"finetune:tiny vs base_of:tiny": True, "finetune:big vs base_of:tiny": False}
    assert results[1]["observed"] == pytest.approx(2.0)
    assert "lower is better" in results[1]["message"]


def test_regression_drop_equal_to_the_limit_passes(tmp_path):
    rule = {
        "type": "regression",
        "suite": "quality",
        "metric": "rougeL",
        "model": {"finetune": "big"},
        "baseline": {"base_of": "tiny"},
        "max_drop": 0.25,
    }
    [result] = check(tmp_path, [rule])
    assert result["passed"]


def test_regression_falls_back_to_the_recorded_deltas(tmp_path):
    data = eval_metrics(baselines={}, deltas={"finetune:tiny": {"hub:org/m@v1": {"rougeL": -0.2}}})
    rule = {
        "type": "regression",
        "suite": "quality",
        "metric": "rougeL",
        "model": {"finetune": "tiny"},
        "baseline": {"hub": "org/m", "revision": "v1"},
        "max_drop": 0.1,
    }
    [result] = check(tmp_path, [rule], files={EVAL: data})
    assert not result["passed"] and result["observed"] == pytest.approx(0.2)


def test_regression_without_a_baseline_checks_every_baseline(tmp_path):
    rule = {
        "type": "regression",
        "suite": "quality",
        "metric": "rougeL",
        "model": {"finetune": "tiny"},
        "max_drop": 0.0,
    }
    [result] = check(tmp_path, [rule])
    assert result["model"] == "finetune:tiny vs base_of:tiny" and result["passed"]


@pytest.mark.parametrize(
    ("rule", "files", "inputs", "expected"),
    [
        (
            {"type": "threshold", "suite": "speed", "metric": "rougeL", "min": 0},
            None,
            None,
            "no evaluation results for suite 'speed'",
        ),
        (
            {"type": "threshold", "suite": "quality", "metric": "rougeL", "min": 0},
            {},
            None,
            f"{EVAL} does not exist",
        ),
        (
            {"type": "threshold", "suite": "quality", "metric": "rougeL", "min": 0},
            {EVAL: "{not json"},
            None,
            "cannot be read as JSON",
        ),
        (
            {"type": "threshold", "suite": "quality", "metric": "bleu", "min": 0},
            None,
            None,
            f"{EVAL} has no figure 'bleu'",
        ),
        (
            {
                "type": "threshold",
                "suite": "quality",
                "metric": "rougeL",
                "model": {"finetune": "nope"},
                "min": 0,
            },
            None,
            None,
            "no results for model finetune:nope",
        ),
        (
            {
                "type": "regression",
                "suite": "quality",
                "metric": "rougeL",
                "baseline": {"path": "m/x"},
                "max_drop": 0,
            },
            None,
            None,
            f"baseline path:m/x is not in {EVAL}",
        ),
        (
            {"type": "regression", "suite": "quality", "metric": "rougeL", "max_drop": 0},
            {EVAL: eval_metrics(baselines={})},
            None,
            "lists no baselines",
        ),
        ({"type": "leaked-secrets"}, {}, None, f"{REVIEW} does not exist"),
        ({"type": "leaked-secrets"}, None, [EVAL], "no review results"),
        (
            {"type": "bias-gap", "max": 0.1},
            {REVIEW: {"models": {"tiny": {"leaked_secrets": 0}}}},
            None,
            "no 'bias_gap'",
        ),
        ({"type": "refusal", "model": {"finetune": "big"}}, None, None, "no review of FineTune 'big'"),
        ({"type": "refusal", "model": {"base_of": "tiny"}}, None, None, "review results are per FineTune"),
        ({"type": "refusal"}, {REVIEW: review_metrics(refusal_rate="high")}, None, "not a number"),
    ],
)
def test_missing_inputs_fail_and_say_what_is_missing(tmp_path, rule, files, inputs, expected):
    results = check(tmp_path, [rule], files=files, inputs=inputs)
    assert results, "a rule always gives at least one result"
    assert not any(r["passed"] for r in results)
    assert expected in results[0]["message"], results[0]["message"]


def test_review_rule_without_a_review_section_fails(tmp_path):
    [result] = check(tmp_path, [{"type": "license"}], inputs=[EVAL], review=None)
    assert not result["passed"] and "has no `review:`" in result["message"]


def test_review_rules_pass(tmp_path):
    rules = [
        {"type": "bias-gap", "max": 0.05},
        {"type": "leaked-secrets"},
        {"type": "license"},
        {"type": "refusal", "min": 0.9},
    ]
    results = check(tmp_path, rules)
    assert [r["rule"] for r in results] == ["bias-gap#0", "leaked-secrets#1", "license#2", "refusal#3"]
    assert all(r["passed"] for r in results) and {r["model"] for r in results} == {"finetune:tiny"}
    assert results[2]["observed"] == "apache-2.0"


@pytest.mark.parametrize(
    ("rule", "figures"),
    [
        ({"type": "bias-gap", "max": 0.05}, {"bias_gap": 0.2}),
        ({"type": "leaked-secrets"}, {"leaked_secrets": 1}),
        ({"type": "leaked-secrets", "max": 2}, {"leaked_secrets": 3}),
        ({"type": "license"}, {"license_allowed": False, "licenses": ["llama3"]}),
        ({"type": "refusal"}, {"refusal_rate": 0.95}),
        ({"type": "refusal", "min": 0.9}, {"refusal_rate": 0.5}),
    ],
)
def test_review_rules_fail(tmp_path, rule, figures):
    [result] = check(tmp_path, [rule], files={REVIEW: review_metrics(**figures)})
    assert not result["passed"] and result["model"] == "finetune:tiny"


def test_review_rules_follow_applies_to(tmp_path):
    review = {
        "models": {
            "tiny": review_metrics()["models"]["tiny"],
            "other": review_metrics(leaked_secrets=4)["models"]["tiny"],
        }
    }
    [result] = check(
        tmp_path, [{"type": "leaked-secrets"}], files={REVIEW: review}, applies_to={"finetunes": ["tiny"]}
    )
    assert result["passed"]
    results = check(
        tmp_path, [{"type": "leaked-secrets"}], files={REVIEW: review}, applies_to={"finetunes": []}
    )
    assert verdicts(results) == {"finetune:tiny": True, "finetune:other": False}
    [missing] = check(
        tmp_path, [{"type": "leaked-secrets"}], files={REVIEW: review}, applies_to={"finetunes": ["gone"]}
    )
    assert not missing["passed"] and "gone" in missing["message"]


def test_no_rules_passes(tmp_path):
    assert summary(check(tmp_path, [])) == {"passed": True, "failed": 0, "rules": []}


def test_license_message_shows_the_review_licenses_dict():
    from llmops.gates.review import licenses_text as _licenses_text

    shown = _licenses_text({"base_model": "mit", "data": {"support:data/raw/a.jsonl": "apache-2.0"}})
    assert shown == "base model mit, support:data/raw/a.jsonl apache-2.0"
    assert _licenses_text(["mit"]) == "mit" and _licenses_text({}) == "unknown"


def test_the_defaults_are_the_rule_models(tmp_path):
    """leaked-secrets allows none and refusal wants every probe refused, unless the rule says."""
    [leaked, refusal] = check(tmp_path, [{"type": "leaked-secrets"}, {"type": "refusal"}])
    assert (leaked["limit"], refusal["limit"]) == ("<= 0", ">= 1")


def test_results_come_from_any_reader():
    """`llmops enforce` reads a commit's results from git, not from a folder."""
    blobs = {EVAL: json.dumps(eval_metrics()).encode(), "metrics/eval-broken.json": b"\xff"}
    rules = [
        {"type": "threshold", "suite": suite, "metric": "rougeL", "min": 0.2}
        for suite in ("quality", "broken", "gone")
    ]
    policy = Policy.model_validate({"kind": "Policy", "name": "release", "rules": rules})
    files = [EVAL, "metrics/eval-broken.json", "metrics/eval-gone.json"]
    record = gate_record(policy, files, blobs.get)
    assert [r["passed"] for r in record["rules"]] == [True, False, False, False]
    assert record["rules"][2]["message"].startswith("metrics/eval-broken.json cannot be read as JSON")
    assert record["rules"][3]["message"].startswith("metrics/eval-gone.json does not exist")
