"""Every file of one feedback export, built in memory before any is written.

An export is up to three JSONL files, each with a `.provenance.json` sidecar:
- `<out>` (default `data/feedback/<deployment>.jsonl`): supervised rows (`select.py`);
- `<out stem>-pairs.jsonl` (with `--preferences`): chosen/rejected pairs (`preferences.py`);
- `<out stem>-unpaired.jsonl` (with `--preferences`): completion/label rows for KTO.
Building them first lets `--min-new N` compare them with what the files already hold and write
nothing at all when fewer than N rows are new: a scheduled loop then opens no pull request for a
trickle of feedback, and the working tree stays clean. A file with no rows is not written (an
older file of that name is left as it is, so a Dataset source reading it stays valid).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.atomic import write_text
from llmops.feedback.export import (
    Target,
    jsonl_text,
    parse_since,
    provenance_of,
    read_rows,
    select_examples,
    sft_text,
    sidecar_of,
    source_entry,
    untemplater,
)
from llmops.feedback.preferences import Preferences, preferences
from llmops.feedback.select import Selection

PAIR_COLUMNS = ("chosen", "rejected", "pair_source")
UNPAIRED_COLUMNS = ("completion", "label")


@dataclass
class PlannedFile:
    kind: str  # sft | pairs | unpaired
    path: Path
    data: str
    provenance: dict[str, Any]
    rows: int
    new_rows: int

    @property
    def sidecar(self) -> Path:
        return sidecar_of(self.path)

    def source_entry(self, root: Path) -> dict[str, Any]:
        return source_entry(root, self.path, self.provenance)


@dataclass
class Plan:
    selection: Selection
    prefs: Preferences | None
    files: list[PlannedFile] = field(default_factory=list)

    @property
    def new_rows(self) -> int:
        return sum(f.new_rows for f in self.files)

    def file(self, kind: str) -> PlannedFile | None:
        return next((f for f in self.files if f.kind == kind), None)

    def write(self) -> list[Path]:
        """Each data file then its sidecar, atomically; the paths written."""
        written = []
        for planned in self.files:
            write_text(planned.path, planned.data)
            sidecar = json.dumps(planned.provenance, indent=2, sort_keys=True) + "\n"
            write_text(planned.sidecar, sidecar)
            written += [planned.path, planned.sidecar]
        return written


def preference_paths(out: Path) -> tuple[Path, Path]:
    stem = out.name.removesuffix(".jsonl")
    return out.with_name(f"{stem}-pairs.jsonl"), out.with_name(f"{stem}-unpaired.jsonl")


def plan_export(
    root: Path,
    target: Target,
    *,
    url: str,
    database: str,
    out: Path,
    min_rating: int,
    since: str | None,
    license: str = "",
    with_preferences: bool = False,
) -> Plan:
    rows = read_rows(url, target.deployment, parse_since(since))
    selection = select_examples(root, target, rows, min_rating)
    prefs = None
    if with_preferences:
        prefs = preferences(
            rows,
            min_rating=min_rating,
            variables_of=untemplater(root, target),
            variable_names=target.variables,
        )
    plan = Plan(selection, prefs)
    filters = {"min_rating": min_rating, "since": since}
    when = {str(r["feedback_id"]): float(r["created_at"]) for r in rows}
    common = {"database": database, "filters": filters, "license": license}
    if selection.examples:
        data = sft_text(target, selection)
        newest = max(e.feedback_at for e in selection.examples)
        columns = [*target.variables, target.completion]
        counts = dict(selection.counts)
        plan.files.append(
            _planned(root, target, "sft", out, data, len(selection.examples), columns, counts, newest, common)
        )
    if prefs is not None:
        pairs_path, unpaired_path = preference_paths(out)
        counts = dict(prefs.counts)
        for kind, path, found, extra in (
            ("pairs", pairs_path, prefs.pairs, PAIR_COLUMNS),
            ("unpaired", unpaired_path, prefs.unpaired, UNPAIRED_COLUMNS),
        ):
            if not found:
                continue
            ids = [f for row in found for f in row.get("feedback_ids", [row.get("feedback_id")])]
            newest = max(when.get(str(f), 0.0) for f in ids)
            columns = [*target.variables, *extra]
            data = jsonl_text(found)
            plan.files.append(
                _planned(root, target, kind, path, data, len(found), columns, counts, newest, common)
            )
    return plan


def _planned(
    root: Path,
    target: Target,
    kind: str,
    path: Path,
    data: str,
    rows: int,
    columns: list[str],
    counts: dict[str, Any],
    newest: float,
    common: dict[str, Any],
) -> PlannedFile:
    provenance = provenance_of(
        root, target, out=path, data=data, counts=counts, columns=columns, rows=rows, newest=newest, **common
    )
    provenance["kind"] = kind
    return PlannedFile(kind, path, data, provenance, rows, _new_rows(path, data))


def _new_rows(path: Path, data: str) -> int:
    """Lines of `data` the file at `path` does not hold yet (rows are deterministic JSON lines)."""
    try:
        old = set(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else set()
    except (OSError, UnicodeDecodeError):
        old = set()
    return sum(1 for line in data.splitlines() if line and line not in old)
