"""The Policy monitoring thresholds against one window's figures.

A threshold the Policy sets is a promise that the figure is watched. When the window holds no
data to compute the figure (no ratings for `min_rating`, no requests for `max_p95_latency_ms`, no
training data or traffic for `max_drift`, no retrieval-augmented requests for the two retrieval
thresholds), the check is `no-data` and fails like a crossed one:
a dead gateway, a broken feedback widget or a missing training set must not look healthy. Widen
`monitoring.window_days` or drop the threshold where sparse data is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.compiler.stages.monitor import Threshold

# threshold -> (dotted figure in the metrics, True when the figure must stay at or above the limit)
THRESHOLDS: dict[str, tuple[str, bool]] = {
    "min_rating": ("feedback.rating_mean", True),
    "max_thumbs_down_rate": ("feedback.thumbs_down_rate", False),
    "max_p95_latency_ms": ("requests.latency_ms.p95", False),
    "max_drift": ("drift.value", False),
    "max_empty_retrieval_rate": ("retrieval.empty_retrieval_rate", False),
    "max_p95_retrieval_ms": ("retrieval.retrieval_p95_ms", False),
    "max_injection_rate": ("abuse.injection_rate", False),
    "max_jailbreak_rate": ("abuse.jailbreak_rate", False),
    "max_pii_prompt_rate": ("abuse.pii_prompt_rate", False),
    "max_rate_limited_rate": ("abuse.rate_limited_rate", False),
    "max_rate_anomaly_keys": ("abuse.rate_anomaly_keys", False),
    "max_repeated_pii_keys": ("abuse.repeated_pii_keys", False),
}

# What a missing figure lacked, for the message.
_MISSING = {
    "min_rating": "no ratings",
    "max_thumbs_down_rate": "no thumbs up or down",
    "max_p95_latency_ms": "no requests",
    "max_drift": "no drift figure",
    "max_empty_retrieval_rate": "no retrieval-augmented requests",
    "max_p95_retrieval_ms": "no retrieval-augmented requests",
    "max_injection_rate": "no screened requests",
    "max_jailbreak_rate": "no screened requests",
    "max_pii_prompt_rate": "no screened requests",
    "max_rate_limited_rate": "no screened requests",
    "max_rate_anomaly_keys": "no requests",
    "max_repeated_pii_keys": "no screened requests",
}


@dataclass(frozen=True)
class Check:
    policy: str
    threshold: str
    limit: float
    figure: str
    value: float | None
    status: str  # ok | crossed | no-data

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "threshold": self.threshold,
            "limit": self.limit,
            "figure": self.figure,
            "value": self.value,
            "status": self.status,
        }

    def message(self, days: int, why_missing: str = "") -> str:
        where = f"policy {self.policy}: {self.threshold} {self.limit:g}"
        if self.status == "no-data":
            reason = why_missing or _MISSING[self.threshold]
            return f"{where}: {reason} in the last {days} day(s) to check {self.figure} against"
        side = "below" if THRESHOLDS[self.threshold][1] else "above"
        return f"{where}: {self.figure} is {self.value:g}, {side} the limit"


def lookup(metrics: dict[str, Any], dotted: str) -> float | None:
    value: Any = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evaluate(metrics: dict[str, Any], thresholds: list[Threshold]) -> list[Check]:
    """One check per (policy, threshold), in the order the stage config lists them."""
    checks = []
    for entry in thresholds:
        name, limit = entry.threshold, entry.limit
        figure, at_least = THRESHOLDS[name]
        value = lookup(metrics, figure)
        if value is None:
            status = "no-data"
        elif (value < limit) if at_least else (value > limit):
            status = "crossed"
        else:
            status = "ok"
        checks.append(Check(entry.policy, name, limit, figure, value, status))
    return checks
