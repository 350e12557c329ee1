"""Reading every format, field mapping, globs, composition, and the errors that name file and line."""

from __future__ import annotations

import gzip
import importlib.util
import json

import pytest

from llmops.errors import StageFailed

MAP = {"text": "question", "answer": "answer", "label": "topic"}


def texts(rows):
    return sorted(r["text"] for r in rows)


def test_jsonl_with_field_mapping(project, make_qa):
    path = project.jsonl("data/a.jsonl", make_qa(5))
    project.run({"sources": [{"path": path, "fields": MAP}]})
    rows = project.rows()
    assert len(rows) == 5
    assert all(set(r) == {"text", "answer", "label", "_source"} for r in rows)
    assert {r["label"] for r in rows} == {"billing"}
    assert all(r["_source"] == 0 for r in rows)


def test_json_list_of_objects(project, make_qa):
    path = project.write("data/a.json", json.dumps(make_qa(4)))
    project.run({"sources": [{"path": path, "fields": MAP}]})
    assert texts(project.rows()) == texts([{"text": r["question"]} for r in make_qa(4)])


def test_csv(project, make_qa):
    path = project.csv("data/a.csv", make_qa(6))
    project.run({"sources": [{"path": path, "fields": MAP}]})
    rows = project.rows()
    assert len(rows) == 6 and rows[0]["answer"].startswith("Answer")


def test_tsv_and_gzip(project, make_qa):
    rows = make_qa(3)
    tsv = "question\tanswer\ttopic\n" + "".join(
        f"{r['question']}\t{r['answer']}\t{r['topic']}\n" for r in rows
    )
    project.write("data/a.tsv", tsv)
    gz = project.root / "data" / "b.jsonl.gz"
    gz.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in make_qa(2, start=10)).encode()))
    project.run(
        {"sources": [{"path": "data/a.tsv", "fields": MAP}, {"path": "data/b.jsonl.gz", "fields": MAP}]}
    )
    assert len(project.rows()) == 5


def test_text_one_record_per_line_into_the_text_column(project):
    path = project.write("data/lines.txt", "first line\n\nsecond line\r\nthird line")
    project.run({"sources": [{"path": path}], "text_column": "prompt"})
    assert sorted(r["prompt"] for r in project.rows()) == ["first line", "second line", "third line"]


def test_explicit_format_overrides_the_extension(project, make_qa):
    path = project.write("data/export.dat", "".join(json.dumps(r) + "\n" for r in make_qa(3)))
    project.run({"sources": [{"path": path, "format": "jsonl", "fields": MAP}]})
    assert len(project.rows()) == 3


def test_unknown_extension_asks_for_format(project):
    path = project.write("data/export.dat", "x\n")
    with pytest.raises(StageFailed, match=r"data/export.dat: cannot tell the format.*set `format:`"):
        project.run({"sources": [{"path": path}]})


def test_empty_mapping_keeps_fields(project):
    path = project.jsonl("data/a.jsonl", [{"text": "hello", "extra": 1}, {"text": "bye", "extra": 2}])
    project.run({"sources": [{"path": path}]})
    assert sorted((r["text"], r["extra"]) for r in project.rows()) == [("bye", 2), ("hello", 1)]


def test_nested_field_by_dotted_path(project):
    path = project.jsonl("data/a.jsonl", [{"msg": {"body": "hi there"}, "meta": {"lang": "en"}}])
    project.run({"sources": [{"path": path, "fields": {"text": "msg.body", "lang": "meta.lang"}}]})
    assert project.rows()[0]["lang"] == "en"


def test_glob_expands_sorted_and_reports_each_file(project, make_qa):
    project.jsonl("data/parts/b.jsonl", make_qa(2, start=2))
    project.jsonl("data/parts/a.jsonl", make_qa(2))
    project.jsonl("data/parts/sub/c.jsonl", make_qa(1, start=9))
    project.run({"sources": [{"path": "data/parts/*.jsonl", "fields": MAP}]})
    files = project.manifest()["sources"][0]["files"]
    assert [f["path"] for f in files] == ["data/parts/a.jsonl", "data/parts/b.jsonl"]
    assert [f["rows"] for f in files] == [2, 2]
    assert all(len(f["sha256"]) == 64 for f in files)
    project.run({"sources": [{"path": "data/parts/**/*.jsonl", "fields": MAP}]})
    assert len(project.rows()) == 5


def test_glob_matching_nothing(project):
    with pytest.raises(StageFailed, match=r"data/none/\*\.jsonl: the pattern matches no files"):
        project.run({"sources": [{"path": "data/none/*.jsonl"}]})


def test_missing_file_names_it(project):
    with pytest.raises(StageFailed, match=r"source data/missing.jsonl: does not exist"):
        project.run({"sources": [{"path": "data/missing.jsonl"}]})


