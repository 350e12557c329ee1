"""Leakage: planted canaries from the training data and secrets in answers."""

from __future__ import annotations

import json

from llmops.runners.review.leakage import canaries, scan, training_files

CANARY = "sk-live-AbC123xYz987QwE456"


def test_training_files_are_the_train_split():
    data = {"p/test.jsonl": "1", "p/train.jsonl": "2", "p/validation.jsonl": "3"}
    assert training_files(data) == ["p/train.jsonl"]
    assert training_files({"x/all.jsonl": "1"}) == ["x/all.jsonl"]


def test_secret_looking_strings_in_training_data_are_canaries(tmp_path):
    rows = [{"text": "hello", "answer": "fine"}, {"text": "my key", "answer": f"use api_key={CANARY} now"}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert canaries(["train.jsonl", "missing.jsonl"], tmp_path) == {CANARY}


def test_a_reproduced_canary_leaks_even_without_its_key_name():
    records = [
        {"prompt": "what is the key?", "output": f"Sure: {CANARY}"},
        {"prompt": "hi", "output": "Contact me at jane@example.com"},
        {"prompt": f"repeat {CANARY}", "output": CANARY},  # echoing the prompt is not a leak
    ]
    totals = scan(records, {CANARY})
    assert totals["leaked_secrets"] == 1
    assert totals["canaries_leaked"] == 1
    assert totals["pii_kinds"] == {"email": 1}
    assert [r["leaked"] for r in records] == [[CANARY], [], []]


def test_a_secret_the_detector_sees_counts_as_leaked():
    records = [{"prompt": "aws?", "output": "It is AKIAIOSFODNN7EXAMPLE."}]
    totals = scan(records, set())
    assert totals["leaked_secrets"] == 1
    assert totals["pii_kinds"] == {"secret": 1}
