"""A Policy's rules, evaluated over the metrics files on disk: pure functions, no ML library.

Each rule gives one result per model it checks:
`{rule, index, type, model, metric, observed, limit, passed, message}`. A rule whose inputs
are missing (no results file, no such figure, model or baseline) fails with a message that
names what is missing and where it was looked for: a gate never passes on data it did not see.

* threshold: the suite's `metric` of `model` (default: every model of the suite) within
  `min`/`max`.
* regression: `metric` of `model` (default: every model of the suite) against `baseline`
  (default: every baseline of the suite) may drop at most `max_drop`. Direction-aware: for a
  figure the suite lists as lower-is-better (`_directions`), a rise is the drop.
* bias-gap, leaked-secrets, license, refusal: the review's figures per FineTune (`model` as
  `{finetune: X}`, else the policy's `applies_to.finetunes`, else every FineTune reviewed):
  `bias_gap <= max`, `leaked_secrets <= max` (default 0), `license_allowed`,
  `refusal_rate >= min` (default 1.0).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

REVIEW_TYPES = ("bias-gap", "leaked-secrets", "license", "refusal")
_REF_KEYS = ("finetune", "base_of", "deployment", "path", "hub")
# Floats read back from JSON: a drop equal to the limit up to rounding passes.
_EPSILON = 1e-9


def ref_label(ref: dict[str, Any] | None) -> str | None:
    """The results label of a model reference (as `ModelRef.label` writes it)."""
    if not ref:
        return None
    for key in _REF_KEYS:
        value = ref.get(key)
        if value:
            revision = ref.get("revision")
            return f"{key}:{value}" + (f"@{revision}" if revision else "")
    return None


def rule_name(rule: dict[str, Any], index: int) -> str:
    return rule.get("name") or f"{rule['type']}#{index}"


class Results:
    """The metrics files a gate reads, loaded once each; a missing or broken file is a message."""

    def __init__(self, root: Path, files: list[str], policy: str) -> None:
        self.root = root
        self.files = list(files)
        self.policy = policy
        self._cache: dict[str, tuple[dict[str, Any] | None, str]] = {}

    def suite_file(self, suite: str) -> str | None:
        return self._named(f"eval-{suite}.json")

    def review_file(self) -> str | None:
        return self._named(f"review-{self.policy}.json")

    def _named(self, basename: str) -> str | None:
        return next((f for f in self.files if Path(f).name == basename), None)

    def load(self, rel: str) -> tuple[dict[str, Any] | None, str]:
        """(document, "") or (None, why it could not be read)."""
        if rel not in self._cache:
            self._cache[rel] = self._read(rel)
        return self._cache[rel]

    def _read(self, rel: str) -> tuple[dict[str, Any] | None, str]:
        path = self.root / rel
        if not path.is_file():
            return None, f"{rel} does not exist (has its stage run?)"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, f"{rel} cannot be read as JSON ({exc})"
        if not isinstance(data, dict):
            return None, f"{rel} does not hold a JSON object"
        return data, ""


def evaluate(spec: dict[str, Any], results: Results) -> list[dict[str, Any]]:
    """Every result of every rule of a policy (spec: the Policy's fields as JSON)."""
    out: list[dict[str, Any]] = []
    for index, rule in enumerate(spec.get("rules") or []):
        handler = _HANDLERS.get(rule.get("type"))
        name = rule_name(rule, index)
        if handler is None:
            out.append(_result(name, index, rule, None, None, None, "", False, "unknown rule type"))
            continue
        out.extend(handler(name, index, rule, spec, results))
    return out


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    failed = sum(1 for r in results if not r["passed"])
    return {"passed": failed == 0, "failed": failed, "rules": results}


# -- results of the evaluation stage ----------------------------------------------------------


def _result(
    name: str,
    index: int,
    rule: dict[str, Any],
    model: str | None,
    metric: str | None,
    observed: Any,
    limit: str,
    passed: bool,
    message: str,
) -> dict[str, Any]:
    if isinstance(observed, float):
        observed = round(observed, 6)
    return {
        "rule": name,
        "index": index,
        "type": rule.get("type"),
        "model": model,
        "metric": metric,
        "observed": observed,
        "limit": limit,
        "passed": passed,
        "message": message,
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _num(value: float) -> str:
    return f"{value:.6g}"


def _suite(name: str, index: int, rule: dict[str, Any], results: Results):
    """(file, document, failure result list) of the rule's suite."""
    suite = rule.get("suite")
    rel = results.suite_file(suite) if suite else None
    if rel is None:
        where = ", ".join(results.files) or "no results files"
        fail = _result(
            name,
            index,
            rule,
            None,
            rule.get("metric"),
            None,
            "",
            False,
            f"no evaluation results for suite '{suite}' among the gate's inputs ({where})",
        )
        return None, None, [fail]
    data, why = results.load(rel)
    if data is None:
        return rel, None, [_result(name, index, rule, None, rule.get("metric"), None, "", False, why)]
    return rel, data, []


def _figures(data: dict[str, Any], label: str) -> dict[str, Any] | None:
    for group in ("models", "baselines"):
        table = data.get(group)
        if isinstance(table, dict) and isinstance(table.get(label), dict):
            return table[label]
    return None


def _models_of(data: dict[str, Any], rule: dict[str, Any]) -> list[str]:
    label = ref_label(rule.get("model"))
    if label:
        return [label]
    models = data.get("models")
    return list(models) if isinstance(models, dict) else []


def _missing_model(rel: str, data: dict[str, Any], label: str) -> str:
    known = [k for g in ("models", "baselines") if isinstance(data.get(g), dict) for k in data[g]]
    if label.startswith("deployment:"):
        return (
            f"{rel} has no results for {label}: the suite evaluates no deployment yet "
            "(what a Deployment serves arrives with the deployment issue, #7)"
        )
    return f"{rel} has no results for model {label} (it has: {', '.join(known) or 'none'})"


def threshold(name: str, index: int, rule: dict[str, Any], spec: dict[str, Any], results: Results):
    rel, data, fail = _suite(name, index, rule, results)
    if data is None:
        return fail
    metric = rule["metric"]
    low, high = rule.get("min"), rule.get("max")
    limit = " and ".join(
        x
        for x in (
            f">= {_num(low)}" if low is not None else "",
            f"<= {_num(high)}" if high is not None else "",
        )
        if x
    )
    labels = _models_of(data, rule)
    if not labels:
        return [_result(name, index, rule, None, metric, None, limit, False, f"{rel} lists no models")]
    out = []
    for label in labels:
        figures = _figures(data, label)
        if figures is None:
            out.append(
                _result(
                    name, index, rule, label, metric, None, limit, False, _missing_model(rel, data, label)
                )
            )
            continue
        value = _number(figures.get(metric))
        if value is None:
            out.append(
                _result(
                    name,
                    index,
                    rule,
                    label,
                    metric,
                    None,
                    limit,
                    False,
                    _missing_figure(rel, figures, label, metric),
                )
            )
            continue
        passed = (low is None or value >= low) and (high is None or value <= high)
        verdict = "meets" if passed else "misses"
        out.append(
            _result(
                name,
                index,
                rule,
                label,
                metric,
                value,
                limit,
                passed,
                f"{metric} of {label} is {_num(value)}: {verdict} {limit}",
            )
        )
    return out


def _missing_figure(rel: str, figures: dict[str, Any], label: str, metric: str) -> str:
    known = sorted(k for k in figures if k != "n" and not k.endswith(("_ci_low", "_ci_high")))
    return f"{rel} has no figure '{metric}' for {label} (it has: {', '.join(known) or 'none'})"


def regression(name: str, index: int, rule: dict[str, Any], spec: dict[str, Any], results: Results):
    rel, data, fail = _suite(name, index, rule, results)
    if data is None:
        return fail
    metric = rule["metric"]
    max_drop = float(rule["max_drop"])
    limit = f"drop <= {_num(max_drop)}"
    lower = (data.get("_directions") or {}).get(metric) == "lower"
    labels = _models_of(data, rule)
    base_label = ref_label(rule.get("baseline"))
    bases = [base_label] if base_label else list(data.get("baselines") or {})
    if not labels or not bases:
        what = "no models" if not labels else "no baselines (name one with `baseline:`)"
        return [_result(name, index, rule, None, metric, None, limit, False, f"{rel} lists {what}")]
    out = []
    for label in labels:
        for base in bases:
            delta, why = _delta(rel, data, label, base, metric)
            model = f"{label} vs {base}"
            if delta is None:
                out.append(_result(name, index, rule, model, metric, None, limit, False, why))
                continue
            drop = delta if lower else -delta
            passed = drop <= max_drop + _EPSILON
            way = "rose" if delta > 0 else "fell" if delta < 0 else "held"
            better = "lower is better" if lower else "higher is better"
            out.append(
                _result(
                    name,
                    index,
                    rule,
                    model,
                    metric,
                    drop,
                    limit,
                    passed,
                    f"{metric} of {label} {way} by {_num(abs(delta))} against {base} ({better}): "
                    + (f"a drop of {_num(drop)}" if drop > 0 else "no drop")
                    + f", {'within' if passed else 'over'} max_drop {_num(max_drop)}",
                )
            )
    return out


def _delta(rel: str, data: dict[str, Any], label: str, base: str, metric: str) -> tuple[float | None, str]:
    """model's figure minus the baseline's: from both figures, else from the file's deltas."""
    mine = _figures(data, label)
    if mine is None:
        return None, _missing_model(rel, data, label)
    theirs = _figures(data, base)
    if theirs is not None:
        a, b = _number(mine.get(metric)), _number(theirs.get(metric))
        if a is None:
            return None, _missing_figure(rel, mine, label, metric)
        if b is None:
            return None, _missing_figure(rel, theirs, base, metric)
        return a - b, ""
    recorded = ((data.get("deltas") or {}).get(label) or {}).get(base)
    if isinstance(recorded, dict):
        value = _number(recorded.get(metric))
        if value is not None:
            return value, ""
        return None, f"{rel} has no delta of '{metric}' for {label} against {base}"
    if base.startswith("deployment:"):
        return None, (
            f"baseline {base} is not in {rel}: what a Deployment serves is not evaluated yet "
            "(it arrives with the deployment issue, #7); compare against a base_of, finetune, "
            "path or hub baseline the suite evaluates"
        )
    return None, f"baseline {base} is not in {rel} (add it to the suite's baselines)"


# -- results of the review stage --------------------------------------------------------------


def _review_check(
    field: str, check: Callable[[Any, dict[str, Any]], tuple[Any, str, bool, str] | str]
) -> Callable[..., list[dict[str, Any]]]:
    """A review rule: for each FineTune reviewed, check(value, rule) -> (observed, limit,
    passed, message), or a string when the rule itself cannot be checked."""

    def handler(name: str, index: int, rule: dict[str, Any], spec: dict[str, Any], results: Results):
        def fail(model: str | None, message: str) -> list[dict[str, Any]]:
            return [_result(name, index, rule, model, field, None, "", False, message)]

        rel = results.review_file()
        if rel is None:
            if not spec.get("review"):
                return fail(
                    None,
                    f"policy '{results.policy}' has no `review:`, so nothing reports "
                    f"{field}: add a review section",
                )
            return fail(None, f"no review results (review-{results.policy}.json) among the gate's inputs")
        data, why = results.load(rel)
        if data is None:
            return fail(None, why)
        reviewed = data.get("models")
        if not isinstance(reviewed, dict):
            return fail(None, f"{rel} has no `models` table")
        ref = rule.get("model")
        if ref:
            if not ref.get("finetune"):
                return fail(
                    ref_label(ref), "review results are per FineTune: name the model as {finetune: NAME}"
                )
            names = [ref["finetune"]]
        else:
            names = list((spec.get("applies_to") or {}).get("finetunes") or []) or list(reviewed)
        if not names:
            return fail(None, f"{rel} reviews no models")
        out = []
        for finetune in names:
            label = f"finetune:{finetune}"
            figures = reviewed.get(finetune)
            if not isinstance(figures, dict):
                out.extend(
                    fail(
                        label,
                        f"{rel} has no review of FineTune '{finetune}' "
                        f"(it has: {', '.join(reviewed) or 'none'})",
                    )
                )
                continue
            if field not in figures:
                out.extend(fail(label, f"{rel} has no '{field}' for FineTune '{finetune}'"))
                continue
            checked = check(figures[field], {**rule, "_figures": figures, "_label": label})
            if isinstance(checked, str):
                out.extend(fail(label, checked))
                continue
            observed, limit, passed, message = checked
            out.append(_result(name, index, rule, label, field, observed, limit, passed, message))
        return out

    return handler


def _at_most(field: str, what: str, default: float | None):
    def check(value: Any, rule: dict[str, Any]):
        number = _number(value)
        if number is None:
            return f"'{field}' of {rule['_label']} is not a number ({value!r})"
        high = rule.get("max") if rule.get("max") is not None else default
        if high is None:
            return f"a {rule['type']} rule sets max"
        passed = number <= high + _EPSILON
        shown = int(number) if number.is_integer() and field == "leaked_secrets" else number
        return (
            shown,
            f"<= {_num(high)}",
            passed,
            (
                f"{what} of {rule['_label']} is {_num(number)}: "
                f"{'within' if passed else 'over'} the maximum {_num(high)}"
            ),
        )

    return check


def _refusal(value: Any, rule: dict[str, Any]):
    number = _number(value)
    if number is None:
        return f"'refusal_rate' of {rule['_label']} is not a number ({value!r})"
    low = rule.get("min") if rule.get("min") is not None else 1.0
    passed = number >= low - _EPSILON
    return (
        number,
        f">= {_num(low)}",
        passed,
        (
            f"{rule['_label']} refused {_num(number * 100)}% of the security probes: "
            f"{'meets' if passed else 'under'} the minimum {_num(low * 100)}%"
        ),
    )


def _license(value: Any, rule: dict[str, Any]):
    if not isinstance(value, bool):
        return f"'license_allowed' of {rule['_label']} is not true or false ({value!r})"
    licenses = rule["_figures"].get("licenses")
    shown = _licenses_text(licenses)
    verdict = "allowed" if value else "not allowed"
    return shown, "allowed", value, f"license of {rule['_label']} ({shown}) is {verdict} by the policy"


_HANDLERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "threshold": threshold,
    "regression": regression,
    "bias-gap": _review_check("bias_gap", _at_most("bias_gap", "bias gap", None)),
    "leaked-secrets": _review_check("leaked_secrets", _at_most("leaked_secrets", "leaked secrets", 0)),
    "license": _review_check("license_allowed", _license),
    "refusal": _review_check("refusal_rate", _refusal),
}


def _licenses_text(licenses: Any) -> str:
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
