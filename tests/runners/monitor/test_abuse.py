"""Abuse figures from the gateway's flags, and the Policy thresholds that gate on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.errors import CheckFailed
from llmops.runners.monitor.abuse import abuse_figures
from llmops.runners.monitor.run import run

NOW = 1_764_072_000.0  # conftest.NOW


def _row(key: str | None, flags: list[str] | None, at: float, n: int) -> dict:
    return {
        "id": f"r{n:05d}",
        "created_at": at,
        "deployment": "prod",
        "route": "/v1/chat/completions",
        "status_code": 429 if flags and "rate_limited" in flags else 200,
        "latency_ms": 10.0,
        "request_text": "hello",
        "key_id": key,
        "abuse": None if flags is None else json.dumps(flags),
    }


def _traffic() -> list[dict]:
    rows = []
    start = NOW - 3600 * 3
    for minute in range(60):  # three steady keys, one request a minute each
        for key in ("web", "app", "bot"):
            rows.append(_row(key, [], start + 60 * minute, len(rows)))
    rows[0]["abuse"] = json.dumps(["prompt_injection"])
    rows[2]["abuse"] = json.dumps(["jailbreak", "pii"])
    for i in range(3):  # app sends PII three times
        rows[4 + 3 * i]["abuse"] = json.dumps(["pii"])
    for i in range(60):  # then bot bursts: 60 requests in one minute, 10 of them rate-limited
        rows.append(_row("bot", ["rate_limited"] if i >= 50 else [], start + 3600 + i * 0.5, len(rows)))
    rows.append(_row(None, None, start, len(rows)))  # a row from before migration 0003
    return rows


def test_rates_repeated_pii_and_rate_anomalies() -> None:
    rows = _traffic()
    a = abuse_figures(rows, detect=True, z=5.0, min_requests=30, repeated_pii=3)
    assert (a["requests"], a["screened"], a["keys"]) == (241, 240, 4)
    assert a["injection_rate"] == round(1 / 240, 6) and a["jailbreak_rate"] == round(1 / 240, 6)
    assert a["pii_prompt_rate"] == round(4 / 240, 6)
    assert a["rate_limited_rate"] == round(10 / 240, 6)
    assert a["repeated_pii_keys"] == 1 and a["repeated_pii"] == [{"key": "app", "requests": 3}]
    assert a["rate_anomaly_keys"] == 1 and a["rate_anomalies"][0]["key"] == "bot"
    assert a["rate_anomalies"][0]["peak"] == 60
    off = abuse_figures(rows, detect=False, z=5.0, min_requests=30, repeated_pii=3)
    assert off["injection_rate"] is None and off["rate_limited_rate"] == a["rate_limited_rate"]


def test_a_policy_abuse_threshold_fails_the_monitor(tmp_path: Path, make_store, config) -> None:
    store = make_store()
    with store.rows.engine.begin() as conn:
        conn.execute(store.rows.store.requests.insert(), _traffic())
    thresholds = [
        {"policy": "abuse", "threshold": "max_injection_rate", "limit": 0.01},
        {"policy": "abuse", "threshold": "max_rate_anomaly_keys", "limit": 0},
        {"policy": "abuse", "threshold": "max_pii_prompt_rate", "limit": 0.5},
    ]
    with pytest.raises(CheckFailed, match=r"max_rate_anomaly_keys 0: abuse\.rate_anomaly_keys is 1"):
        run(config(thresholds=thresholds), tmp_path, now=NOW)
    m = json.loads((tmp_path / "metrics/monitor-prod.json").read_text())
    assert [c["status"] for c in m["checks"]] == ["ok", "crossed", "ok"]
    assert m["abuse"]["injection"] == 1 and m["_directions"]["abuse.injection_rate"] == "lower"
