"""Policy rules that could never be checked are refused when the spec is read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmops.compiler.kinds.policy import Rule


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "threshold", "suite": "q", "metric": "rougeL"}, "sets min or max"),
        ({"type": "regression", "suite": "q", "metric": "rougeL"}, "sets max_drop"),
        ({"type": "threshold", "min": 0.2}, "names a suite and a metric"),
        ({"type": "bias-gap"}, "a bias-gap rule sets max"),
    ],
)
def test_incomplete_rules_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        Rule(**fields)


def test_complete_rules_parse():
    assert Rule(type="bias-gap", max=0.1).max == 0.1
    assert Rule(type="leaked-secrets").max is None  # defaults to 0 when the gate checks it
