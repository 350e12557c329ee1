"""Labels: join labels people made, map raw values to canonical ones, check them against the
allowed set. A record whose label is still unknown fails the stage (`unknown: reject`) or is set
aside for people to label (`unknown: review`, written to review.jsonl, kept out of the splits).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llmops.compiler.kinds.dataset import Labels
from llmops.errors import StageFailed
from llmops.paths import inside
from llmops.runners.data.text import Record, as_text

EXAMPLES = 5


@dataclass
class LabelReport:
    joined: int = 0
    mapped: int = 0
    review: list[Record] = field(default_factory=list)
    unknown: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)


def load_join(labels: Labels, root: Path) -> dict[str, str]:
    """The CSV of labels people made: `join_on` value -> label."""
    assert labels.join is not None
    path = inside(root, labels.join, "labels.join")
    if not path.is_file():
        raise StageFailed(f"labels.join: {labels.join} does not exist")
    joined: dict[str, str] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (labels.join_on, labels.column) if c not in (reader.fieldnames or [])]
        if missing:
            names = ", ".join(repr(c) for c in missing)
            raise StageFailed(f"labels.join: {labels.join} has no column {names}")
        for row in reader:
            key, label = (row[labels.join_on] or "").strip(), (row[labels.column] or "").strip()
            if not key or not label:
                continue
            if joined.get(key, label) != label:
                raise StageFailed(
                    f"labels.join: {labels.join} line {reader.line_num}: '{key}' is labeled both "
                    f"'{joined[key]}' and '{label}'"
                )
            joined[key] = label
    return joined


def apply_labels(
    records: Iterable[Record], labels: Labels, joined: dict[str, str] | None, report: LabelReport
) -> Iterator[Record]:
    """Records with a canonical, allowed label; raises at the end if any was unknown and rejected."""
    allowed = set(labels.allowed)
    for record in records:
        if joined is not None:
            if labels.join_on not in record:
                raise StageFailed(
                    f"labels.join_on: a record from source {record.get('_source')} has no column "
                    f"'{labels.join_on}' to join labels on"
                )
            label = joined.get(as_text(record[labels.join_on]).strip())
            if label is not None:
                report.joined += 1
                record = {**record, labels.column: label}
        raw = as_text(record.get(labels.column)).strip()
        value = labels.mapping.get(raw, raw)
        if value != raw:
            report.mapped += 1
        if value in allowed:
            report.counts[value] += 1
            yield {**record, labels.column: value}
        elif labels.unknown == "review":
            report.unknown[value] += 1
            report.review.append(record)
        else:
            report.unknown[value] += 1
    if report.unknown and labels.unknown == "reject":
        total = sum(report.unknown.values())
        shown = ", ".join(
            f"'{value}' ({n})" if value else f"no label ({n})"
            for value, n in sorted(report.unknown.items(), key=lambda kv: (-kv[1], kv[0]))[:EXAMPLES]
        )
        raise StageFailed(
            f"labels: {total} record{'s have' if total != 1 else ' has'} a label outside "
            f"{sorted(allowed)}: {shown}; map them with labels.mapping or set labels.unknown: review"
        )
