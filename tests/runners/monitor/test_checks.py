"""Policy monitoring thresholds: crossed, met, and no data to check."""

from __future__ import annotations

from llmops.compiler.stages.monitor import Threshold
from llmops.runners.monitor.checks import evaluate, lookup

METRICS = {
    "requests": {"latency_ms": {"p95": 900.0}},
    "feedback": {"rating_mean": 3.9, "thumbs_down_rate": 0.1},
    "drift": {"value": None},
}


def _t(name: str, limit: float, policy: str = "p") -> Threshold:
    return Threshold(policy=policy, threshold=name, limit=limit)


def test_each_threshold_direction() -> None:
    checks = evaluate(
        METRICS,
        [
            _t("min_rating", 4.0),
            _t("min_rating", 3.9),
            _t("max_thumbs_down_rate", 0.05),
            _t("max_thumbs_down_rate", 0.1),
            _t("max_p95_latency_ms", 800),
            _t("max_p95_latency_ms", 1000),
        ],
    )
    assert [c.status for c in checks] == ["crossed", "ok", "crossed", "ok", "crossed", "ok"]


def test_missing_figure_is_no_data_not_a_pass() -> None:
    (check,) = evaluate(METRICS, [_t("max_drift", 0.3, "release")])
    assert check.status == "no-data" and check.value is None
    text = check.message(7)
    assert "release" in text and "max_drift 0.3" in text and "last 7 day(s)" in text


def test_crossed_message_names_value_and_side() -> None:
    (check,) = evaluate(METRICS, [_t("min_rating", 4.0, "release")])
    assert check.message(7) == "policy release: min_rating 4: feedback.rating_mean is 3.9, below the limit"


def test_lookup_ignores_non_numbers() -> None:
    assert lookup({"a": {"b": True}}, "a.b") is None
    assert lookup({"a": {"b": 2}}, "a.b") == 2.0
    assert lookup({"a": 1}, "a.b") is None
