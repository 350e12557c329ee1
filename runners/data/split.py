"""Deterministic train/validation/test split, independent of the order records arrive in.

Records are gathered into units that must not be torn apart: the groups of `group_by`, or else
the records sharing one normalized text (so duplicates left in on purpose stay together). Units
are ordered by sha256(seed, unit key) and cut at exact row counts from the ratios (largest
remainder rounding); a unit goes to the split its middle row falls in, so with units of one row
the counts are exact. With `stratify_by` the same happens within each stratum (a unit's stratum
is its most common value). Pure functions: no I/O.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from llmops.errors import StageFailed
from llmops.runners.data.text import Record, as_text, canonical, digest, key

SPLITS = ("train", "validation", "test")


@dataclass
class Unit:
    key: str
    order: str = ""
    stratum: str = ""
    records: list[Record] = field(default_factory=list)


def split(
    records: list[Record],
    ratios: dict[str, float],
    seed: int,
    text_column: str,
    stratify_by: str | None = None,
    group_by: str | None = None,
) -> dict[str, list[Record]]:
    """Split names -> their records, each list in the split's deterministic order."""
    units = _units(records, seed, text_column, group_by)
    strata: dict[str, list[Unit]] = defaultdict(list)
    for unit in units:
        unit.stratum = _stratum(unit, stratify_by) if stratify_by else ""
        strata[unit.stratum].append(unit)
    assigned: dict[str, list[Unit]] = {name: [] for name in SPLITS}
    for stratum in sorted(strata):
        members = sorted(strata[stratum], key=lambda u: (u.order, u.key))
        targets = counts(sum(len(u.records) for u in members), ratios)
        bounds = [targets["train"], targets["train"] + targets["validation"]]
        start = 0
        for unit in members:
            middle = start + len(unit.records) / 2
            name = "train" if middle < bounds[0] else "validation" if middle < bounds[1] else "test"
            assigned[name].append(unit)
            start += len(unit.records)
    return {
        name: [r for u in sorted(assigned[name], key=lambda u: (u.order, u.key)) for r in u.records]
        for name in SPLITS
    }


def counts(total: int, ratios: dict[str, float]) -> dict[str, int]:
    """Row counts that add up to `total`: floors of the shares, the rest to the largest remainders."""
    shares = {name: total * ratios[name] for name in SPLITS}
    result = {name: math.floor(share + 1e-9) for name, share in shares.items()}
    left = total - sum(result.values())
    by_remainder = sorted(SPLITS, key=lambda n: (-(shares[n] - result[n]), SPLITS.index(n)))
    for name in by_remainder[: max(left, 0)]:
        result[name] += 1
    return result


def leaks(splits: dict[str, list[Record]], text_column: str) -> list[tuple[str, list[str]]]:
    """Normalized texts found in more than one split, with the splits they are in."""
    seen: dict[str, set[str]] = defaultdict(set)
    for name, rows in splits.items():
        for record in rows:
            seen[key(record.get(text_column))].add(name)
    return sorted((text, sorted(names, key=SPLITS.index)) for text, names in seen.items() if len(names) > 1)


def _units(records: list[Record], seed: int, text_column: str, group_by: str | None) -> list[Unit]:
    by_key: dict[str, Unit] = {}
    for record in records:
        if group_by:
            value = record.get(group_by)
            if value is None or value == "":
                raise StageFailed(
                    f"split.group_by: a record from source {record.get('_source')} has no value "
                    f"in column '{group_by}'"
                )
            unit_key = as_text(value)
        else:
            unit_key = key(record.get(text_column))
        unit = by_key.get(unit_key)
        if unit is None:
            unit = by_key[unit_key] = Unit(unit_key, order=digest(str(seed), unit_key))
        unit.records.append(record)
    for unit in by_key.values():
        if len(unit.records) > 1:
            unit.records.sort(key=canonical)
    return list(by_key.values())


def _stratum(unit: Unit, column: str) -> str:
    values: Counter[str] = Counter()
    for record in unit.records:
        if column not in record:
            raise StageFailed(
                f"split.stratify_by: a record from source {record.get('_source')} has no column '{column}'"
            )
        values[as_text(record[column])] += 1
    return min(values.items(), key=lambda kv: (-kv[1], kv[0]))[0]
