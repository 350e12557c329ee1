"""The split: exact counts, deterministic for a seed, blind to input order, stratified, grouped."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops.errors import StageFailed
from llmops.runners.data.split import SPLITS, counts, leaks, split

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def records(n, **extra):
    return [{"text": f"record {i}", "_source": 0, **{k: f(i) for k, f in extra.items()}} for i in range(n)]


def texts(parts):
    return {name: [r["text"] for r in rows] for name, rows in parts.items()}


def test_exact_counts_from_ratios():
    parts = split(records(132), RATIOS, 42, "text")
    assert {n: len(r) for n, r in parts.items()} == {"train": 106, "validation": 13, "test": 13}


@given(total=st.integers(0, 500), train=st.integers(0, 100), validation=st.integers(0, 100))
@settings(max_examples=200, deadline=None)
def test_counts_add_up_and_stay_within_one_of_the_share(total, train, validation):
    if train + validation > 100:
        return
    ratios = {"train": train / 100, "validation": validation / 100, "test": (100 - train - validation) / 100}
    result = counts(total, ratios)
    assert sum(result.values()) == total
    assert all(abs(result[n] - total * ratios[n]) < 1 for n in SPLITS)


def test_same_seed_same_split_and_input_order_does_not_matter():
    rows = records(200)
    shuffled = list(rows)
    random.Random(3).shuffle(shuffled)
    assert texts(split(rows, RATIOS, 7, "text")) == texts(split(shuffled, RATIOS, 7, "text"))


def test_different_seed_different_split():
    rows = records(200)
    assert texts(split(rows, RATIOS, 1, "text"))["test"] != texts(split(rows, RATIOS, 2, "text"))["test"]


def test_duplicates_left_in_stay_in_one_split():
    rows = records(50) + records(50)
    parts = split(rows, RATIOS, 5, "text")
    assert leaks(parts, "text") == []
    assert sum(len(r) for r in parts.values()) == 100


def test_stratify_keeps_proportions_per_stratum():
    rows = records(300, label=lambda i: "a" if i < 200 else ("b" if i < 270 else "c"))
    parts = split(rows, RATIOS, 42, "text", stratify_by="label")
    by = {name: Counter(r["label"] for r in part) for name, part in parts.items()}
    assert by["train"] == {"a": 160, "b": 56, "c": 24}
    assert by["validation"] == {"a": 20, "b": 7, "c": 3}
    assert by["test"] == {"a": 20, "b": 7, "c": 3}


def test_stratify_on_a_missing_column():
    with pytest.raises(StageFailed, match=r"split.stratify_by: a record from source 0 has no column 'label'"):
        split(records(3), RATIOS, 1, "text", stratify_by="label")


def test_groups_stay_whole():
    rows = records(400, user=lambda i: f"user-{i % 37}")
    parts = split(rows, RATIOS, 42, "text", group_by="user")
    where = {}
    for name, part in parts.items():
        for record in part:
            assert where.setdefault(record["user"], name) == name
    sizes = {name: len(part) for name, part in parts.items()}
    assert sum(sizes.values()) == 400
    assert 280 < sizes["train"] < 360  # whole groups of ~11 rows: close to 320, not exact


def test_group_with_no_value():
    rows = records(3, user=lambda i: None if i == 1 else "u")
    with pytest.raises(
        StageFailed, match=r"split.group_by: a record from source 0 has no value in column 'user'"
    ):
        split(rows, RATIOS, 1, "text", group_by="user")


def test_leakage_across_groups_is_found():
    rows = [{"text": "shared question", "user": f"u{i}"} for i in range(30)]
    rows += [{"text": f"unique {i}", "user": f"u{i}"} for i in range(30)]
    found = leaks(split(rows, RATIOS, 42, "text", group_by="user"), "text")
    assert found and found[0][0] == "shared question"
    assert len(found[0][1]) > 1


def test_run_reports_leakage(project):
    rows = [{"text": "shared question", "user": f"u{i}"} for i in range(30)]
    project.jsonl("data/a.jsonl", rows)
    spec = {"sources": [{"path": "data/a.jsonl"}], "cleaning": [], "split": {"group_by": "user"}}
    with pytest.raises(
        StageFailed,
        match=r"split: 1 text appears in more than one split \(records of different 'user' groups",
    ):
        project.run(spec)
    assert not (project.root / "artifacts").exists()


def test_split_files_are_byte_identical_for_the_same_seed_and_any_input_order(project, make_qa):
    rows = make_qa(60) + make_qa(40, topic="shipping")
    fields = {"text": "question", "answer": "answer", "label": "topic"}
    project.jsonl("data/a.jsonl", rows)
    project.run({"sources": [{"path": "data/a.jsonl", "fields": fields}]})
    first = project.snapshot()
    first_metrics = (project.root / "metrics" / "data-demo.json").read_bytes()

    project.run({"sources": [{"path": "data/a.jsonl", "fields": fields}]})
    assert project.snapshot() == first
    assert (project.root / "metrics" / "data-demo.json").read_bytes() == first_metrics

    shuffled = list(rows)
    random.Random(9).shuffle(shuffled)
    project.jsonl("data/a.jsonl", shuffled)
    project.run({"sources": [{"path": "data/a.jsonl", "fields": fields}]})
    after = project.snapshot()
    assert {k: v for k, v in after.items() if k != "manifest.json"} == {
        k: v for k, v in first.items() if k != "manifest.json"
    }

    project.run({"sources": [{"path": "data/a.jsonl", "fields": fields}]}, seed=43)
    assert project.snapshot()["test.jsonl"] != first["test.jsonl"]
    assert project.manifest()["seed"] == 43


def test_spec_seed_is_ignored_for_the_resolved_one(project, make_qa):
    project.jsonl("data/a.jsonl", make_qa(50))
    spec = {"sources": [{"path": "data/a.jsonl", "fields": {"text": "question"}}], "split": {"seed": 1}}
    project.run(spec, seed=42)
    a = project.snapshot()
    project.run({**spec, "split": {"seed": 2}}, seed=42)
    assert project.snapshot()["train.jsonl"] == a["train.jsonl"]
