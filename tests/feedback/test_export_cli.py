"""`llmops feedback export` on a copy of the example project and a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.cli.main import main


def _fill(store) -> None:
    a = store.request("Question: Where is my parcel 7?\nAnswer:\n", "Parcel 7 is lost.")
    b = store.request("Question: Can I return item 3?\nAnswer:\n", "Yes, within 30 days.")
    c = store.request("Question: Why was I charged twice?\nAnswer:\n", "No idea.")
    d = store.request("How do I reset my password?", "Use the reset link.")
    e = store.request("Question: Broken?\nAnswer:\n", "Oops", status=500)
    store.feedback(a, rating=2, correction="Parcel 7 ships tomorrow; track it in your account.")
    store.feedback(b, rating=5)
    store.feedback(c, thumbs=-1)
    store.feedback(d, thumbs=1)
    store.feedback(e, rating=5)  # a failed request is never training data


def _export(project: Path, *extra: str) -> int:
    return main(["-C", str(project), "feedback", "export", "support", *extra])


def test_export_writes_examples_and_provenance(project: Path, store, capsys) -> None:
    _fill(store)
    assert _export(project, "--license", "apache-2.0") == 0
    out = project / "data/feedback/support.jsonl"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [
        {
            "text": "Where is my parcel 7?",
            "answer": "Parcel 7 ships tomorrow; track it in your account.",
            "feedback": "correction",
            "response_id": "resp-0001",
        },
        {
            "text": "Can I return item 3?",
            "answer": "Yes, within 30 days.",
            "feedback": "rating",
            "response_id": "resp-0002",
        },
        {
            "text": "How do I reset my password?",
            "answer": "Use the reset link.",
            "feedback": "thumbs-up",
            "response_id": "resp-0004",
        },
    ]
    provenance = json.loads((project / "data/feedback/support.provenance.json").read_text())
    assert provenance["deployment"] == "support"
    assert provenance["database"].startswith("sqlite:///") and provenance["database"].endswith(
        "gateway.sqlite3"
    )
    assert provenance["filters"] == {"min_rating": 4, "since": None}
    assert provenance["counts"]["feedback_rows"] == 4 and provenance["counts"]["negative"] == 1
    assert provenance["rows"] == 3 and provenance["columns"] == ["text", "answer"]
    assert provenance["source_provenance"]["license"] == "apache-2.0"
    assert provenance["source_provenance"]["collected_at"] == "2025-11-25"
    assert provenance["exported_at"].endswith("Z") and "git_commit" in provenance
    import hashlib

    assert provenance["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    printed = capsys.readouterr().out
    assert "3 example(s) from 4 feedback row(s)" in printed
    assert "- path: data/feedback/support.jsonl" in printed
    assert "fields: {text: text, answer: answer}" in printed
    # same store, same bytes
    before = out.read_bytes()
    assert _export(project, "--license", "apache-2.0") == 0
    assert out.read_bytes() == before


def test_filters(project: Path, store) -> None:
    _fill(store)
    assert _export(project, "--min-rating", "2") == 0
    rows = (project / "data/feedback/support.jsonl").read_text().splitlines()
    assert len(rows) == 3  # a rating of 2 no longer dislikes, but a correction still wins
    assert _export(project, "--since", "2030-01-01") == 1  # nothing that recent: exit 1
    assert _export(project, "--since", "yesterday") == 2
    assert _export(project, "--min-rating", "9") == 2


def test_nothing_qualifies_writes_nothing(project: Path, store, capsys) -> None:
    rid = store.request("q", "a")
    store.feedback(rid, thumbs=-1)
    assert _export(project) == 1
    assert "no feedback on deployment support qualifies" in capsys.readouterr().err
    assert not (project / "data/feedback").exists()


def test_unknown_names_exit_2_with_a_suggestion(project: Path, store, capsys) -> None:
    assert main(["-C", str(project), "feedback", "export", "suport"]) == 2
    assert "did you mean 'support'?" in capsys.readouterr().err
    assert _export(project, "--add-to", "suport") == 2
    assert "no dataset 'suport'; did you mean 'support'?" in capsys.readouterr().err


def test_add_to_keeps_the_spec_and_the_pipeline_valid(project: Path, store, capsys) -> None:
    _fill(store)
    spec = project / "specs/datasets/support.yaml"
    before = spec.read_text()
    assert _export(project, "--add-to", "support", "--license", "apache-2.0") == 0
    after = spec.read_text()
    assert after.startswith(before.split("cleaning:")[0].rstrip("\n"))  # comments and sources kept
    assert after.count("# yaml-language-server") == 1
    assert "  - path: data/feedback/support.jsonl\n    fields: {text: text, answer: answer}\n" in after
    snippet = (
        "  - path: data/feedback/support.jsonl\n    fields: {text: text, answer: answer}\n"
        "    priority: 10\n"
        "    provenance: {origin: human feedback on deployment support (llmops feedback export), "
        'license: apache-2.0, collected_at: "2025-11-25"}\n'
    )
    assert after == before.replace("cleaning:", snippet + "cleaning:", 1)  # every other byte kept
    # exporting again updates the source instead of adding a second one
    assert _export(project, "--add-to", "support", "--license", "mit") == 0
    again = spec.read_text()
    assert again.count("data/feedback/support.jsonl") == 1 and "license: mit" in again
    capsys.readouterr()
    assert main(["-C", str(project), "validate"]) == 0
    assert main(["-C", str(project), "compile"]) == 0
    dvc = (project / "dvc.yaml").read_text()
    assert "data/feedback/support.jsonl" in dvc


def test_exported_file_reads_through_the_data_stage(project: Path, store) -> None:
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.parse import load_project
    from llmops.runners.data.sources import read_sources

    _fill(store)
    assert _export(project, "--add-to", "support", "--license", "apache-2.0") == 0
    index, _ = plan_graph(load_project(project))
    dataset = index.get("Dataset", "support").spec
    reports: list = []
    records = [r for r in read_sources(dataset, {}, project, reports) if r["_source"] == 2]
    assert [r["text"] for r in records] == [
        "Where is my parcel 7?",
        "Can I return item 3?",
        "How do I reset my password?",
    ]
    assert set(records[0]) == {"text", "answer", "_source"}
    assert reports[2].provenance["origin"].startswith("human feedback on deployment support")
    assert reports[2].files[0]["rows"] == 3


def test_postgresql_deployment_needs_the_url(project: Path, capsys) -> None:
    deploy = project / "specs/deployments/support.yaml"
    deploy.write_text(deploy.read_text() + "monitoring: {feedback_db: postgresql}\n")
    assert _export(project) == 2
    assert "LLMOPS_FEEDBACK_DB_URL" in capsys.readouterr().err


@pytest.mark.parametrize("out", ["../outside.jsonl", "data/x.csv"])
def test_bad_out(project: Path, store, out: str) -> None:
    _fill(store)
    assert _export(project, "--out", out, "--add-to", "support") == 2


def test_data_stage_takes_the_export(project: Path, store) -> None:
    """`dvc repro`'s data stage on the edited spec: unlabeled feedback waits in review.jsonl
    (the example Dataset sets unknown labels aside for people) and the manifest keeps its provenance."""
    from llmops.cli.main import main as cli

    _fill(store)
    assert _export(project, "--add-to", "support", "--license", "apache-2.0") == 0
    assert cli(["-C", str(project), "compile"]) == 0
    assert cli(["-C", str(project), "run", "data-support"]) == 0
    folder = project / "artifacts/datasets/support"
    review = [json.loads(line) for line in (folder / "review.jsonl").read_text().splitlines()]
    # the password question is already in the raw data: the stage's dedup steps drop the copy
    assert {r["text"] for r in review if r["_source"] == 2} == {
        "Where is my parcel 7?",
        "Can I return item 3?",
    }
    manifest = json.loads((folder / "manifest.json").read_text())
    source = manifest["sources"][2]
    assert source["source"] == "data/feedback/support.jsonl" and source["rows"] == 3
    assert source["provenance"]["license"] == "apache-2.0"
