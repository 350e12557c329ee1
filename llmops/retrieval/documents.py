"""A KnowledgeIndex's sources -> documents: plain text with the heading structure kept.

Every reader turns its format into one `Document`: the text a chunk is cut from, plus the
`sections` (heading path and character span in that text) the `heading` chunking strategy
follows, so markdown, HTML and PDF are chunked by one algorithm (`chunking.py`). Order and ids
are deterministic (paths sorted, ids from paths, rows or the id column), because chunk ids,
the embedding cache and the index's row numbers all follow from them; two documents with one
id are refused rather than silently shadowing each other in citations.

Inputs are anyone's commits, so reading is bounded: a file over `MAX_FILE_BYTES`, a JSONL line
over `MAX_LINE_CHARS` or a PDF over `MAX_PDF_PAGES` is a `StageFailed` naming it, and every
path a spec names is resolved with `llmops.paths.inside` before it is read. Heavy parsers
(lxml, pypdf) load only when a source of their format is read.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import StageFailed
from llmops.paths import inside
from llmops.retrieval.formats import HEADING_SEPARATOR, Section, html, markdown, pdf, scalars

__all__ = ["HEADING_SEPARATOR", "Document", "Section", "format_of", "load_documents"]

MAX_FILE_BYTES = 64 * 1024 * 1024  # one source file (markdown, text, HTML, PDF, JSONL)
MAX_LINE_CHARS = 16_000_000  # one JSONL line
MAX_DOCUMENTS = 2_000_000  # all sources together

FORMATS = ("markdown", "text", "html", "pdf", "jsonl")
EXTENSIONS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Document:
    """One document of a source: a file, a JSONL line or a dataset row.

    `source` names where it came from (the project-relative path, or `dataset:<name>/<split>`),
    `metadata` holds the source's static metadata, the document's own scalar fields (front
    matter, other JSONL keys, other dataset columns) and `source`.
    """

    id: str
    source: str
    title: str
    text: str
    metadata: dict[str, Any]
    format: str
    sections: tuple[Section, ...] = field(default=())


def load_documents(sources: list[Any], root: Path, datasets: dict[str, str]) -> list[Document]:
    """Every document of every source, in spec order then sorted path (or row) order.

    `sources` are the spec's `DocumentSource`s (fields `path` | `dataset`, `format`, `fields`,
    `metadata`, `split`, `text_column`, `id_column`); `datasets` maps a Dataset's name to its
    output folder (the stage's inputs).
    """
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for index, source in enumerate(sources):
        where = f"documents[{index}]"
        path, dataset = _get(source, "path"), _get(source, "dataset")
        if bool(path) == bool(dataset):
            raise StageFailed(f"{where}: give exactly one of `path` or `dataset`")
        found = (
            _dataset_documents(source, root, datasets, where)
            if dataset
            else _path_documents(source, root, where)
        )
        count = 0
        for document in found:
            count += 1
            if document.id in seen:
                raise StageFailed(
                    f"{where}: document id {document.id!r} (from {document.source}) is also the id of a "
                    f"document from {seen[document.id]}; ids must be unique across sources "
                    "(set `fields.id` / `id_column`, or give the sources distinct files)"
                )
            seen[document.id] = document.source
            documents.append(document)
            if len(documents) > MAX_DOCUMENTS:
                raise StageFailed(
                    f"{where}: more than {MAX_DOCUMENTS:,} documents (MAX_DOCUMENTS); split the index"
                )
        if count == 0:
            raise StageFailed(f"{where} ({path or 'dataset:' + str(dataset)}): no documents found")
    return documents


def format_of(path: Path) -> str | None:
    """The format `auto` picks for a file, by its ending; None for an unsupported one."""
    return EXTENSIONS.get(path.suffix.lower())


# --- sources ---------------------------------------------------------------------------------


def _path_documents(source: Any, root: Path, where: str) -> Iterator[Document]:
    pattern = str(_get(source, "path"))
    fmt = str(_get(source, "format") or "auto")
    if fmt != "auto" and fmt not in FORMATS:
        raise StageFailed(f"{where}.format: {fmt!r} is not one of auto, {', '.join(FORMATS)}")
    static = dict(_get(source, "metadata") or {})
    for path in _files(pattern, root, where, fmt):
        rel = path.relative_to(root).as_posix()
        file_format = fmt if fmt != "auto" else format_of(path)
        if file_format is None:
            raise StageFailed(
                f"{where}: {rel} has an ending `auto` does not know; set `format:` "
                f"({', '.join(FORMATS)}) or rename it"
            )
        if file_format == "jsonl":
            yield from _jsonl(path, rel, _get(source, "fields"), static, where)
        else:
            yield _file_document(path, rel, file_format, static)


def _files(pattern: str, root: Path, where: str, fmt: str) -> list[Path]:
    """A file, the supported files under a folder, or a glob's files; sorted, inside the project."""
    what = f"{where}.path"
    if glob.has_magic(pattern):
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            inside(root, pattern, what)  # refuses it, saying why
        matches = [p for p in root.glob(pattern) if p.is_file() and not _hidden(p.relative_to(root))]
    else:
        path = inside(root, pattern, what)
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise StageFailed(f"{what}: {pattern} does not exist")
        matches = [p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))]
    if fmt == "auto":
        matches = [p for p in matches if format_of(p) is not None]
    if not matches:
        known = ", ".join(sorted(EXTENSIONS))
        raise StageFailed(f"{what}: {pattern} matches no supported files ({known})")
    ordered = sorted(matches, key=lambda p: p.relative_to(root).as_posix())
    for path in ordered:
        inside(root, path.relative_to(root), what)
    return ordered


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _file_document(path: Path, rel: str, fmt: str, static: dict[str, Any]) -> Document:
    _check_size(path, rel)
    if fmt == "pdf":
        title, text, sections, own = pdf(path, rel)
    else:
        raw = _read_text(path, rel)
        if fmt == "markdown":
            title, text, sections, own = markdown(raw, rel)
        elif fmt == "html":
            title, text, sections, own = html(raw, rel)
        else:
            text = raw.strip()
            title, sections, own = "", (Section("", 0, len(text)),), {}
    metadata = {"source": rel, **own, **static}
    return Document(rel, rel, title or path.stem, text, metadata, fmt, sections)


