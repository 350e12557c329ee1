"""The whole stage: the repo's own example, outputs, expectations, labels and atomic writes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from llmops.compiler.compile import compile_project
from llmops.compiler.parse import load_project
from llmops.errors import StageFailed, UsageError
from llmops.runners.data import outputs
from llmops.runners.registry import run_stage

REPO = Path(__file__).resolve().parents[3]
FIELDS = {"text": "question", "answer": "answer", "label": "topic"}


def test_repo_example_runs_from_its_compiled_config(tmp_path):
    config = json.loads(compile_project(load_project(REPO)).files[".llmops/stages/data-support.json"])
    shutil.copytree(REPO / "data" / "raw", tmp_path / "data" / "raw")
    run_stage(config, tmp_path)
    out = tmp_path / config["outputs"]["outs"][0]
    metrics = json.loads((tmp_path / config["outputs"]["metrics"][0]).read_text())
    assert metrics["read"]["data/raw/support.jsonl"] >= 100
    assert metrics["read"]["data/raw/support-extra.csv"] >= 25
    assert metrics["cleaning"]["5-dedup-exact"]["dropped"] >= 8
    assert metrics["cleaning"]["6-dedup-near"]["dropped"] >= 2
    assert metrics["duplicate_rate"] == 0.0
    assert set(metrics["pii_found"]) == {"card", "email", "iban", "ip", "phone", "secret"}
    report = (tmp_path / config["outputs"]["reports"][0]).read_text()
    assert report.startswith("# Data report: support") and "## Cleaning" in report
    for plot in config["outputs"]["plots"]:
        assert (tmp_path / plot).read_text().count("\n") >= 1
    rows = [json.loads(line) for s in ("train", "validation", "test") for line in (out / f"{s}.jsonl").open()]
    assert len(rows) == metrics["rows"]
    assert {r["label"] for r in rows} == {"billing", "shipping", "returns", "account", "technical"}
    assert all(r["text"].strip() and r["answer"].strip() for r in rows)
    assert not any("4111 1111" in r["text"] or "@example.com" in r["text"] for r in rows)


def test_manifest_lists_splits_with_hashes_and_provenance(project, make_qa):
    project.jsonl("data/a.jsonl", make_qa(20))
    provenance = {"origin": "support inbox", "license": "cc-by-4.0", "collected_at": "2026-01-01"}
    out = project.run({"sources": [{"path": "data/a.jsonl", "fields": FIELDS, "provenance": provenance}]})
    manifest = project.manifest()
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "test.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]
    for entry in manifest["splits"].values():
        data = (out / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["rows"] == data.count(b"\n")
    assert manifest["rows"] == 20 and manifest["seed"] == 42
    assert manifest["columns"] == ["_source", "answer", "label", "text"]
    assert manifest["sources"][0]["provenance"] == provenance
    assert manifest["sources"][0]["rows"] == 20


def test_lines_are_sorted_key_json_without_ascii_escapes(project):
    project.jsonl("data/a.jsonl", [{"text": "Grüße, señor ✓", "b": 1, "a": 2}])
    project.run(
        {"sources": [{"path": "data/a.jsonl"}], "split": {"train": 1.0, "validation": 0.0, "test": 0.0}}
    )
    line = (project.root / "artifacts/datasets/demo/train.jsonl").read_text(encoding="utf-8")
    assert line == '{"_source": 0, "a": 2, "b": 1, "text": "Grüße, señor ✓"}\n'


def test_expectation_min_rows(project, make_qa):
    project.jsonl("data/a.jsonl", make_qa(5))
    spec = {"sources": [{"path": "data/a.jsonl", "fields": FIELDS}], "expectations": {"min_rows": 10}}
    with pytest.raises(StageFailed, match=r"expectations.min_rows: the dataset has 5 rows, fewer than 10"):
        project.run(spec)


def test_expectation_required_columns(project):
    project.jsonl("data/a.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": ""}, {"text": "c"}])
    spec = {"sources": [{"path": "data/a.jsonl"}], "expectations": {"required_columns": ["label"]}}
    with pytest.raises(StageFailed, match=r"required_columns: 2 of 3 rows have no 'label' \(from source 0\)"):
        project.run(spec)


def test_expectation_max_duplicate_rate(project, make_qa):
    rows = make_qa(8)
    project.jsonl("data/a.jsonl", rows + rows[:2])
    spec = {
        "sources": [{"path": "data/a.jsonl", "fields": FIELDS}],
        "cleaning": [],
        "expectations": {"max_duplicate_rate": 0.1},
    }
    with pytest.raises(
        StageFailed, match=r"max_duplicate_rate: 20.00% of rows repeat an earlier text, more than 10.00%"
    ):
        project.run(spec)
    project.run({**spec, "cleaning": [{"step": "dedup-exact"}]})
    assert project.metrics()["duplicate_rate"] == 0.0


def test_all_expectation_failures_are_reported_together(project):
    project.jsonl("data/a.jsonl", [{"text": "a"}])
    spec = {
        "sources": [{"path": "data/a.jsonl"}],
        "expectations": {"min_rows": 2, "required_columns": ["label"]},
    }
    with pytest.raises(StageFailed) as info:
        project.run(spec)
    assert "min_rows" in str(info.value) and "required_columns" in str(info.value)


def test_max_pii_fails_on_pii_left_and_passes_once_redacted(project):
    project.jsonl("data/a.jsonl", [{"text": f"write to user{i}@example.com"} for i in range(4)])
    spec = {"sources": [{"path": "data/a.jsonl"}], "expectations": {"max_pii": 0}}
    with pytest.raises(StageFailed, match=r"expectations.max_pii: 4 PII values are left \(email: 4\)"):
        project.run(spec)
    project.run({**spec, "cleaning": [{"step": "pii-redact"}]})
    assert all(r["text"] == "write to [EMAIL]" for r in project.rows())
    assert project.metrics()["pii_found"] == {"email": 4}


def test_duplicate_ids_fail(project):
    project.jsonl("data/a.jsonl", [{"id": "1", "text": "a"}, {"id": "1", "text": "b"}])
    with pytest.raises(StageFailed, match=r"id_column: 1 ids appear more than once \('1'\)"):
        project.run({"sources": [{"path": "data/a.jsonl"}], "id_column": "id"})


def test_missing_id_names_the_line(project):
    project.jsonl("data/a.jsonl", [{"id": "1", "text": "a"}, {"text": "b"}])
    with pytest.raises(StageFailed, match=r"data/a.jsonl line 2: no value in the id column 'id'"):
        project.run({"sources": [{"path": "data/a.jsonl"}], "id_column": "id"})


def test_labels_mapping_and_reject(project):
    project.jsonl("data/a.jsonl", [{"text": "a", "label": "Billing"}, {"text": "b", "label": "ship"}])
    labels = {"allowed": ["billing", "shipping"], "mapping": {"Billing": "billing", "ship": "shipping"}}
    project.run({"sources": [{"path": "data/a.jsonl"}], "labels": labels})
    assert sorted(r["label"] for r in project.rows()) == ["billing", "shipping"]
    assert project.metrics()["labels"]["mapped"] == 2
    with pytest.raises(
        StageFailed, match=r"labels: 1 record has a label outside \['billing'\]: 'shipping' \(1\)"
    ):
        project.run({"sources": [{"path": "data/a.jsonl"}], "labels": {**labels, "allowed": ["billing"]}})


def test_labels_review_and_join(project):
    project.jsonl("data/a.jsonl", [{"id": i, "text": f"t{i}", "label": ""} for i in range(6)])
    project.write("labels/people.csv", "id,label\n0,billing\n1,shipping\n2,billing\n")
    labels = {"allowed": ["billing", "shipping"], "unknown": "review", "join": "labels/people.csv"}
    out = project.run({"sources": [{"path": "data/a.jsonl"}], "id_column": "id", "labels": labels})
    assert sorted(r["id"] for r in project.rows()) == [0, 1, 2]
    review = [json.loads(line) for line in (out / "review.jsonl").read_text().splitlines()]
    assert [r["id"] for r in review] == [3, 4, 5]
    assert project.manifest()["review"]["rows"] == 3
    assert project.metrics()["labels"]["joined"] == 3


def test_bad_stage_config_is_a_usage_error(project):
    config = project.config({"sources": []})
    with pytest.raises(UsageError, match=r"not a valid data stage config \(spec\.sources: .*llmops compile"):
        run_stage(config, project.root)


def test_a_failure_midway_leaves_the_previous_outputs_untouched(project, make_qa, monkeypatch):
    project.jsonl("data/a.jsonl", make_qa(30))
    spec = {"sources": [{"path": "data/a.jsonl", "fields": FIELDS}]}
    project.run(spec)
    before = project.snapshot()
    metrics_before = (project.root / "metrics" / "data-demo.json").read_bytes()

    project.jsonl("data/a.jsonl", make_qa(40))
    real = outputs.write_split

    def write_then_fail(folder, name, rows):
        entry = real(folder, name, rows)
        if name == "validation":
            raise OSError("disk full")
        return entry

    monkeypatch.setattr(outputs, "write_split", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        project.run(spec)
    assert project.snapshot() == before
    assert (project.root / "metrics" / "data-demo.json").read_bytes() == metrics_before
    leftovers = [p.name for p in (project.root / "artifacts" / "datasets").iterdir()]
    assert leftovers == ["demo"]

    monkeypatch.setattr(outputs, "write_split", real)
    project.run(spec)
    assert len(project.rows()) == 40


def test_a_data_error_leaves_the_previous_outputs_untouched(project, make_qa):
    project.jsonl("data/a.jsonl", make_qa(10))
    spec = {"sources": [{"path": "data/a.jsonl", "fields": FIELDS}]}
    project.run(spec)
    before = project.snapshot()
    project.write("data/a.jsonl", '{"question": "only one", "answer": "x", "topic": "y"}\nnot json\n')
    with pytest.raises(StageFailed, match="line 2"):
        project.run(spec)
    assert project.snapshot() == before
