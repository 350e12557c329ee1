"""The monitor stage end to end on a real SQLite store: metrics, plots, and the exit it gives."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from llmops.errors import CheckFailed, UsageError
from llmops.runners.monitor.run import run

NOW = 1_764_072_000.0  # the clock the store fixture writes against (conftest.NOW)
DAY = 86400.0

THRESHOLDS = [
    {"policy": "release", "threshold": "max_p95_latency_ms", "limit": 500.0},
    {"policy": "release", "threshold": "min_rating", "limit": 4.0},
    {"policy": "slo", "threshold": "max_thumbs_down_rate", "limit": 0.5},
]


def _metrics(root: Path) -> dict:
    return json.loads((root / "metrics/monitor-prod.json").read_text())


def _fill(store) -> None:
    a = store.request(latency_ms=100)
    b = store.request(latency_ms=200)
    c = store.request(latency_ms=300, status=502)
    store.request(latency_ms=400)
    store.request(latency_ms=9999, ago=8 * DAY)  # outside the 7-day window
    store.request(latency_ms=9999, deployment="other")  # another deployment
    store.feedback(a, rating=5, thumbs=1)
    store.feedback(b, rating=4, thumbs=-1, correction="It ships tomorrow.")
    store.feedback(c, ago=9 * DAY, rating=1)  # outside the window


def test_figures_over_the_window(tmp_path: Path, make_store, config) -> None:
    _fill(make_store())
    run(config(thresholds=THRESHOLDS), tmp_path, now=NOW)
    m = _metrics(tmp_path)
    assert m["requests"]["count"] == 4
    assert m["requests"]["error_rate"] == 0.25
    assert m["requests"]["latency_ms"]["p95"] == pytest.approx(385.0)
    assert m["feedback"]["count"] == 2
    assert m["feedback"]["rating_mean"] == 4.5 and m["feedback"]["rating_n"] == 2
    assert m["feedback"]["thumbs_down_rate"] == 0.5
    assert m["feedback"]["corrections"] == 1
    assert [c["status"] for c in m["checks"]] == ["ok", "ok", "ok"]
    assert m["window"]["days"] == 7
    assert m["_directions"]["feedback.rating_mean"] == "higher"
    assert "no_data" not in m
    daily = list(csv.DictReader((tmp_path / "plots/monitor-prod/daily.csv").open()))
    assert len(daily) == 8  # a 7-day window not aligned to midnight touches 8 UTC days
    assert sum(int(r["requests"]) for r in daily) == 4
    latency = list(csv.DictReader((tmp_path / "plots/monitor-prod/latency.csv").open()))
    assert sum(int(r["requests"]) for r in latency) == 4


def test_crossed_thresholds_fail_after_writing_metrics(tmp_path: Path, make_store, config) -> None:
    _fill(make_store())
    strict = [
        {"policy": "release", "threshold": "max_p95_latency_ms", "limit": 300.0},
        {"policy": "release", "threshold": "min_rating", "limit": 4.8},
        {"policy": "slo", "threshold": "max_thumbs_down_rate", "limit": 0.5},
    ]
    with pytest.raises(CheckFailed) as info:
        run(config(thresholds=strict), tmp_path, now=NOW)
    text = str(info.value)
    assert "2 monitoring threshold(s) not met" in text
    assert "max_p95_latency_ms 300: requests.latency_ms.p95 is 385, above the limit" in text
    assert "min_rating 4.8: feedback.rating_mean is 4.5, below the limit" in text
    assert "thumbs" not in text
    assert info.value.exit_code == 1
    statuses = [c["status"] for c in _metrics(tmp_path)["checks"]]
    assert statuses == ["crossed", "crossed", "ok"]


def test_empty_window_says_so_and_fails_thresholds(tmp_path: Path, make_store, config) -> None:
    store = make_store()
    store.request(ago=30 * DAY)
    with pytest.raises(CheckFailed) as info:
        run(config(thresholds=THRESHOLDS), tmp_path, now=NOW)
    m = _metrics(tmp_path)
    assert m["no_data"] == "no requests and no feedback in the last 7 day(s)"
    assert m["requests"]["count"] == 0 and m["requests"]["latency_ms"]["p95"] is None
    assert [c["status"] for c in m["checks"]] == ["no-data"] * 3
    assert "no requests in the last 7 day(s)" in str(info.value)


def test_empty_window_without_thresholds_passes(tmp_path: Path, make_store, config) -> None:
    make_store()
    run(config(), tmp_path, now=NOW)
    assert _metrics(tmp_path)["checks"] == []


def test_missing_database_is_not_created(tmp_path: Path, config, monkeypatch) -> None:
    monkeypatch.delenv("LLMOPS_FEEDBACK_DB_URL", raising=False)
    run(config(), tmp_path, now=NOW)
    m = _metrics(tmp_path)
    assert m["no_data"].startswith("no feedback database at sqlite:///")
    assert not (tmp_path / ".llmops").exists()


def test_database_url_from_environment_hides_password(tmp_path: Path, config, monkeypatch) -> None:
    from llmops.feedback_db.store import safe_url

    assert "s3cret" not in safe_url("postgresql+psycopg://me:s3cret@db/feedback")
    monkeypatch.delenv("LLMOPS_FEEDBACK_DB_URL", raising=False)
    with pytest.raises(UsageError, match="LLMOPS_FEEDBACK_DB_URL"):
        run(config(feedback_db="postgresql"), tmp_path, now=NOW)


def _reference(root: Path, questions: list[str]) -> dict:
    path = root / "artifacts/datasets/qa/train.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"text": q, "answer": "a"}) + "\n" for q in questions))
    return {"path": "artifacts/datasets/qa/train.jsonl", "columns": ["text"]}


def test_drift_against_training_inputs(tmp_path: Path, make_store, config, prompt_fields) -> None:
    prompt = prompt_fields(template="Question: {{ text }}\nAnswer:")
    reference = _reference(tmp_path, ["where is my parcel", "where is my refund"])
    store = make_store()
    store.request(text="Question: where is my parcel\nAnswer:")  # rendered prompt: template comes off
    store.request(text="bitcoin")
    store.request(text="ignored", status=500)  # failed requests are not inputs
    thresholds = [{"policy": "release", "threshold": "max_drift", "limit": 0.4}]
    with pytest.raises(CheckFailed, match=r"drift\.value is 0\.5, above the limit"):
        run(config(reference=reference, prompt=prompt, thresholds=thresholds), tmp_path, now=NOW)
    drift = _metrics(tmp_path)["drift"]
    assert drift["live_n"] == 2 and drift["reference_n"] == 2
    assert drift["length_ks"] == 0.5  # lengths {4, 1} against {4, 4}
    assert drift["oov_rate"] == pytest.approx(0.2)
    assert drift["value"] == max(drift["length_ks"], drift["vocab_js"])
    assert drift["embedding"]["status"] == "skipped"


def test_drift_without_training_data_on_disk(tmp_path: Path, make_store, config) -> None:
    make_store().request()
    reference = {"path": "artifacts/datasets/qa/train.jsonl", "columns": ["text"]}
    thresholds = [{"policy": "release", "threshold": "max_drift", "limit": 0.4}]
    with pytest.raises(CheckFailed, match="not on disk"):
        run(config(reference=reference, thresholds=thresholds), tmp_path, now=NOW)
    drift = _metrics(tmp_path)["drift"]
    assert drift["value"] is None and "dvc pull" in drift["skipped"]


def test_test_clock_matches_the_store_fixture(now: float) -> None:
    assert now == NOW


def test_github_job_summary(tmp_path: Path, make_store, config, monkeypatch) -> None:
    _fill(make_store())
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run(config(thresholds=THRESHOLDS), tmp_path, now=NOW)
    text = summary.read_text()
    assert "### monitor-prod, last 7 day(s)" in text
    assert "| p50 / p95 / p99 latency (ms) | 250 / 385 / 397 |" in text
    assert "| release | min_rating 4 | 4.5 | ok |" in text
