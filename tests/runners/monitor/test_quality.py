"""Service and feedback figures, the daily series and the latency histogram, by hand."""

from __future__ import annotations

import pytest

from llmops.runners.monitor.quality import daily_series, feedback_figures, latency_histogram, request_figures

DAY = 86400.0


def _req(latency: float, status: int = 200, at: float = 0.0) -> dict:
    return {"latency_ms": latency, "status_code": status, "created_at": at, "request_text": "q"}


def test_request_figures() -> None:
    rows = [_req(100), _req(200), _req(300, 500), _req(400)]
    out = request_figures(rows)
    assert out["count"] == 4
    assert out["errors"] == 1
    assert out["error_rate"] == 0.25
    assert out["latency_ms"]["p50"] == pytest.approx(250.0)
    assert out["latency_ms"]["p95"] == pytest.approx(385.0)  # rank 2.85 -> 300 + 0.85 * 100
    assert out["latency_ms"]["mean"] == 250.0


def test_request_figures_empty() -> None:
    out = request_figures([])
    assert out["count"] == 0 and out["error_rate"] is None and out["latency_ms"]["p95"] is None


def test_feedback_figures() -> None:
    rows = [
        {"rating": 5, "thumbs": None, "correction": None, "created_at": 0},
        {"rating": 2, "thumbs": -1, "correction": "Better answer", "created_at": 0},
        {"rating": None, "thumbs": -1, "correction": "  ", "created_at": 0},
        {"rating": None, "thumbs": 1, "correction": None, "created_at": 0},
    ]
    out = feedback_figures(rows)
    assert out["count"] == 4
    assert out["rating_mean"] == 3.5 and out["rating_n"] == 2
    assert out["thumbs_n"] == 3 and out["thumbs_down"] == 2
    assert out["thumbs_down_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert out["corrections"] == 1
    assert feedback_figures([])["rating_mean"] is None


def test_daily_series_has_every_day_of_the_window() -> None:
    start = 10 * DAY + 3600  # a window starting an hour into a UTC day
    end = start + 3 * DAY
    requests = [_req(100, at=start + 10), _req(300, at=start + 20), _req(50, at=start + DAY)]
    feedback = [{"rating": 4, "thumbs": -1, "correction": None, "created_at": start + 2 * DAY}]
    rows = daily_series(requests, feedback, start, end)
    assert [r["day"] for r in rows] == ["1970-01-11", "1970-01-12", "1970-01-13", "1970-01-14"]
    assert [r["requests"] for r in rows] == [2, 1, 0, 0]
    assert rows[0]["p95_latency_ms"] == pytest.approx(290.0)
    assert rows[2]["rating_mean"] == 4.0 and rows[2]["thumbs_down_rate"] == 1.0
    assert rows[3]["rating_mean"] is None


def test_latency_histogram_buckets() -> None:
    rows = latency_histogram([_req(0), _req(49.9), _req(50), _req(70000)])
    by_low = {r["low_ms"]: r["requests"] for r in rows}
    assert by_low[0] == 2 and by_low[50] == 1 and by_low[60000] == 1
    assert rows[-1]["high_ms"] is None
    assert sum(by_low.values()) == 4
