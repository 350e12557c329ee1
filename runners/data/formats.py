"""One reader per file format. Each yields `(where, record)`: `where` names the file and the
line or row ("data/raw/a.jsonl line 12") for error messages, `record` is the raw dict.

Readers stream where the format allows (JSONL, CSV, text, Parquet by batches); a JSON file is
one document and is parsed whole. `.gz` files are read through gzip. Line length, document
size, JSON nesting and integer size are bounded (`bounded.py`), so hostile content is an error
naming the file and line, never a traceback or a machine out of memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from llmops.errors import StageFailed
from llmops.runners.data import bounded

Rows = Iterator[tuple[str, dict[str, Any]]]

EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
    ".text": "text",
}


def detect(path: Path, fmt: str, display: str) -> str:
    """The format to read `path` with: the spec's, or by extension when it says `auto`."""
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    found = EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if found is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise StageFailed(
            f"{display}: cannot tell the format from the file name (known endings: {known}); "
            "set `format:` on the source"
        )
    return found


def read_file(path: Path, fmt: str, display: str, text_column: str) -> Rows:
    """Records of one file in the given format (already resolved from `auto`)."""
    readers: dict[str, Callable[[], Rows]] = {
        "jsonl": lambda: _jsonl(path, display),
        "json": lambda: _json(path, display),
        "csv": lambda: _csv(path, display),
        "text": lambda: _text(path, display, text_column),
        "parquet": lambda: _parquet(path, display),
    }
    try:
        yield from readers[fmt]()
    except UnicodeDecodeError as exc:
        raise StageFailed(f"{display}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except (OSError, EOFError) as exc:
        raise StageFailed(f"{display}: cannot read: {exc}") from exc


def _open(path: Path) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _jsonl(path: Path, display: str) -> Rows:
    with _open(path) as handle:
        for number, line in enumerate(bounded.lines(handle, display), start=1):
            if not line.strip():
                continue
            where = f"{display} line {number}"
            try:
                value = bounded.loads(line.rstrip("\r\n"), where)
            except json.JSONDecodeError as exc:
                raise StageFailed(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
            yield where, _object(value, where)


def _json(path: Path, display: str) -> Rows:
    with _open(path) as handle:
        try:
            document = bounded.loads(bounded.read_document(handle, display), display, line_of=True)
        except json.JSONDecodeError as exc:
            raise StageFailed(
                f"{display} line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from exc
    if not isinstance(document, list):
        raise StageFailed(f"{display}: a JSON source must hold a list of objects, not a {_kind(document)}")
    for index, value in enumerate(document):
        where = f"{display} item {index}"
        yield where, _object(value, where)


def _csv(path: Path, display: str) -> Rows:
    delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    with _open(path) as handle:
        reader = csv.DictReader(bounded.lines(handle, display), delimiter=delimiter)
        try:
            for row in reader:
                where = f"{display} line {reader.line_num}"
                if None in row:
                    raise StageFailed(f"{where}: the row has more cells than the header has columns")
                yield where, dict(row)
        except csv.Error as exc:
            raise StageFailed(f"{display} line {reader.line_num}: not valid CSV ({exc})") from exc


def _text(path: Path, display: str, text_column: str) -> Rows:
    with _open(path) as handle:
        for number, line in enumerate(bounded.lines(handle, display), start=1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield f"{display} line {number}", {text_column: line}


def _parquet(path: Path, display: str) -> Rows:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise StageFailed(
            f"{display}: reading Parquet needs pyarrow; install it with `pip install pyarrow`"
        ) from exc
    try:
        table = pq.ParquetFile(path)
        row = 0
        for batch in table.iter_batches():
            for record in batch.to_pylist():
                row += 1
                yield f"{display} row {row}", record
    except (pa.ArrowException, ValueError) as exc:
        raise StageFailed(f"{display}: not a readable Parquet file ({exc})") from exc


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StageFailed(f"{where}: expected a JSON object, found a {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
