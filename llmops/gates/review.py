"""Rules over the policy's review (`metrics/review-<policy>.json`): bias-gap, leaked-secrets,
license, refusal.

The review reports figures per FineTune. A rule checks the FineTune its `model` names (as
`{finetune: X}`), else those of the policy's `applies_to.finetunes`, else every FineTune
reviewed: `bias_gap <= max`, `leaked_secrets <= max` (default 0), `license_allowed`,
`refusal_rate >= min` (default 1.0). The defaults are the rule models' (`rule.limit`).
"""

from __future__ import annotations

from typing import Any

from llmops.compiler.kinds.common import ModelRef
from llmops.compiler.kinds.policy import (
    BiasGapRule,
    LeakedSecretsRule,
    LicenseRule,
    Policy,
    RefusalRule,
    ReviewRule,
)
from llmops.gates.results import EPSILON, Check, Results, number, shown

# The figure of the review each rule type reads.
FIGURE: dict[type, str] = {
    BiasGapRule: "bias_gap",
    LeakedSecretsRule: "leaked_secrets",
    LicenseRule: "license_allowed",
    RefusalRule: "refusal_rate",
}
# Judged: (observed, limit, passed, message), or why the figure cannot be judged.
Judged = tuple[Any, str, bool, str] | str


def review_rule(rule: ReviewRule, check: Check, policy: Policy, results: Results) -> list[dict[str, Any]]:
    field = FIGURE[type(rule)]

    def fail(model: str | None, message: str) -> list[dict[str, Any]]:
        return check.fail(message, model=model, metric=field)

    rel = results.review_file()
    if rel is None:
        if policy.review is None:
            return fail(
                None,
                f"policy '{results.policy}' has no `review:`, so nothing reports {field}: "
                "add a review section",
            )
        return fail(None, f"no review results (review-{results.policy}.json) among the gate's inputs")
    data, why = results.load(rel)
    if data is None:
        return fail(None, why)
    reviewed = data.get("models")
    if not isinstance(reviewed, dict):
        return fail(None, f"{rel} has no `models` table")
    if rule.model is not None:
        if not rule.model.finetune:
            message = "review results are per FineTune: name the model as {finetune: NAME}"
            return fail(rule.model.label, message)
        names = [rule.model.finetune]
    else:
        names = list(policy.applies_to.finetunes) or list(reviewed)
    if not names:
        return fail(None, f"{rel} reviews no models")
    out = []
    for finetune in names:
        label = ModelRef.model_construct(finetune=finetune).label  # as the eval stage names it
        figures = reviewed.get(finetune)
        if not isinstance(figures, dict):
            known = ", ".join(reviewed) or "none"
            out += fail(label, f"{rel} has no review of FineTune '{finetune}' (it has: {known})")
            continue
        if field not in figures:
            out += fail(label, f"{rel} has no '{field}' for FineTune '{finetune}'")
            continue
        judged = _judge(rule, figures[field], figures, label)
        if isinstance(judged, str):
            out += fail(label, judged)
            continue
        observed, limit, passed, message = judged
        out.append(check.result(label, field, observed, limit, passed, message))
    return out


def _judge(rule: ReviewRule, value: Any, figures: dict[str, Any], label: str) -> Judged:
    if isinstance(rule, BiasGapRule):
        return _at_most("bias_gap", "bias gap", rule.limit, value, label)
    if isinstance(rule, LeakedSecretsRule):
        return _at_most("leaked_secrets", "leaked secrets", rule.limit, value, label)
    if isinstance(rule, RefusalRule):
        return _refusal(rule.limit, value, label)
    return _license(value, figures.get("licenses"), label)


def _at_most(field: str, what: str, high: float, value: Any, label: str) -> Judged:
    figure = number(value)
    if figure is None:
        return f"'{field}' of {label} is not a number ({value!r})"
    passed = figure <= high + EPSILON
    observed = int(figure) if figure.is_integer() and field == "leaked_secrets" else figure
    verdict = "within" if passed else "over"
    message = f"{what} of {label} is {shown(figure)}: {verdict} the maximum {shown(high)}"
    return observed, f"<= {shown(high)}", passed, message


def _refusal(low: float, value: Any, label: str) -> Judged:
    figure = number(value)
    if figure is None:
        return f"'refusal_rate' of {label} is not a number ({value!r})"
    passed = figure >= low - EPSILON
    message = (
        f"{label} refused {shown(figure * 100)}% of the security probes: "
        f"{'meets' if passed else 'under'} the minimum {shown(low * 100)}%"
    )
    return figure, f">= {shown(low)}", passed, message


def _license(value: Any, licenses: Any, label: str) -> Judged:
    if not isinstance(value, bool):
        return f"'license_allowed' of {label} is not true or false ({value!r})"
    text = licenses_text(licenses)
    verdict = "allowed" if value else "not allowed"
    return text, "allowed", value, f"license of {label} ({text}) is {verdict} by the policy"


def licenses_text(licenses: Any) -> str:
    """The review's licenses, `{"base_model": "mit", "data": {"ds:source": "cc-by-4.0"}}` (or a
    plain list), as one readable line."""
    if isinstance(licenses, list) and licenses:
        return ", ".join(str(x) for x in licenses)
    if isinstance(licenses, dict) and licenses:
        parts = [f"base model {licenses['base_model']}"] if licenses.get("base_model") else []
        data = licenses.get("data")
        if isinstance(data, dict):
            parts += [f"{source} {license_}" for source, license_ in sorted(data.items())]
        return ", ".join(parts) or "unknown"
    return "unknown"
