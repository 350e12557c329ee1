"""Dedup `keep`: which duplicate stays (first / last / preferred source), and a corrected answer
from a feedback export reaching the train split through the whole data stage."""

from __future__ import annotations

from pydantic import TypeAdapter

from llmops.compiler.kinds.dataset import CleaningStep
from llmops.runners.data.clean import clean

STEP = TypeAdapter(CleaningStep)


def apply(rows, step, priorities=()):
    stream, counts = clean(iter(rows), [STEP.validate_python(step)], "text", priorities)
    return list(stream), counts[0]


ROWS = [
    {"text": "Reset my password", "answer": "old", "_source": 0},
    {"text": "Other question", "answer": "x", "_source": 0},
    {"text": "reset my  PASSWORD", "answer": "newest", "_source": 1},
    {"text": "Reset my password", "answer": "middle", "_source": 2},
]


def test_keep_first_is_the_default_and_streams():
    out, count = apply(ROWS, {"step": "dedup-exact"})
    assert [r["answer"] for r in out] == ["old", "x"]
    assert (count.rows_in, count.rows_out) == (4, 2)


def test_keep_last_lets_the_record_read_last_win_in_read_order():
    out, count = apply(ROWS, {"step": "dedup-exact", "keep": "last"})
    assert [r["answer"] for r in out] == ["x", "middle"]
    assert count.dropped == 2 and count.reasons["exact duplicate"] == 2


def test_keep_preferred_ranks_by_source_priority_then_last():
    out, _ = apply(ROWS, {"step": "dedup-exact", "keep": "preferred"}, priorities=[0, 10, 0])
    assert [r["answer"] for r in out] == ["x", "newest"]
    out, _ = apply(ROWS, {"step": "dedup-exact", "keep": "preferred"}, priorities=[5, 1, 1])
    assert [r["answer"] for r in out] == ["old", "x"]
    out, _ = apply(ROWS, {"step": "dedup-exact", "keep": "preferred"})  # all 0: ties -> last
    assert [r["answer"] for r in out] == ["x", "middle"]


def test_dedup_near_keep_last():
    rows = [
        {"text": "How do I reset the password of my account today?", "_source": 0},
        {"text": "How do I reset the password of my account today!", "_source": 1},
    ]
    first, _ = apply(rows, {"step": "dedup-near", "threshold": 0.7})
    last, _ = apply(rows, {"step": "dedup-near", "threshold": 0.7, "keep": "last"})
    assert [r["_source"] for r in first] == [0] and [r["_source"] for r in last] == [1]


def test_correction_reaches_the_train_split(project):
    """The loop's failure mode: the export repeats the question with the corrected answer and no
    topic label; with `keep: preferred` it replaces the original and inherits its label."""
    questions = [f"Question number {i} about billing?" for i in range(12)]
    raw = [{"text": q, "answer": f"Wrong {i}.", "label": "billing"} for i, q in enumerate(questions)]
    project.jsonl("data/raw.jsonl", raw)
    correction = {"text": questions[3], "answer": "Corrected.", "feedback": "correction"}
    project.jsonl("data/feedback/prod.jsonl", [correction])
    sources = [
        {"path": "data/raw.jsonl"},
        {"path": "data/feedback/prod.jsonl", "fields": {"text": "text", "answer": "answer"}, "priority": 10},
    ]
    spec = {
        "sources": sources,
        "cleaning": [{"step": "normalize"}, {"step": "dedup-exact"}],
        "labels": {"allowed": ["billing"], "unknown": "review"},
        "split": {"train": 1.0, "validation": 0.0, "test": 0.0},
    }
    project.run(spec)
    assert {r["answer"] for r in project.rows(split="train") if r["text"] == questions[3]} == {"Wrong 3."}
    spec["cleaning"][1]["keep"] = "preferred"
    project.run(spec)
    train = project.rows(split="train")
    assert [(r["answer"], r["label"]) for r in train if r["text"] == questions[3]] == [
        ("Corrected.", "billing")
    ]
    assert len(train) == 12 and not project.rows(split="review")
    assert project.metrics()["cleaning"]["2-dedup-exact"]["dropped"] == 1


def test_preference_columns_pass_the_data_stage(project):
    rows = [
        {"text": "q1", "chosen": "good", "rejected": "bad"},
        {"text": "q1", "chosen": "good", "rejected": "bad"},
        {"text": "q1", "chosen": "good", "rejected": "worse"},
        {"text": "q2", "completion": "fine", "label": True},
    ]
    split = {"train": 1.0, "validation": 0.0, "test": 0.0}
    cleaning = [{"step": "normalize"}, {"step": "dedup-exact", "columns": ["text", "chosen", "rejected"]}]
    project.jsonl("data/pairs.jsonl", rows[:3])
    project.run({"sources": [{"path": "data/pairs.jsonl"}], "cleaning": cleaning, "split": split})
    train = project.rows(split="train")
    assert sorted((r["text"], r["chosen"], r["rejected"]) for r in train) == [
        ("q1", "good", "bad"),
        ("q1", "good", "worse"),
    ]
    project.jsonl("data/unpaired.jsonl", [rows[3], {"text": "q3", "completion": "meh", "label": False}])
    project.run({"sources": [{"path": "data/unpaired.jsonl"}], "split": split})
    assert sorted((r["completion"], r["label"]) for r in project.rows(split="train")) == [
        ("fine", True),
        ("meh", False),
    ]
