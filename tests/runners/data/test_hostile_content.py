"""Hostile source content is a clear data error naming the file and line (exit 2), never a
traceback, and nothing of the stage's outputs is written or changed."""

from __future__ import annotations

import gzip
import json

import pytest

from llmops.runners.data import bounded
from llmops.runners.data.bounded import DataError

GOOD = [{"text": f"record {i}"} for i in range(10)]


def _refused(project, rel: str, match: str, **source) -> DataError:
    before = project.snapshot() if (project.root / "artifacts/datasets/demo").is_dir() else None
    with pytest.raises(DataError, match=match) as caught:
        project.run({"sources": [{"path": rel, **source}]})
    assert caught.value.exit_code == 2
    after = project.snapshot() if (project.root / "artifacts/datasets/demo").is_dir() else None
    assert after == before
    return caught.value


def test_deeply_nested_jsonl_line(project):
    lines = [json.dumps(r) for r in GOOD[:2]] + ['{"text": ' + "[" * 200_000 + "]" * 200_000 + "}"]
    project.write("data/deep.jsonl", "\n".join(lines) + "\n")
    _refused(project, "data/deep.jsonl", r"^data/deep\.jsonl line 3: JSON nested deeper than 64")


def test_nesting_below_the_recursion_limit_is_still_bounded(project):
    project.write("data/deep.jsonl", '{"text": "a", "x": ' + "[" * 500 + "]" * 500 + "}\n")
    _refused(project, "data/deep.jsonl", r"^data/deep\.jsonl line 1: JSON nested deeper")


def test_huge_integer_in_jsonl(project):
    project.jsonl("data/a.jsonl", GOOD)
    with open(project.root / "data/a.jsonl", "a") as handle:
        handle.write('{"text": "x", "n": ' + "9" * 5000 + "}\n")
    _refused(project, "data/a.jsonl", r"^data/a\.jsonl line 11: an integer of 5,000 digits")


def test_json_document_names_the_line(project):
    project.write(
        "data/a.json", '[\n{"text": "a"},\n{"text": "b", "n": ' + "[" * 100_000 + "]" * 100_000 + "}\n]"
    )
    _refused(project, "data/a.json", r"^data/a\.json line 3: JSON nested deeper")
    project.write("data/b.json", '[\n{"text": "a"},\n\n{"text": "b", "n": -' + "1" * 5000 + "}\n]")
    _refused(project, "data/b.json", r"^data/b\.json line 4: an integer of 5,000 digits")


def test_gzip_bomb_line_is_refused_without_reading_it_whole(project):
    path = project.root / "data/bomb.jsonl.gz"
    path.parent.mkdir(parents=True)
    chunk = b"a" * 1_000_000
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(b'{"text": "')
        for _ in range(bounded.MAX_LINE_CHARS // len(chunk) + 2):
            handle.write(chunk)
    assert path.stat().st_size < 200_000
    _refused(
        project, "data/bomb.jsonl.gz", r"^data/bomb\.jsonl\.gz line 1: longer than 16,000,000 characters"
    )


@pytest.mark.parametrize("name,fmt", [("data/a.txt.gz", "text"), ("data/a.csv.gz", "csv")])
def test_gzip_bomb_in_text_and_csv(project, monkeypatch, name, fmt):
    monkeypatch.setattr(bounded, "MAX_LINE_CHARS", 1000)
    path = project.root / name
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt") as handle:
        handle.write("text\nshort\n" + "b" * 5000 + "\n")
    _refused(project, name, r"line 3: longer than 1,000 characters")


def test_huge_json_document_is_refused(project, monkeypatch):
    monkeypatch.setattr(bounded, "MAX_DOCUMENT_CHARS", 1000)
    project.write("data/a.json", json.dumps([{"text": "x" * 100}] * 20))
    _refused(project, "data/a.json", r"^data/a\.json: a JSON document longer than 1,000 characters")


def test_ordinary_content_still_reads(project):
    project.jsonl("data/a.jsonl", [{"text": f"t{i}", "n": 10**30, "meta": {"a": [[1, 2]]}} for i in range(6)])
    project.run({"sources": [{"path": "data/a.jsonl"}]})
    assert sorted(r["text"] for r in project.rows()) == [f"t{i}" for i in range(6)]


def test_failed_read_leaves_previous_outputs(project):
    project.jsonl("data/a.jsonl", GOOD)
    project.run({"sources": [{"path": "data/a.jsonl"}]})
    project.write("data/a.jsonl", '{"text": ' + "[" * 300_000 + "}\n")
    _refused(project, "data/a.jsonl", r"line 1: JSON nested deeper")
