"""Cleaning steps: each is a pure generator from records to records, applied in spec order.

`clean()` chains them lazily and counts the rows going in and out of every step, so the metrics
can say what each step dropped. Steps that arrive with a later llmops fail before any row is read.

Dedup steps keep the first record of each group while they stream. With `keep: last` or
`keep: preferred` the step holds the rows it gets, runs the same first-wins dedup over them in the
order of who should win (last read first; or highest source `priority`, then last read), and
yields the survivors in their read order: a correction exported from feedback (a later source,
priority 10) then replaces the original answer to the same question instead of being dropped as
its duplicate, and (exact dedup) takes the columns it lacks, such as the topic label, from it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops.compiler.kinds.dataset import (
    CleaningStep,
    DedupExact,
    DedupNear,
    DropEmpty,
    LanguageFilter,
    LengthFilter,
    Normalize,
    PiiRedact,
    RegexFilter,
)
from llmops.errors import StageFailed
from llmops.runners.data.text import Record, as_text, column_value, normalize, record_key, tokens

SAMPLES_KEPT = 20


@dataclass
class StepCount:
    """Rows into and out of one step; `changed` counts rows a rewriting step modified.

    Steps call `drop(record, reason)` for each record they remove, so the metrics can say why
    and a few dropped records are kept for a person to review; `found` counts what a step
    detected (PII kinds, languages).
    """

    position: int
    step: str
    rows_in: int = 0
    rows_out: int = 0
    changed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    found: Counter[str] = field(default_factory=Counter)

    def drop(self, record: Record, reason: str) -> None:
        """Count by the reason's kind ("near duplicate", not each score); samples keep it whole."""
        self.reasons[reason.split(" (", 1)[0]] += 1
        if len(self.samples) < SAMPLES_KEPT:
            self.samples.append({"reason": reason, "record": record})

    @property
    def dropped(self) -> int:
        return self.rows_in - self.rows_out

    @property
    def name(self) -> str:
        return f"{self.position}-{self.step}"


Step = Callable[[Iterable[Record], StepCount], Iterator[Record]]


def clean(
    records: Iterable[Record],
    steps: list[CleaningStep],
    text_column: str,
    priorities: Sequence[int] = (),
) -> tuple[Iterator[Record], list[StepCount]]:
    """The cleaned stream and one live counter per step (complete once the stream is drained).
    `priorities[i]` is source i's `priority` (what `keep: preferred` ranks by; missing: 0)."""
    built = [build(step, position, text_column, priorities) for position, step in enumerate(steps, start=1)]
    counts: list[StepCount] = []
    stream: Iterator[Record] = iter(records)
    for position, (step, fn) in enumerate(zip(steps, built, strict=True), start=1):
        count = StepCount(position, step.step)
        counts.append(count)
        stream = _counted(fn(_counted_in(stream, count), count), count)
    return stream, counts


def build(step: CleaningStep, position: int, text_column: str, priorities: Sequence[int] = ()) -> Step:
    """Check one step's settings and return the function that applies it."""
    where = f"cleaning step {position} ({step.step})"
    if isinstance(step, DedupExact | DedupNear) and step.keep != "first":
        first_wins = build(step.model_copy(update={"keep": "first"}), position, text_column)
        keep, ranks = step.keep, tuple(priorities)
        same: Callable[[Record], str] | None = None
        if isinstance(step, DedupExact):
            columns = step.columns or [text_column]
            same = lambda record: record_key(record, columns)  # noqa: E731
        return lambda rows, count: _winner_first(rows, count, first_wins, keep, ranks, same)
    if isinstance(step, Normalize):
        return lambda rows, count: _normalize(rows, count, step)
    if isinstance(step, DropEmpty):
        columns = step.columns or [text_column]
        return lambda rows, count: _drop_empty(rows, columns, where, count)
    if isinstance(step, LengthFilter):
        column = step.column or text_column
        return lambda rows, count: _length_filter(rows, column, step, where, count)
    if isinstance(step, RegexFilter):
        try:
            pattern = re.compile(step.pattern)
        except re.error as exc:
            raise StageFailed(f"{where}: the pattern {step.pattern!r} is not a valid regex ({exc})") from exc
        column = step.column or text_column
        return lambda rows, count: _regex_filter(rows, column, pattern, step.action == "keep", where, count)
    if isinstance(step, DedupExact):
        columns = step.columns or [text_column]
        return lambda rows, count: _dedup_exact(rows, columns, where, count)
    if isinstance(step, DedupNear):
        from llmops.runners.data.neardup import near_dedup

        column = step.column or text_column
        return lambda rows, count: near_dedup(rows, column, step, count, where=where)
    if isinstance(step, LanguageFilter):
        from llmops.runners.data.language import language_filter

        column = step.column or text_column
        return lambda rows, count: language_filter(rows, column, step, count, where=where)
    if isinstance(step, PiiRedact):
        from llmops.pii.detect import redact_records

        return lambda rows, count: redact_records(rows, list(step.columns), list(step.kinds), count)
    raise StageFailed(f"{where}: unknown step")  # pragma: no cover - the spec model forbids it


