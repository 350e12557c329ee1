"""Adding the export to a Dataset spec keeps every line people wrote, in their style."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.errors import UsageError
from llmops.feedback.spec_edit import add_source, source_yaml

ENTRY = {
    "path": "data/feedback/prod.jsonl",
    "fields": {"text": "text", "answer": "answer"},
    "provenance": {
        "origin": "human feedback on deployment prod",
        "license": "",
        "collected_at": "2026-11-20",
    },
}

FLUSH = """\
kind: Dataset   # the support data
name: support
sources:
# people's own questions
- path: data/raw/a.jsonl  # first
  format: jsonl
text_column: text
cleaning: [{step: dedup-exact}]   # keep it
"""


def test_flush_lists_and_comments_are_kept(tmp_path: Path) -> None:
    spec = tmp_path / "support.yaml"
    spec.write_text(FLUSH)
    assert add_source(spec, ENTRY) == "added"
    after = spec.read_text()
    lines = after.splitlines()
    for line in FLUSH.splitlines():
        assert line in lines
    assert "- path: data/feedback/prod.jsonl\n  fields: {text: text, answer: answer}\n" in after
    assert 'collected_at: "2026-11-20"}' in after and "license" not in after  # empty values left out
    assert lines.index("text_column: text") > lines.index("- path: data/feedback/prod.jsonl")
    inserted = (
        "- path: data/feedback/prod.jsonl\n  fields: {text: text, answer: answer}\n"
        '  provenance: {origin: human feedback on deployment prod, collected_at: "2026-11-20"}\n'
    )
    assert after == FLUSH.replace("text_column:", inserted + "text_column:", 1)  # nothing else moved


def test_update_in_the_middle_keeps_its_neighbours(tmp_path: Path) -> None:
    spec = tmp_path / "support.yaml"
    text = (
        "kind: Dataset\nname: s\nsources:\n  - path: data/feedback/prod.jsonl\n    format: jsonl\n"
        "  # the second source\n  - path: b.csv  # b\n"
    )
    spec.write_text(text)
    assert add_source(spec, ENTRY) == "updated"
    after = spec.read_text()
    assert after.startswith(
        "kind: Dataset\nname: s\nsources:\n  - path: data/feedback/prod.jsonl\n    fields:"
    )
    assert after.endswith("  # the second source\n  - path: b.csv  # b\n")
    assert "format: jsonl" not in after


def test_updates_instead_of_duplicating(tmp_path: Path) -> None:
    spec = tmp_path / "support.yaml"
    spec.write_text(FLUSH)
    add_source(spec, ENTRY)
    newer = {**ENTRY, "provenance": {**ENTRY["provenance"], "license": "mit"}}
    assert add_source(spec, newer) == "updated"
    assert spec.read_text().count("data/feedback/prod.jsonl") == 1 and "license: mit" in spec.read_text()


def test_sources_must_be_a_list(tmp_path: Path) -> None:
    spec = tmp_path / "odd.yaml"
    spec.write_text("kind: Dataset\nname: odd\nsources: {}\n")
    with pytest.raises(UsageError, match="not a block list"):
        add_source(spec, ENTRY)
    assert spec.read_text() == "kind: Dataset\nname: odd\nsources: {}\n"


def test_snippet_is_one_sources_item() -> None:
    text = source_yaml(ENTRY)
    assert text.startswith("  - path: data/feedback/prod.jsonl\n    fields: {text: text, answer: answer}\n")
