"""Rules over an EvalSuite's results (`metrics/eval-<suite>.json`): threshold and regression.

* threshold: the suite's `metric` of `model` (default: every model of the suite) within
  `min`/`max`.
* regression: `metric` of `model` (default: every model of the suite) against `baseline`
  (default: every baseline of the suite) may drop at most `max_drop`. Direction-aware: for a
  figure the suite lists as lower-is-better (`_directions`), a rise is the drop.

A model is found under the results' `models` or `baselines` by the label the eval stage gives
it, which is `ModelRef.label` of the spec's reference.
"""

from __future__ import annotations

from typing import Any

from llmops.compiler.kinds.policy import Policy, RegressionRule, ThresholdRule
from llmops.gates.results import EPSILON, Check, Results, number, shown

Found = tuple[str | None, dict[str, Any] | None, list[dict[str, Any]]]


def _suite(check: Check, results: Results) -> Found:
    """(file, document, failure results) of the rule's suite."""
    rule = check.rule
    suite = rule.suite
    rel = results.suite_file(suite) if suite else None
    if rel is None:
        where = ", ".join(results.files) or "no results files"
        message = f"no evaluation results for suite '{suite}' among the gate's inputs ({where})"
        return None, None, check.fail(message, metric=rule.metric)
    data, why = results.load(rel)
    if data is None:
        return rel, None, check.fail(why, metric=rule.metric)
    return rel, data, []


def _figures(data: dict[str, Any], label: str) -> dict[str, Any] | None:
    for group in ("models", "baselines"):
        table = data.get(group)
        if isinstance(table, dict) and isinstance(table.get(label), dict):
            return table[label]
    return None


def _models_of(data: dict[str, Any], rule: ThresholdRule | RegressionRule) -> list[str]:
    if rule.model is not None:
        return [rule.model.label]
    models = data.get("models")
    return list(models) if isinstance(models, dict) else []


def _missing_model(rel: str, data: dict[str, Any], label: str) -> str:
    known = [k for g in ("models", "baselines") if isinstance(data.get(g), dict) for k in data[g]]
    if label.startswith("deployment:"):
        return (
            f"{rel} has no results for {label}: eval stages do not evaluate what a Deployment "
            "serves (its deploy stage records that only on the machine serving it)"
        )
    return f"{rel} has no results for model {label} (it has: {', '.join(known) or 'none'})"


def _missing_figure(rel: str, figures: dict[str, Any], label: str, metric: str) -> str:
    known = sorted(k for k in figures if k != "n" and not k.endswith(("_ci_low", "_ci_high")))
    return f"{rel} has no figure '{metric}' for {label} (it has: {', '.join(known) or 'none'})"


def threshold(rule: ThresholdRule, check: Check, policy: Policy, results: Results) -> list[dict[str, Any]]:
    rel, data, fail = _suite(check, results)
    if rel is None or data is None:
        return fail
    metric = str(rule.metric)
    low, high = rule.min, rule.max
    bounds = (f">= {shown(low)}" if low is not None else "", f"<= {shown(high)}" if high is not None else "")
    limit = " and ".join(x for x in bounds if x)
    labels = _models_of(data, rule)
    if not labels:
        return check.fail(f"{rel} lists no models", metric=metric, limit=limit)
    out = []
    for label in labels:
        figures = _figures(data, label)
        if figures is None:
            out += check.fail(_missing_model(rel, data, label), model=label, metric=metric, limit=limit)
            continue
        value = number(figures.get(metric))
        if value is None:
            message = _missing_figure(rel, figures, label, metric)
            out += check.fail(message, model=label, metric=metric, limit=limit)
            continue
        passed = (low is None or value >= low) and (high is None or value <= high)
        message = f"{metric} of {label} is {shown(value)}: {'meets' if passed else 'misses'} {limit}"
        out.append(check.result(label, metric, value, limit, passed, message))
    return out


def regression(rule: RegressionRule, check: Check, policy: Policy, results: Results) -> list[dict[str, Any]]:
    rel, data, fail = _suite(check, results)
    if rel is None or data is None:
        return fail
    metric = str(rule.metric)
    max_drop = rule.limit
    limit = f"drop <= {shown(max_drop)}"
    lower = (data.get("_directions") or {}).get(metric) == "lower"
    labels = _models_of(data, rule)
    bases = [rule.baseline.label] if rule.baseline is not None else list(data.get("baselines") or {})
    if not labels or not bases:
        what = "no models" if not labels else "no baselines (name one with `baseline:`)"
        return check.fail(f"{rel} lists {what}", metric=metric, limit=limit)
    out = []
    for label in labels:
        for base in bases:
            delta, why = _delta(rel, data, label, base, metric)
            model = f"{label} vs {base}"
            if delta is None:
                out += check.fail(why, model=model, metric=metric, limit=limit)
                continue
            drop = delta if lower else -delta
            passed = drop <= max_drop + EPSILON
            way = "rose" if delta > 0 else "fell" if delta < 0 else "held"
            better = "lower is better" if lower else "higher is better"
            message = (
                f"{metric} of {label} {way} by {shown(abs(delta))} against {base} ({better}): "
                + (f"a drop of {shown(drop)}" if drop > 0 else "no drop")
                + f", {'within' if passed else 'over'} max_drop {shown(max_drop)}"
            )
            out.append(check.result(model, metric, drop, limit, passed, message))
    return out


def _delta(rel: str, data: dict[str, Any], label: str, base: str, metric: str) -> tuple[float | None, str]:
    """model's figure minus the baseline's: from both figures, else from the file's deltas."""
    mine = _figures(data, label)
    if mine is None:
        return None, _missing_model(rel, data, label)
    theirs = _figures(data, base)
    if theirs is not None:
        a, b = number(mine.get(metric)), number(theirs.get(metric))
        if a is None:
            return None, _missing_figure(rel, mine, label, metric)
        if b is None:
            return None, _missing_figure(rel, theirs, base, metric)
        return a - b, ""
    recorded = ((data.get("deltas") or {}).get(label) or {}).get(base)
    if isinstance(recorded, dict):
        value = number(recorded.get(metric))
        if value is not None:
            return value, ""
        return None, f"{rel} has no delta of '{metric}' for {label} against {base}"
    if base.startswith("deployment:"):
        return None, (
            f"baseline {base} is not in {rel}: eval stages do not evaluate what a Deployment "
            "serves; compare against a base_of, finetune, path or hub baseline the suite evaluates"
        )
    return None, f"baseline {base} is not in {rel} (add it to the suite's baselines)"
