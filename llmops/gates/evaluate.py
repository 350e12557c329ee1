"""Every rule of a Policy, each by the evaluator of its type, and the gate's record.

The record `{"passed", "failed", "rules": [...]}` is what the gate stage writes to
`metrics/gate-<policy>.json`, what `llmops gate` prints and what `llmops enforce` recomputes
from a commit's results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llmops.compiler.kinds.policy import (
    BiasGapRule,
    LeakedSecretsRule,
    LicenseRule,
    Policy,
    RefusalRule,
    RegressionRule,
    ThresholdRule,
)
from llmops.gates.results import Check, Reader, Results
from llmops.gates.review import review_rule
from llmops.gates.suite import regression, threshold

Evaluator = Callable[[Any, Check, Policy, Results], list[dict[str, Any]]]
EVALUATORS: dict[type, Evaluator] = {
    ThresholdRule: threshold,
    RegressionRule: regression,
    BiasGapRule: review_rule,
    LeakedSecretsRule: review_rule,
    LicenseRule: review_rule,
    RefusalRule: review_rule,
}


def evaluate(policy: Policy, results: Results) -> list[dict[str, Any]]:
    """Every result of every rule of a policy, in the order of its rules."""
    out: list[dict[str, Any]] = []
    for index, rule in enumerate(policy.rules):
        out.extend(EVALUATORS[type(rule)](rule, Check(rule, index), policy, results))
    return out


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    failed = sum(1 for r in results if not r["passed"])
    return {"passed": failed == 0, "failed": failed, "rules": results}


def gate_record(policy: Policy, files: Sequence[str], read: Reader) -> dict[str, Any]:
    """The gate record of `policy` over its results `files`, each read with `read`."""
    return summary(evaluate(policy, Results(files, policy.name, read)))