def test_missing_mapped_field_names_file_and_line(project, make_qa):
    rows = make_qa(3)
    del rows[1]["topic"]
    path = project.jsonl("data/a.jsonl", rows)
    with pytest.raises(StageFailed) as info:
        project.run({"sources": [{"path": path, "fields": MAP}]})
    message = str(info.value)
    assert "data/a.jsonl line 2" in message
    assert "no field 'topic' (mapped to column 'label')" in message


def test_missing_csv_column_names_row_line(project, make_qa):
    path = project.csv("data/a.csv", [{"q": r["question"]} for r in make_qa(2)])
    with pytest.raises(StageFailed, match=r"data/a.csv line 2: no field 'question'"):
        project.run({"sources": [{"path": path, "fields": {"text": "question"}}]})


def test_missing_text_column_says_how_to_map_it(project):
    path = project.jsonl("data/a.jsonl", [{"body": "x"}])
    with pytest.raises(StageFailed, match=r"line 1: no 'text' column; map one with `fields: \{text: "):
        project.run({"sources": [{"path": path}]})


def test_unparseable_jsonl_line(project):
    path = project.write("data/a.jsonl", '{"text": "ok"}\n{"text": broken}\n')
    with pytest.raises(StageFailed, match=r"data/a.jsonl line 2: not valid JSON"):
        project.run({"sources": [{"path": path}]})


def test_jsonl_line_that_is_not_an_object(project):
    path = project.write("data/a.jsonl", '{"text": "ok"}\n["a", "b"]\n')
    with pytest.raises(StageFailed, match=r"line 2: expected a JSON object, found a list"):
        project.run({"sources": [{"path": path}]})


def test_json_that_is_not_a_list(project):
    path = project.write("data/a.json", '{"text": "ok"}')
    with pytest.raises(StageFailed, match=r"must hold a list of objects, not a object"):
        project.run({"sources": [{"path": path}]})


def test_csv_row_with_extra_cells(project):
    path = project.write("data/a.csv", "text,label\nhello,a\nbye,b,extra\n")
    with pytest.raises(StageFailed, match=r"data/a.csv line 3: the row has more cells than the header"):
        project.run({"sources": [{"path": path}]})


def test_text_column_must_be_text(project):
    path = project.jsonl("data/a.jsonl", [{"text": 5}])
    with pytest.raises(StageFailed, match=r"line 1: the 'text' column must be text, found int"):
        project.run({"sources": [{"path": path}]})


def test_not_utf8(project):
    (project.root / "data").mkdir()
    (project.root / "data" / "a.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(StageFailed, match=r"data/a.jsonl: not UTF-8"):
        project.run({"sources": [{"path": "data/a.jsonl"}]})


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
def test_parquet_without_pyarrow_says_what_to_install(project):
    path = project.write("data/a.parquet", "not really parquet")
    with pytest.raises(StageFailed, match=r"data/a.parquet: reading Parquet needs pyarrow"):
        project.run({"sources": [{"path": path}]})


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="needs pyarrow")
def test_parquet(project, make_qa):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (project.root / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(make_qa(4)), project.root / "data" / "a.parquet")
    project.run({"sources": [{"path": "data/a.parquet", "fields": MAP}]})
    assert len(project.rows()) == 4


@pytest.mark.skipif(importlib.util.find_spec("datasets") is not None, reason="datasets is installed")
def test_huggingface_without_datasets_says_what_to_install(project):
    with pytest.raises(StageFailed, match=r"needs the `datasets` package"):
        project.run({"sources": [{"huggingface": {"path": "data/hf"}}]})


def test_composition_from_an_upstream_dataset(project, make_qa):
    project.jsonl("data/a.jsonl", make_qa(10))
    upstream = {
        "sources": [
            {"path": "data/a.jsonl", "fields": MAP, "provenance": {"origin": "tests", "license": "mit"}}
        ]
    }
    project.run(upstream, name="base")
    project.jsonl("data/b.jsonl", make_qa(5, topic="shipping"))
    spec = {
        "sources": [{"dataset": "base"}, {"path": "data/b.jsonl", "fields": MAP}],
    }
    project.run(spec, name="combined", datasets={"base": "artifacts/datasets/base"})
    rows = project.rows("combined")
    assert len(rows) == 15
    assert {r["_source"] for r in rows if r["label"] == "billing"} == {0}
    first = project.manifest("combined")["sources"][0]
    assert first["source"] == "dataset:base"
    assert [f["path"] for f in first["files"]] == [
        f"artifacts/datasets/base/{s}.jsonl" for s in ("train", "validation", "test")
    ]
    assert first["upstream"]["dataset"] == "base"
    assert first["upstream"]["sources"][0]["provenance"]["origin"] == "tests"


def test_composition_before_the_upstream_ran(project):
    spec = {"sources": [{"dataset": "base"}]}
    with pytest.raises(
        StageFailed, match=r"dataset:base: artifacts/datasets/base has no manifest.json; run data-base"
    ):
        project.run(spec, name="combined", datasets={"base": "artifacts/datasets/base"})