def _normalize(rows: Iterable[Record], count: StepCount, step: Normalize) -> Iterator[Record]:
    """Unicode and whitespace normalization of every text cell (internal `_` columns excepted)."""
    for record in rows:
        out = {
            k: v
            if k.startswith("_") or not isinstance(v, str)
            else normalize(v, step.unicode, step.whitespace)
            for k, v in record.items()
        }
        if out != record:
            count.changed += 1
        yield out


def _drop_empty(rows: Iterable[Record], columns: list[str], where: str, count: StepCount) -> Iterator[Record]:
    for record in rows:
        empty = [column for column in columns if _is_empty(column_value(record, column, where))]
        if empty:
            count.drop(record, f"empty {empty[0]}")
        else:
            yield record


def _length_filter(
    rows: Iterable[Record], column: str, step: LengthFilter, where: str, count: StepCount
) -> Iterator[Record]:
    for record in rows:
        text = as_text(column_value(record, column, where))
        size = tokens(text) if step.unit == "tokens" else len(text)
        if size < step.min:
            count.drop(record, f"shorter than {step.min} {step.unit}")
        elif step.max is not None and size > step.max:
            count.drop(record, f"longer than {step.max} {step.unit}")
        else:
            yield record


def _regex_filter(
    rows: Iterable[Record], column: str, pattern: re.Pattern[str], keep: bool, where: str, count: StepCount
) -> Iterator[Record]:
    for record in rows:
        matched = pattern.search(as_text(column_value(record, column, where))) is not None
        if matched == keep:
            yield record
        else:
            count.drop(record, "did not match the pattern" if keep else "matched the pattern")


def _dedup_exact(
    rows: Iterable[Record], columns: list[str], where: str, count: StepCount
) -> Iterator[Record]:
    """Keep the first record of each key in the order given (`_winner_first` reorders for `keep`)."""
    seen: set[bytes] = set()
    for record in rows:
        for column in columns:
            column_value(record, column, where)
        digest = hashlib.sha256(record_key(record, columns).encode("utf-8")).digest()
        if digest not in seen:
            seen.add(digest)
            yield record
        else:
            count.drop(record, "exact duplicate")


def _winner_first(
    rows: Iterable[Record],
    count: StepCount,
    first_wins: Step,
    keep: str,
    priorities: Sequence[int],
    same: Callable[[Record], str] | None = None,
) -> Iterator[Record]:
    """A first-wins dedup run over the rows reordered so the record that should win comes first;
    the survivors come out in their read order (so splits and files stay as stable as with `first`).

    With `same` (exact dedup: the key that made records duplicates) a survivor takes the columns
    it lacks or has empty from the duplicates it replaced, best ranked first: a correction from a
    feedback export, which has no `label`, keeps the topic label of the answer it replaces
    instead of waiting unlabeled in review."""
    held = list(rows)

    def rank(at: int) -> tuple[int, int]:
        source = held[at].get("_source")
        priority = priorities[source] if isinstance(source, int) and 0 <= source < len(priorities) else 0
        return (-priority if keep == "preferred" else 0, -at)

    order = sorted(range(len(held)), key=rank)
    position = {id(held[at]): at for at in order}
    kept = sorted(position[id(record)] for record in first_wins(iter([held[at] for at in order]), count))
    if same is None:
        yield from (held[at] for at in kept)
        return
    fill: dict[str, list[Record]] = {}
    survivors = {id(held[at]) for at in kept}
    for at in order:
        if id(held[at]) not in survivors:
            fill.setdefault(same(held[at]), []).append(held[at])
    for at in kept:
        record = held[at]
        for dropped in fill.get(same(record), ()):
            missing = {
                k: v
                for k, v in dropped.items()
                if not k.startswith("_") and _is_empty(record.get(k)) and not _is_empty(v)
            }
            if missing:
                record = {**record, **missing}
        if record is not held[at]:
            count.changed += 1
        yield record


def _is_empty(value: Any) -> bool:
    return value is None or value in ([], {}) or (isinstance(value, str) and not value.strip())


def _counted_in(rows: Iterator[Record], count: StepCount) -> Iterator[Record]:
    for record in rows:
        count.rows_in += 1
        yield record


def _counted(rows: Iterator[Record], count: StepCount) -> Iterator[Record]:
    for record in rows:
        count.rows_out += 1
        yield record
