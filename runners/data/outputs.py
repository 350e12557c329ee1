"""The stage's outputs: split files, manifest and metrics. Builders are pure; `write_split` is the
only writer, and it writes into the staging folder that `run` swaps in atomically."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import StageFailed
from llmops.runners.data.clean import StepCount
from llmops.runners.data.labels import LabelReport
from llmops.runners.data.sources import SourceReport
from llmops.runners.data.text import Record, canonical

if TYPE_CHECKING:
    from llmops.compiler.stages.data import DataConfig


def write_split(folder: Path, name: str, rows: Iterable[Record]) -> dict[str, Any]:
    """One JSONL file, a record per line in canonical JSON; returns its manifest entry."""
    path = folder / f"{name}.jsonl"
    hasher = hashlib.sha256()
    count = 0
    with open(path, "wb") as handle:
        for record in rows:
            try:
                line = (canonical(record) + "\n").encode("utf-8")
            except TypeError as exc:
                raise StageFailed(
                    f"{name}.jsonl: a record from source {record.get('_source')} cannot be written ({exc})"
                ) from exc
            hasher.update(line)
            handle.write(line)
            count += 1
    return {"file": path.name, "rows": count, "sha256": hasher.hexdigest()}


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def manifest(
    config: DataConfig,
    splits: dict[str, dict[str, Any]],
    review: dict[str, Any] | None,
    rows: list[Record],
    reports: list[SourceReport],
) -> dict[str, Any]:
    """What the folder holds and where it came from; no clock or host, so reruns are identical."""
    spec = config.spec
    document = {
        "dataset": spec.name,
        "stage": config.stage,
        "runner_version": config.runner_version,
        "seed": config.inputs.seed,
        "text_column": spec.text_column,
        "id_column": spec.id_column,
        "label_column": spec.labels.column if spec.labels else None,
        "columns": sorted({column for record in rows for column in record}),
        "rows": len(rows),
        "splits": splits,
        "sources": [report.manifest() for report in reports],
    }
    if review is not None:
        document["review"] = review
    return document


def metrics(
    reports: list[SourceReport],
    steps: list[StepCount],
    labels: LabelReport | None,
    splits: dict[str, dict[str, Any]],
    dup_read: float,
    dup_final: float,
) -> dict[str, Any]:
    """Numbers only at the leaves, keyed by name, so `dvc metrics diff` can compare runs."""
    read: dict[str, int] = {}
    for report in reports:
        name = report.label if report.label not in read else f"{report.label}#{report.index}"
        read[name] = report.rows
    document: dict[str, Any] = {
        "rows_read": sum(report.rows for report in reports),
        "read": read,
        "cleaning": {
            step.name: {"rows_in": step.rows_in, "rows": step.rows_out, "dropped": step.dropped}
            | ({"changed": step.changed} if step.step == "normalize" else {})
            for step in steps
        },
        "rows": sum(entry["rows"] for entry in splits.values()),
        "splits": {name: entry["rows"] for name, entry in splits.items()},
        "duplicate_rate_read": dup_read,
        "duplicate_rate": dup_final,
    }
    if labels is not None:
        document["labels"] = {
            "joined": labels.joined,
            "mapped": labels.mapped,
            "unknown": sum(labels.unknown.values()),
            "review": len(labels.review),
            "counts": dict(sorted(labels.counts.items())),
        }
    return document
