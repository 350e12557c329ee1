"""Retrieval figures of a RAG deployment's window, from what its gateway logged per request.

Pure functions of the rows `window.read_window` returns. Definitions:
- a RAG request: a request row with a retrieval logged (`retrieved` is set: the gateway searched
  the index for it, whatever the engine answered afterwards);
- `empty_retrieval_rate`: RAG requests whose search found no passage / RAG requests (the model
  then answered without any context: an index gap, a filter too narrow, a `min_score` too high);
- `retrieval_p50_ms` / `retrieval_p95_ms` / `retrieval_p99_ms`: percentiles (linear
  interpolation) of the search time (query embedding + index search + rerank);
- `bad_answer_passages`: the passages cited most often by answers that got a thumbs down or a
  rating of `BAD_RATING` or less in the window, so a wrong or stale passage can be found and fixed.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from typing import Any

from llmops.runners.monitor.stats import mean, percentile

BAD_RATING = 2  # a rating at or below this is a bad answer
TOP_PASSAGES = 10


def is_rag(row: dict[str, Any]) -> bool:
    return row.get("retrieved") is not None


def retrieval_figures(requests: list[dict[str, Any]], feedback: list[dict[str, Any]]) -> dict[str, Any]:
    rag = [r for r in requests if is_rag(r)]
    times = [float(r["retrieval_ms"]) for r in rag if r.get("retrieval_ms") is not None]
    empty = sum(1 for r in rag if int(r["retrieved"]) == 0)
    passages = [int(r["retrieved"]) for r in rag]
    bad = [f for f in feedback if _is_bad(f) and f.get("retrieval")]
    return {
        "requests": len(rag),
        "empty": empty,
        "empty_retrieval_rate": _r(empty / len(rag)) if rag else None,
        "retrieval_p50_ms": _r(percentile(times, 50)),
        "retrieval_p95_ms": _r(percentile(times, 95)),
        "retrieval_p99_ms": _r(percentile(times, 99)),
        "passages_mean": _r(mean(passages)),
        "bad_answers": len(bad),
        "bad_answer_passages": bad_answer_passages(bad),
    }


def bad_answer_passages(bad: list[dict[str, Any]], top: int = TOP_PASSAGES) -> list[dict[str, Any]]:
    """The passages most cited by badly rated answers: id, doc_id, how many bad answers cited it
    and its mean retrieval score there; most cited first, then by id (deterministic)."""
    counts: Counter[str] = Counter()
    docs: dict[str, str | None] = {}
    scores: dict[str, list[float]] = defaultdict(list)
    for row in bad:
        seen: set[str] = set()
        for passage in _passages(row["retrieval"]):
            pid = passage.get("id")
            if not isinstance(pid, str) or pid in seen:
                continue
            seen.add(pid)
            counts[pid] += 1
            docs.setdefault(pid, passage.get("doc_id"))
            if isinstance(passage.get("score"), int | float):
                scores[pid].append(float(passage["score"]))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [
        {"id": pid, "doc_id": docs.get(pid), "bad_answers": n, "mean_score": _r(mean(scores[pid]))}
        for pid, n in ranked
    ]


def daily_retrieval(requests: list[dict[str, Any]], start: float, end: float) -> list[dict[str, Any]]:
    """One row per UTC day of the window (days without RAG requests too, their figures empty):
    `plots/monitor-<deployment>/retrieval.csv`."""
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        if is_rag(r):
            by_day[_day(r["created_at"])].append(r)
    rows = []
    day_start = start - start % 86400
    while day_start < end:
        day = _day(day_start)
        figures = retrieval_figures(by_day[day], [])
        rows.append(
            {
                "day": day,
                "retrievals": figures["requests"],
                "empty_retrieval_rate": figures["empty_retrieval_rate"],
                "retrieval_p95_ms": figures["retrieval_p95_ms"],
            }
        )
        day_start += 86400
    return rows


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(float(ts)))


def _passages(text: Any) -> list[dict[str, Any]]:
    try:
        record = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return []
    found = record.get("passages") if isinstance(record, dict) else None
    return [p for p in found if isinstance(p, dict)] if isinstance(found, list) else []


def _is_bad(row: dict[str, Any]) -> bool:
    thumbs, rating = row.get("thumbs"), row.get("rating")
    return (thumbs is not None and int(thumbs) < 0) or (rating is not None and int(rating) <= BAD_RATING)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
