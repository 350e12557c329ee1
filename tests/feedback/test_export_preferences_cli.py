"""`llmops feedback export --preferences / --add-preferences-to / --min-new / --json`, and a
correction reaching the train split of the example's data stage."""

from __future__ import annotations

import json
from pathlib import Path

from llmops.cli.main import main

PREFS = """\
apiVersion: llmops/v1
kind: Dataset
name: support-prefs
description: Preference pairs for the support model.
sources:
  - path: data/prefs-seed.jsonl  # hand-written pairs
    provenance: {origin: written for the test, license: apache-2.0}
cleaning:
  - step: dedup-exact
    columns: [text, chosen, rejected]
split: {train: 1.0, validation: 0.0, test: 0.0}
"""
KNOWN = "Can I pick up my order in person?"  # in the example's raw data, topic shipping


def _export(project: Path, *extra: str) -> int:
    return main(["-C", str(project), "feedback", "export", "support", "--license", "apache-2.0", *extra])


def _fill(store) -> None:
    a = store.request(f"Question: {KNOWN}\nAnswer:\n", "No.")
    b = store.request("Question: Where is parcel 9?\nAnswer:\n", "Lost, sorry.")
    c = store.request("Question: where is parcel 9?\nAnswer:\n", "It arrives Friday.")
    store.feedback(a, rating=1, correction="No; we ship every order from our fulfillment centers.")
    store.feedback(b, rating=2)
    store.feedback(c, thumbs=1)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_preferences_json_and_add_preferences_to(project: Path, store, capsys) -> None:
    _fill(store)
    (project / "specs/datasets/support-prefs.yaml").write_text(PREFS)
    (project / "data/prefs-seed.jsonl").write_text('{"text": "q", "chosen": "a", "rejected": "b"}\n')
    assert _export(project, "--add-preferences-to", "support-prefs", "--json") == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary == {
        "sft_rows": 2,
        "pairs": 2,
        "unpaired": 4,
        "new_rows": 8,
        "files": [
            "data/feedback/support.jsonl",
            "data/feedback/support.provenance.json",
            "data/feedback/support-pairs.jsonl",
            "data/feedback/support-pairs.provenance.json",
            "data/feedback/support-unpaired.jsonl",
            "data/feedback/support-unpaired.provenance.json",
        ],
        "datasets_changed": ["support-prefs"],
    }
    assert len(captured.out.strip().splitlines()) == 1  # messages went to stderr
    pairs = _rows(project / "data/feedback/support-pairs.jsonl")
    assert [(p["text"], p["pair_source"], p["chosen"], p["rejected"]) for p in pairs] == [
        (KNOWN, "correction", "No; we ship every order from our fulfillment centers.", "No."),
        ("where is parcel 9?", "rated", "It arrives Friday.", "Lost, sorry."),  # the chosen one's input
    ]
    assert pairs[1]["response_ids"] == ["resp-0003", "resp-0002"] and len(pairs[1]["feedback_ids"]) == 2
    unpaired = _rows(project / "data/feedback/support-unpaired.jsonl")
    assert [(u["completion"], u["label"]) for u in unpaired] == [
        ("No.", False),
        ("No; we ship every order from our fulfillment centers.", True),
        ("Lost, sorry.", False),
        ("It arrives Friday.", True),
    ]
    sidecar = json.loads((project / "data/feedback/support-pairs.provenance.json").read_text())
    assert sidecar["kind"] == "pairs" and sidecar["rows"] == 2
    assert sidecar["columns"] == ["text", "chosen", "rejected", "pair_source"]
    spec = (project / "specs/datasets/support-prefs.yaml").read_text()
    assert spec.startswith(PREFS.split("cleaning:")[0])  # the comment and the seed source kept
    assert (
        "  - path: data/feedback/support-pairs.jsonl\n"
        "    fields: {text: text, chosen: chosen, rejected: rejected, pair_source: pair_source}\n"
        "    priority: 10\n"
    ) in spec
    assert main(["-C", str(project), "validate"]) == 0
    other = PREFS.replace("name: support-prefs", "name: other-prefs") + "text_column: prompt\n"
    (project / "specs/datasets/other-prefs.yaml").write_text(other)
    capsys.readouterr()
    assert _export(project, "--add-preferences-to", "other-prefs") == 2
    assert "text_column 'prompt' is not a column the export writes" in capsys.readouterr().err


def test_min_new_writes_nothing_below_the_bar(project: Path, store, capsys) -> None:
    _fill(store)
    assert _export(project, "--preferences", "--min-new", "9") == 0
    assert "only 8 new rows (< 9)" in capsys.readouterr().out
    assert not (project / "data/feedback").exists()
    assert _export(project, "--preferences", "--min-new", "8", "--json") == 0
    assert json.loads(capsys.readouterr().out)["new_rows"] == 8
    before = (project / "data/feedback/support-pairs.jsonl").read_bytes()
    assert _export(project, "--preferences", "--min-new", "1", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["new_rows"], summary["files"]) == (0, [])
    rid = store.request("Question: Is there a gift card?\nAnswer:\n", "Yes.")
    store.feedback(rid, rating=5)
    assert _export(project, "--preferences", "--min-new", "2") == 0
    assert "exported 2 new rows" in capsys.readouterr().out  # one SFT row, one label
    assert (project / "data/feedback/support-pairs.jsonl").read_bytes() == before


def test_pairs_alone_are_not_a_failure(project: Path, store, capsys) -> None:
    a = store.request("Question: Refund?\nAnswer:\n", "Maybe.")
    b = store.request("Question: Refund?\nAnswer:\n", "No.")
    store.feedback(a, rating=3)
    store.feedback(b, rating=2)
    assert _export(project) == 1  # no supervised example qualifies
    assert _export(project, "--preferences", "--add-to", "support") == 0
    out = capsys.readouterr().out
    assert "--add-to: no examples qualified" in out
    assert not (project / "data/feedback/support.jsonl").exists()
    assert _rows(project / "data/feedback/support-pairs.jsonl")[0]["chosen"] == "Maybe."


def test_correction_reaches_the_train_split_of_the_example(project: Path, store, capsys) -> None:
    """The example Dataset dedups on the question text: with `keep: first` the export warns, and
    with `keep: preferred` (what the example sets) the correction replaces the original answer
    and keeps its topic."""
    _fill(store)
    spec = project / "specs/datasets/support.yaml"
    preferred = spec.read_text()
    assert preferred.count("    keep: preferred\n") == 2
    spec.write_text(preferred.replace("    keep: preferred\n", ""))
    assert _export(project, "--add-to", "support") == 0
    assert "keep: preferred" in capsys.readouterr().out
    spec.write_text(
        spec.read_text().replace("  - step: dedup-exact\n", "  - step: dedup-exact\n    keep: preferred\n", 1)
    )
    spec.write_text(
        spec.read_text().replace("    threshold: 0.8\n", "    threshold: 0.8\n    keep: preferred\n", 1)
    )
    assert _export(project, "--add-to", "support") == 0
    assert "keep: preferred" not in capsys.readouterr().out
    assert main(["-C", str(project), "compile"]) == 0
    assert main(["-C", str(project), "run", "data-support"]) == 0
    folder = project / "artifacts/datasets/support"
    rows = [r for s in ("train", "validation", "test") for r in _rows(folder / f"{s}.jsonl")]
    known = [(r["answer"], r["label"]) for r in rows if r["text"] == KNOWN]
    assert known == [("No; we ship every order from our fulfillment centers.", "shipping")]
