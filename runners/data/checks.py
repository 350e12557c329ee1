"""Expectations on the finished dataset, and other contracts checked before anything is written.
Pure: each function returns the problems it found, and `run` turns them into one StageFailed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from llmops.compiler.kinds.dataset import Expectations
from llmops.runners.data.text import Record, as_text, key


def duplicate_rate(records: Iterable[Record], text_column: str) -> float:
    """Share of records whose normalized text an earlier record already had."""
    seen: set[str] = set()
    total = 0
    for record in records:
        total += 1
        seen.add(key(record.get(text_column)))
    return round((total - len(seen)) / total, 6) if total else 0.0


def pii_left(rows: Iterable[Record], max_pii: int | None) -> list[str]:
    """The max_pii contract: PII still in the final rows (after any pii-redact step)."""
    if max_pii is None:
        return []
    from llmops.pii.detect import count_pii

    found: Counter[str] = Counter()
    for record in rows:
        for column, value in record.items():
            if not column.startswith("_"):
                for text in _strings(value):
                    found.update(count_pii(text))
    total = sum(found.values())
    if total <= max_pii:
        return []
    kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(found.items()))
    return [
        f"expectations.max_pii: {total} PII values are left ({kinds}), more than {max_pii}; "
        "add a pii-redact cleaning step"
    ]


def _strings(value: object) -> Iterable[str]:
    """Every string in a cell, nested ones too (chat `messages` lists), as pii-redact sees them."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def expectations(expect: Expectations, rows: list[Record], dup_rate: float) -> list[str]:
    problems = []
    if len(rows) < expect.min_rows:
        problems.append(
            f"expectations.min_rows: the dataset has {len(rows)} rows, fewer than {expect.min_rows}"
        )
    for column in expect.required_columns:
        missing = [r for r in rows if r.get(column) in (None, "")]
        if missing:
            sources = sorted({str(r.get("_source")) for r in missing})
            problems.append(
                f"expectations.required_columns: {len(missing)} of {len(rows)} rows have no "
                f"'{column}' (from source {', '.join(sources)})"
            )
    if expect.max_duplicate_rate is not None and dup_rate > expect.max_duplicate_rate:
        problems.append(
            f"expectations.max_duplicate_rate: {dup_rate:.2%} of rows repeat an earlier text, "
            f"more than {expect.max_duplicate_rate:.2%}; add a dedup-exact cleaning step"
        )
    return problems


def duplicate_ids(rows: list[Record], id_column: str | None) -> list[str]:
    if not id_column:
        return []
    counts = Counter(as_text(r.get(id_column)) for r in rows)
    repeated = sorted(value for value, n in counts.items() if n > 1)
    if not repeated:
        return []
    shown = ", ".join(repr(v) for v in repeated[:5])
    return [f"id_column: {len(repeated)} ids appear more than once ({shown})"]
