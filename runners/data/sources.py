"""Sources -> one stream of records with the dataset's columns.

Each source is files (a path or a sorted glob), another Dataset's output folder, or a `datasets`
data set. Its `fields` mapping picks and renames fields (dataset column <- source field, with
`a.b` reaching into nested objects); with no mapping a record keeps its fields as they are.
Every record gets `_source`, the index of its source in the spec; what that source was (files,
their sha256, provenance) goes in the manifest through a `SourceReport`, so rows stay small.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.compiler.kinds.dataset import Dataset, HuggingFaceSource, Source
from llmops.errors import StageFailed
from llmops.hashing import file_sha256
from llmops.hf.hub import load_hub_dataset
from llmops.paths import inside, inside_tree
from llmops.runners.data.formats import Rows, detect, read_file
from llmops.runners.data.text import Record

SOURCE_COLUMN = "_source"
SPLITS = ("train", "validation", "test")


@dataclass
class SourceReport:
    """What one source was and how many rows it gave; filled while its records stream."""

    index: int
    label: str
    provenance: dict[str, str]
    files: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    upstream: dict[str, Any] | None = None

    def manifest(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "index": self.index,
            "source": self.label,
            "rows": self.rows,
            "files": self.files,
            "provenance": self.provenance,
        }
        if self.upstream is not None:
            entry["upstream"] = self.upstream
        return entry


def read_sources(
    spec: Dataset, datasets: dict[str, str], root: Path, reports: list[SourceReport]
) -> Iterator[Record]:
    """Records of every source in spec order; appends one report per source as it starts."""
    for index, source in enumerate(spec.sources):
        report = SourceReport(index, source_label(source), source.provenance.model_dump())
        reports.append(report)
        for where, raw in _raw_rows(source, datasets, root, spec.text_column, report):
            record = map_fields(raw, source.fields, where, spec.text_column, spec.id_column)
            record[SOURCE_COLUMN] = index
            report.rows += 1
            yield record


def source_label(source: Source) -> str:
    if source.path:
        return source.path
    if source.dataset:
        return f"dataset:{source.dataset}"
    hf = source.huggingface
    assert hf is not None
    where = hf.path or f"{hf.hub}@{hf.revision}"
    return f"huggingface:{where}[{hf.split}]"


def map_fields(
    raw: dict[str, Any], fields: dict[str, str], where: str, text_column: str, id_column: str | None
) -> Record:
    """One raw record -> the dataset's columns. Pure; `where` only names the place in errors."""
    if fields:
        record = {}
        for column, name in fields.items():
            found, value = _lookup(raw, name)
            if not found:
                have = ", ".join(sorted(raw)) or "none"
                raise StageFailed(
                    f"{where}: no field '{name}' (mapped to column '{column}'); the record has: {have}"
                )
            record[column] = value
    else:
        record = {k: v for k, v in raw.items() if k != SOURCE_COLUMN}
    if text_column not in record:
        raise StageFailed(
            f"{where}: no '{text_column}' column; map one with `fields: {{{text_column}: <source field>}}`"
        )
    text = record[text_column]
    if text is not None and not isinstance(text, str):
        raise StageFailed(f"{where}: the '{text_column}' column must be text, found {type(text).__name__}")
    if id_column and record.get(id_column) in (None, ""):
        raise StageFailed(f"{where}: no value in the id column '{id_column}'")
    return record


def _lookup(raw: dict[str, Any], name: str) -> tuple[bool, Any]:
    """A field by its exact name, else by a dotted path into nested objects."""
    if name in raw:
        return True, raw[name]
    value: Any = raw
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _raw_rows(
    source: Source, datasets: dict[str, str], root: Path, text_column: str, report: SourceReport
) -> Rows:
    if source.path:
        for path in expand(source.path, root):
            display = path.relative_to(root).as_posix()
            fmt = detect(path, source.format, display)
            entry: dict[str, Any] = {"path": display, "format": fmt, "sha256": file_sha256(path), "rows": 0}
            report.files.append(entry)
            for row in read_file(path, fmt, display, text_column):
                entry["rows"] += 1
                yield row
    elif source.dataset:
        yield from _upstream(source.dataset, datasets, root, report)
    else:
        assert source.huggingface is not None
        yield from _huggingface(source.huggingface, root, report.label)


def expand(pattern: str, root: Path) -> list[Path]:
    """A source path: one file, or the files a glob matches in sorted order.

    Each file must resolve inside the project (`llmops.paths`): one reached through a symlink
    that leads out is refused before anything is read, so no outside content reaches the splits
    or the git-tracked data report."""
    if not glob.has_magic(pattern):
        path = inside(root, pattern, "source")
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise StageFailed(f"source {pattern}: {what}")
        return [path]
    matches = [p for p in root.glob(pattern) if p.is_file()]
    if not matches:
        raise StageFailed(f"source {pattern}: the pattern matches no files")
    ordered = sorted(matches, key=lambda p: p.relative_to(root).as_posix())
    for path in ordered:
        inside(root, path.relative_to(root), f"source {pattern}")
    return ordered


def _upstream(name: str, datasets: dict[str, str], root: Path, report: SourceReport) -> Rows:
    """Another Dataset's splits, train then validation then test; this stage splits them anew."""
    if name not in datasets:
        raise StageFailed(
            f"source dataset:{name}: the stage config has no folder for it; run `llmops compile`"
        )
    folder = inside(root, datasets[name], f"source dataset:{name} (its folder)")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise StageFailed(
            f"source dataset:{name}: {datasets[name]} has no manifest.json; run data-{name} first"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    report.upstream = {"dataset": name, "seed": manifest.get("seed"), "sources": manifest.get("sources", [])}
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        display = path.relative_to(root).as_posix()
        inside(root, display, f"source dataset:{name} (its {split} split)")
        if not path.is_file():
            raise StageFailed(f"source dataset:{name}: {display} is missing; run data-{name} again")
        entry: dict[str, Any] = {"path": display, "format": "jsonl", "sha256": file_sha256(path), "rows": 0}
        report.files.append(entry)
        for row in read_file(path, "jsonl", display, ""):
            entry["rows"] += 1
            yield row


def _huggingface(hf: HuggingFaceSource, root: Path, label: str) -> Rows:
    if hf.path:
        inside_tree(root, root / hf.path, f"source {label}")
    try:
        import datasets as hf_datasets  # heavy; only when a spec asks for it
    except ImportError as exc:
        raise StageFailed(
            f"source {label}: reading it needs the `datasets` package (pip install datasets)"
        ) from exc
    try:
        if hf.path:
            local = root / hf.path  # checked above, with every link in it
            if (local / "dataset_dict.json").is_file() or (local / "state.json").is_file():
                loaded = hf_datasets.load_from_disk(str(local))
                if isinstance(loaded, hf_datasets.DatasetDict):
                    loaded = loaded[hf.split]
            else:
                loaded = hf_datasets.load_dataset(str(local), split=hf.split)
        else:
            loaded = load_hub_dataset(hf.hub, hf.revision, hf.split)  # cache first: no minute of retries
    except Exception as exc:
        raise StageFailed(f"source {label}: cannot load it ({type(exc).__name__}: {exc})") from exc
    for number, row in enumerate(loaded, start=1):
        yield f"{label} row {number}", dict(row)
