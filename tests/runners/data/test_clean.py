"""Cleaning steps as pure functions over records, and their counts in the metrics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from llmops.compiler.kinds.dataset import CleaningStep
from llmops.errors import StageFailed
from llmops.runners.data.clean import clean
from llmops.runners.data.text import key, normalize

STEP = TypeAdapter(CleaningStep)


def apply(rows, *steps):
    stream, counts = clean(rows, [STEP.validate_python(s) for s in steps], "text")
    return list(stream), counts


def test_dedup_exact_ignores_case_width_and_whitespace():
    rows = [
        {"text": "Reset my password", "_source": 0},
        {"text": "reset   my\tPASSWORD ", "_source": 0},
        {"text": "Ｒｅｓｅｔ my password", "_source": 1},  # full-width letters, NFKC folds them
        {"text": "Reset my email", "_source": 1},
    ]
    out, counts = apply(rows, {"step": "dedup-exact"})
    assert [r["text"] for r in out] == ["Reset my password", "Reset my email"]
    assert (counts[0].rows_in, counts[0].rows_out, counts[0].dropped) == (4, 2, 2)


def test_dedup_exact_on_chosen_columns():
    rows = [{"text": "q", "answer": "a"}, {"text": "q", "answer": "b"}, {"text": "q", "answer": "A"}]
    out, _ = apply(rows, {"step": "dedup-exact", "columns": ["text", "answer"]})
    assert [r["answer"] for r in out] == ["a", "b"]


def test_normalize_keeps_line_breaks_and_counts_changes():
    rows = [
        {"text": "  ﬁne\u00a0 tuning \r\n\r\n\r\n  step 2  ", "_source": 0},
        {"text": "clean", "_source": 0},
    ]
    out, counts = apply(rows, {"step": "normalize"})
    assert out[0]["text"] == "fine tuning\n\nstep 2"
    assert out[0]["_source"] == 0
    assert counts[0].changed == 1 and counts[0].dropped == 0


def test_normalize_options():
    assert normalize("ﬁ  x", unicode="none", whitespace=False) == "ﬁ  x"
    assert normalize("ﬁ  x", unicode="NFC", whitespace=True) == "ﬁ x"


def test_drop_empty():
    rows = [{"text": "a", "label": "x"}, {"text": "  ", "label": "x"}, {"text": "b", "label": None}]
    assert len(apply(rows, {"step": "drop-empty"})[0]) == 2
    assert [r["text"] for r in apply(rows, {"step": "drop-empty", "columns": ["text", "label"]})[0]] == ["a"]


def test_length_filter_chars_and_tokens():
    rows = [{"text": "one"}, {"text": "one two three"}, {"text": "one two three four five six"}]
    out, counts = apply(rows, {"step": "length-filter", "min": 4, "max": 20})
    assert [r["text"] for r in out] == ["one two three"]
    out, _ = apply(rows, {"step": "length-filter", "unit": "tokens", "min": 3})
    assert len(out) == 2
    assert counts[0].dropped == 2


def test_regex_filter_drop_and_keep():
    rows = [{"text": "call me at 555"}, {"text": "hello"}, {"text": "order 42"}]
    assert [r["text"] for r in apply(rows, {"step": "regex-filter", "pattern": r"\d"})[0]] == ["hello"]
    kept = apply(rows, {"step": "regex-filter", "pattern": r"^order", "action": "keep"})[0]
    assert [r["text"] for r in kept] == ["order 42"]


def test_regex_filter_bad_pattern_fails_before_reading():
    with pytest.raises(
        StageFailed, match=r"cleaning step 1 \(regex-filter\): the pattern '\(' is not a valid regex"
    ):
        clean(iter(()), [STEP.validate_python({"step": "regex-filter", "pattern": "("})], "text")


def test_steps_chain_in_order_with_counts():
    rows = [{"text": t} for t in ["a", "A ", "", "bb", "ccc", "ccc"]]
    out, counts = apply(rows, {"step": "normalize"}, {"step": "drop-empty"}, {"step": "dedup-exact"})
    assert [r["text"] for r in out] == ["a", "bb", "ccc"]
    assert [(c.name, c.rows_in, c.rows_out) for c in counts] == [
        ("1-normalize", 6, 6),
        ("2-drop-empty", 6, 5),
        ("3-dedup-exact", 5, 3),
    ]


def test_step_on_a_missing_column_names_it():
    with pytest.raises(
        StageFailed, match=r"cleaning step 1 \(length-filter\): a record from source 0 has no column 'answer'"
    ):
        apply([{"text": "x", "_source": 0}], {"step": "length-filter", "column": "answer", "min": 1})


def test_pii_redact_step_rewrites_and_counts():
    rows = [
        {"text": "mail me at jane@example.com", "answer": "call +1 415 555 0132", "_source": 0},
        {"text": "nothing here", "answer": "ok", "_source": 0},
    ]
    stream, counts = clean(iter(rows), [STEP.validate_python({"step": "pii-redact"})], "text")
    out = list(stream)
    assert out[0]["text"] == "mail me at [EMAIL]" and "[PHONE]" in out[0]["answer"]
    assert out[1] == rows[1]
    assert counts[0].changed == 1 and counts[0].found["email"] == 1 and counts[0].found["phone"] == 1


def test_dropped_records_keep_reasons_and_samples():
    rows = [{"text": t, "_source": 0} for t in ["a", "same", "same", "", "long enough text"]]
    steps = [
        STEP.validate_python({"step": "drop-empty"}),
        STEP.validate_python({"step": "dedup-exact"}),
        STEP.validate_python({"step": "length-filter", "min": 2}),
    ]
    stream, counts = clean(iter(rows), steps, "text")
    assert [r["text"] for r in stream] == ["same", "long enough text"]
    assert counts[0].reasons == {"empty text": 1}
    assert counts[1].reasons == {"exact duplicate": 1}
    assert counts[2].reasons == {"shorter than 2 chars": 1}
    assert counts[2].samples == [{"reason": "shorter than 2 chars", "record": {"text": "a", "_source": 0}}]


def test_dedup_counts_in_metrics(project, make_qa):
    rows = make_qa(10)
    project.jsonl("data/a.jsonl", rows + rows[:3])
    project.csv("data/b.csv", rows[5:7] + make_qa(2, start=50))
    fields = {"text": "question", "answer": "answer", "label": "topic"}
    project.run(
        {"sources": [{"path": "data/a.jsonl", "fields": fields}, {"path": "data/b.csv", "fields": fields}]}
    )
    metrics = project.metrics()
    assert metrics["read"] == {"data/a.jsonl": 13, "data/b.csv": 4}
    assert metrics["rows_read"] == 17
    assert metrics["cleaning"] == {"1-dedup-exact": {"rows_in": 17, "rows": 12, "dropped": 5}}
    assert metrics["rows"] == 12
    assert metrics["duplicate_rate_read"] == round(5 / 17, 6)
    assert metrics["duplicate_rate"] == 0.0
    # the first occurrence wins: the CSV copies of rows 5 and 6 are the ones dropped
    assert sorted(r["_source"] for r in project.rows()) == [0] * 10 + [1, 1]


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_normalize_is_idempotent_and_leaves_no_edge_spaces(text):
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()
    assert "\n\n\n" not in once and "  " not in once


@given(st.text(), st.text())
@settings(max_examples=300, deadline=None)
def test_dedup_key_treats_normalized_equals_as_one(a, b):
    rows = [{"text": a}, {"text": " " + normalize(a) + "\n"}, {"text": b}]
    out, _ = apply(rows, {"step": "dedup-exact"})
    assert out[0] is rows[0]
    assert len(out) == (1 if key(a) == key(b) else 2)
