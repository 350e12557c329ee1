"""Service and quality figures of one window: traffic, errors, latency, ratings, thumbs.

Pure functions of the rows `window.read_window` returns. Definitions:
- error: a request whose status code is 400 or more; `error_rate` = errors / requests.
- latency percentiles: over every request in the window (errors too: a timeout is what the
  client waited), in milliseconds as the client saw them through the gateway.
- `rating_mean`: the mean of the 1..5 ratings given in the window, with `rating_n` of them.
- `thumbs_down_rate`: thumbs down / feedback rows that carry a thumb (up or down).
- `corrections`: feedback rows with a non-empty corrected answer.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from llmops.runners.monitor.stats import mean, percentile

# Histogram bucket edges in ms: fine where interactive latency lives, coarse beyond.
LATENCY_EDGES = (0, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 20000, 60000)


def request_figures(requests: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [float(r["latency_ms"]) for r in requests]
    errors = sum(1 for r in requests if int(r["status_code"]) >= 400)
    return {
        "count": len(requests),
        "errors": errors,
        "error_rate": _r(errors / len(requests)) if requests else None,
        "latency_ms": {
            "p50": _r(percentile(latencies, 50)),
            "p95": _r(percentile(latencies, 95)),
            "p99": _r(percentile(latencies, 99)),
            "mean": _r(mean(latencies)),
        },
    }


def feedback_figures(feedback: list[dict[str, Any]]) -> dict[str, Any]:
    ratings = [int(f["rating"]) for f in feedback if f.get("rating") is not None]
    thumbs = [int(f["thumbs"]) for f in feedback if f.get("thumbs") is not None]
    down = sum(1 for t in thumbs if t < 0)
    return {
        "count": len(feedback),
        "rating_mean": _r(mean(ratings)),
        "rating_n": len(ratings),
        "thumbs_n": len(thumbs),
        "thumbs_down": down,
        "thumbs_down_rate": _r(down / len(thumbs)) if thumbs else None,
        "corrections": sum(1 for f in feedback if (f.get("correction") or "").strip()),
    }


def daily_series(
    requests: list[dict[str, Any]], feedback: list[dict[str, Any]], start: float, end: float
) -> list[dict[str, Any]]:
    """One row per UTC day of the window, days without data included (their figures empty)."""
    req_by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    fb_by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        req_by_day[_day(r["created_at"])].append(r)
    for f in feedback:
        fb_by_day[_day(f["created_at"])].append(f)
    rows = []
    day_start = start - start % 86400
    while day_start < end:
        day = _day(day_start)
        reqs, fbs = request_figures(req_by_day[day]), feedback_figures(fb_by_day[day])
        rows.append(
            {
                "day": day,
                "requests": reqs["count"],
                "error_rate": reqs["error_rate"],
                "p95_latency_ms": reqs["latency_ms"]["p95"],
                "feedback": fbs["count"],
                "rating_mean": fbs["rating_mean"],
                "rating_n": fbs["rating_n"],
                "thumbs_down_rate": fbs["thumbs_down_rate"],
            }
        )
        day_start += 86400
    return rows


def latency_histogram(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Counts per bucket [low, high); the last bucket is open-ended (high empty)."""
    counts = [0] * len(LATENCY_EDGES)
    for r in requests:
        value = float(r["latency_ms"])
        index = max(i for i, edge in enumerate(LATENCY_EDGES) if value >= edge) if value >= 0 else 0
        counts[index] += 1
    rows = []
    for i, low in enumerate(LATENCY_EDGES):
        high = LATENCY_EDGES[i + 1] if i + 1 < len(LATENCY_EDGES) else None
        rows.append({"low_ms": low, "high_ms": high, "requests": counts[i]})
    return rows


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(float(ts)))


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
