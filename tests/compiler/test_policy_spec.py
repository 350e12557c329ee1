"""Policy rules: one model per `type`, each refusing what it could never check, giving its own
defaults without changing what the gate stage's config records, and reported at file:line."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from llmops.compiler.kinds.policy import (
    BiasGapRule,
    LeakedSecretsRule,
    LicenseRule,
    RefusalRule,
    RegressionRule,
    Rule,
    ThresholdRule,
)
from llmops.compiler.parse import parse_project_file, parse_specs

RULE = TypeAdapter(Rule)
KEYS = ["name", "type", "suite", "metric", "model", "baseline", "min", "max", "max_drop"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "threshold", "suite": "q", "metric": "rougeL"}, "sets min or max"),
        ({"type": "regression", "suite": "q", "metric": "rougeL"}, "sets max_drop"),
        ({"type": "threshold", "min": 0.2}, "names a suite and a metric"),
        ({"type": "regression", "suite": "q", "max_drop": 0.1}, "names a suite and a metric"),
        ({"type": "bias-gap"}, "a bias-gap rule sets max"),
        ({"type": "treshold", "suite": "q", "metric": "m", "min": 0}, "does not match any of the expected"),
    ],
)
def test_incomplete_rules_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        RULE.validate_python(fields)


@pytest.mark.parametrize(
    ("fields", "model"),
    [
        ({"type": "threshold", "suite": "q", "metric": "m", "max": 1}, ThresholdRule),
        ({"type": "regression", "suite": "q", "metric": "m", "max_drop": 0}, RegressionRule),
        ({"type": "bias-gap", "max": 0.1}, BiasGapRule),
        ({"type": "leaked-secrets"}, LeakedSecretsRule),
        ({"type": "license"}, LicenseRule),
        ({"type": "refusal"}, RefusalRule),
    ],
)
def test_each_type_is_its_own_model_and_dumps_every_key(fields, model):
    rule = RULE.validate_python(fields)
    assert type(rule) is model
    dumped = rule.model_dump(mode="json")
    assert list(dumped) == KEYS  # the gate stage's config, and so DVC's params hash, depend on it
    assert {k: v for k, v in dumped.items() if v is not None} == {
        k: float(v) if k in ("min", "max", "max_drop") else v for k, v in fields.items()
    }


def test_defaults_are_the_models_not_the_dumped_values():
    leaked, refusal = (
        RULE.validate_python({"type": "leaked-secrets"}),
        RULE.validate_python({"type": "refusal"}),
    )
    assert (leaked.limit, leaked.max) == (0.0, None)
    assert (refusal.limit, refusal.min) == (1.0, None)
    assert RULE.validate_python({"type": "refusal", "min": 0.9}).limit == 0.9
    assert RULE.validate_python({"type": "bias-gap", "max": 0.1}).limit == 0.1
    assert RULE.validate_python({"type": "license"}).label(3) == "license#3"
    assert RULE.validate_python({"type": "license", "name": "ok"}).label(3) == "ok"


POLICY = """kind: Policy
name: release
rules:
  - {type: threshold, suite: q, metric: m, min: 0.1}
  - suite: q
  - type: treshold
  - type: threshold
    suite: q
  - {type: bias-gap}
"""


def test_bad_rules_are_reported_at_file_and_line():
    project, _ = parse_project_file("kind: Project\nname: demo\n")
    parsed = parse_specs(project, {"specs/release.yaml": POLICY})
    found = [(d.file, d.line, d.field, d.message, d.hint) for d in parsed.errors]
    assert found == [
        ("specs/release.yaml", 5, "rules[1].type", "field required", ""),
        (
            "specs/release.yaml",
            6,
            "rules[2].type",
            "Input should be 'threshold', 'regression', 'bias-gap', 'leaked-secrets', 'license' or 'refusal'",
            "did you mean 'threshold'?",
        ),
        ("specs/release.yaml", 7, "rules[3]", "a threshold rule names a suite and a metric", ""),
        (
            "specs/release.yaml",
            9,
            "rules[4]",
            "a bias-gap rule sets max (the largest change allowed between the sides of a pair)",
            "",
        ),
    ]