def _jsonl(
    path: Path,
    rel: str,
    fields: Any,
    static: dict[str, Any],
    where: str,
    id_fix: str = "",
    text_fix: str = "",
) -> Iterator[Document]:
    """One document per line; with `id_fix`, a line without an id is an error (with that fix).

    A dataset's split (`text_fix` given) is the data stage's output, already bounded there, so
    only a JSONL source file is held to MAX_FILE_BYTES."""
    if not text_fix:
        _check_size(path, rel)
    text_key = _get(fields, "text") or "text"
    id_key = _get(fields, "id") or "id"
    title_key = _get(fields, "title") or "title"
    with open(path, encoding="utf-8-sig", errors="strict") as handle:
        number = 0
        while True:
            try:
                line = handle.readline(MAX_LINE_CHARS + 1)
            except UnicodeDecodeError as exc:
                raise StageFailed(f"{rel}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE_CHARS:
                raise StageFailed(
                    f"{rel} line {number}: longer than {MAX_LINE_CHARS:,} characters (MAX_LINE_CHARS)"
                )
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise StageFailed(f"{rel} line {number}: not valid JSON ({str(exc)[:200]})") from None
            if not isinstance(row, dict):
                raise StageFailed(f"{rel} line {number}: a JSON object is expected, not {type(row).__name__}")
            text = _lookup(row, text_key)
            if not isinstance(text, str):
                raise StageFailed(
                    f"{rel} line {number}: no text in key {text_key!r} "
                    f"(keys: {', '.join(sorted(row)[:10])}); {text_fix or f'set `{where}.fields.text`'}"
                )
            doc_id = _lookup(row, id_key)
            if (doc_id is None or doc_id == "") and id_fix:
                raise StageFailed(f"{rel} line {number}: no id in column {id_key!r}; {id_fix}")
            doc_id = f"{rel}:{number}" if doc_id is None or doc_id == "" else str(doc_id)
            title = _lookup(row, title_key)
            own = scalars(row, {text_key, id_key, title_key})
            metadata = {"source": rel, **own, **static}
            text = text.strip()
            title_text = str(title) if isinstance(title, (str, int, float)) else ""
            yield Document(doc_id, rel, title_text, text, metadata, "jsonl", (Section("", 0, len(text)),))


def _dataset_documents(source: Any, root: Path, datasets: dict[str, str], where: str) -> Iterator[Document]:
    """A Dataset's rows, one document each, from its output folder (`data-<name>` wrote it)."""
    name = str(_get(source, "dataset"))
    if name not in datasets:
        raise StageFailed(
            f"{where}: the stage config has no folder for dataset {name!r}; run `llmops compile`"
        )
    folder = inside(root, datasets[name], f"{where}.dataset ({name}'s folder)")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise StageFailed(
            f"{where}: {datasets[name]} has no manifest.json; run `llmops run data-{name}` first"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    split = str(_get(source, "split") or "train")
    splits = SPLITS if split == "all" else (split,)
    if any(s not in SPLITS for s in splits):
        raise StageFailed(f"{where}.split: {split!r} is not one of train, validation, test, all")
    # the spec model's default "text" stands for the dataset's own text column
    own_text = manifest.get("text_column") or "text"
    text_column = _get(source, "text_column") or own_text
    if text_column == "text" and own_text != "text":
        text_column = own_text
    id_column = _get(source, "id_column") or manifest.get("id_column")
    static = dict(_get(source, "metadata") or {})
    for part in splits:
        path = folder / f"{part}.jsonl"
        rel = f"{Path(datasets[name]).as_posix()}/{part}.jsonl"
        inside(root, rel, f"{where}.dataset ({name}'s {part} split)")
        if not path.is_file():
            raise StageFailed(f"{where}: {rel} is missing; run `llmops run data-{name}` again")
        label = f"dataset:{name}/{part}"
        fields = {"text": text_column, "id": id_column or "\0none", "title": "\0none"}
        fix = f"set `{where}.id_column` to a column every row has, or remove it (ids `<split>-<row>`)"
        text_fix = f"set `{where}.text_column` to the column holding the text"
        found = _jsonl(path, rel, fields, static, where, fix if id_column else "", text_fix)
        for index, doc in enumerate(found):
            doc_id = doc.id if id_column else f"{part}-{index}"
            metadata = {**doc.metadata, "source": label} | static
            yield Document(doc_id, label, f"{name} {doc_id}", doc.text, metadata, "dataset", doc.sections)


# --- helpers ---------------------------------------------------------------------------------


def _check_size(path: Path, rel: str) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise StageFailed(
            f"{rel}: {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for one document file "
            "(MAX_FILE_BYTES); split it into smaller files"
        )


def _read_text(path: Path, rel: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StageFailed(
            f"{rel}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None


def _lookup(row: Mapping[str, Any], key: str) -> Any:
    """`row[key]`, or for a dotted key (`a.b`) not present as such, the nested value."""
    if key in row:
        return row[key]
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _get(obj: Any, name: str) -> Any:
    """A field of a spec model, or of a plain mapping (tests and JSON configs)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)
