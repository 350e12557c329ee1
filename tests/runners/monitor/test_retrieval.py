"""Retrieval figures of a RAG deployment: rates and latency percentiles from the gateway's
`retrieved` / `retrieval_ms` columns, the passages cited by badly rated answers, and the two Policy
thresholds on them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from llmops.errors import CheckFailed
from llmops.runners.monitor.retrieval import retrieval_figures
from llmops.runners.monitor.run import run

THRESHOLDS = [
    {"policy": "rag", "threshold": "max_empty_retrieval_rate", "limit": 0.3},
    {"policy": "rag", "threshold": "max_p95_retrieval_ms", "limit": 100.0},
]


def _record(*ids: str) -> str:
    passages = [{"id": i, "doc_id": i.split("#")[0], "score": 0.5 + n / 10} for n, i in enumerate(ids)]
    return json.dumps({"index": "kb", "top_k": 2, "passages": passages})


def _rag(store, ms: float, ids: tuple[str, ...], **fields) -> str:  # type: ignore[no-untyped-def]
    """A request row as a RAG gateway writes it (the shared row writer, plus the retrieval columns)."""
    rid = store.request(**fields)
    from llmops.feedback_db.store import requests

    with store.rows.engine.begin() as conn:
        conn.execute(
            sa.update(requests)
            .where(requests.c.id == rid)
            .values(retrieval_ms=ms, retrieved=len(ids), retrieval=_record(*ids))
        )
    return rid


def _fill(store) -> None:  # type: ignore[no-untyped-def]
    a = _rag(store, 10.0, ("reset#0", "billing#2"))
    b = _rag(store, 20.0, ("stale#1", "reset#0"))
    c = _rag(store, 30.0, ())  # found nothing
    d = _rag(store, 40.0, ("stale#1",))
    store.request(latency_ms=50)  # a request without retrieval (before the prompt retrieved)
    store.feedback(a, thumbs=1)
    store.feedback(b, thumbs=-1)
    store.feedback(c, rating=1)  # bad, but cited nothing
    store.feedback(d, rating=2)


def test_figures_and_the_passages_bad_answers_cite(tmp_path: Path, make_store, config, now) -> None:
    _fill(make_store())
    run(config(thresholds=THRESHOLDS, retrieval_index="artifacts/indexes/kb"), tmp_path, now=now)
    m = json.loads((tmp_path / "metrics/monitor-prod.json").read_text())
    x = m["retrieval"]
    assert x["requests"] == 4 and x["empty"] == 1
    assert x["empty_retrieval_rate"] == 0.25
    assert x["retrieval_p50_ms"] == 25.0
    assert x["retrieval_p95_ms"] == pytest.approx(38.5)
    assert x["passages_mean"] == 1.25
    assert x["bad_answers"] == 3
    assert x["bad_answer_passages"] == [
        {"id": "stale#1", "doc_id": "stale", "bad_answers": 2, "mean_score": 0.5},
        {"id": "reset#0", "doc_id": "reset", "bad_answers": 1, "mean_score": 0.6},
    ]
    assert [c["status"] for c in m["checks"]] == ["ok", "ok"]
    assert m["_directions"]["retrieval.empty_retrieval_rate"] == "lower"
    daily = list(csv.DictReader((tmp_path / "plots/monitor-prod/retrieval.csv").open()))
    assert len(daily) == 8 and sum(int(r["retrievals"]) for r in daily) == 4
    assert [r["empty_retrieval_rate"] for r in daily if r["retrievals"] != "0"] == ["0.25"]


def test_crossed_retrieval_thresholds_fail_the_stage(tmp_path: Path, make_store, config, now) -> None:
    _fill(make_store())
    tight = [
        {"policy": "rag", "threshold": "max_empty_retrieval_rate", "limit": 0.1},
        {"policy": "rag", "threshold": "max_p95_retrieval_ms", "limit": 30.0},
    ]
    with pytest.raises(CheckFailed) as failed:
        run(config(thresholds=tight, retrieval_index="artifacts/indexes/kb"), tmp_path, now=now)
    message = str(failed.value)
    assert "retrieval.empty_retrieval_rate is 0.25, above the limit" in message
    assert "retrieval.retrieval_p95_ms is 38.5, above the limit" in message


def test_no_rag_traffic_is_no_data_for_the_thresholds(tmp_path: Path, make_store, config, now) -> None:
    make_store().request(latency_ms=50)
    with pytest.raises(CheckFailed, match="no retrieval-augmented requests in the last 7 day"):
        run(config(thresholds=THRESHOLDS[:1]), tmp_path, now=now)
    m = json.loads((tmp_path / "metrics/monitor-prod.json").read_text())
    assert m["retrieval"]["requests"] == 0 and m["retrieval"]["empty_retrieval_rate"] is None


def test_a_deployment_without_retrieval_gets_no_section(tmp_path: Path, make_store, config, now) -> None:
    make_store().request(latency_ms=50)
    run(config(), tmp_path, now=now)
    assert "retrieval" not in json.loads((tmp_path / "metrics/monitor-prod.json").read_text())
    assert not (tmp_path / "plots/monitor-prod/retrieval.csv").exists()


def test_retrieval_figures_by_hand() -> None:
    rows = [{"retrieved": 0, "retrieval_ms": 5.0}, {"retrieved": 3, "retrieval_ms": None}]
    rows.append({"retrieved": None})
    bad = [{"thumbs": -1, "retrieval": "not json"}, {"rating": 5, "retrieval": _record("a#0")}]
    x = retrieval_figures(rows, bad)
    assert (x["requests"], x["empty"], x["empty_retrieval_rate"]) == (2, 1, 0.5)
    assert x["retrieval_p95_ms"] == 5.0
    assert x["bad_answers"] == 1 and x["bad_answer_passages"] == []
