"""Completion-only labels, truncation and packing, on a real tokenizer."""

from __future__ import annotations

import pytest

from llmops.runners.base.tokenizer import train_tokenizer
from llmops.training.examples import Example
from llmops.training.tokenize import IGNORE, PadCollator, encode, pack


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["Question: where is it?\nAnswer: here it is, thanks."] * 5, 300)


def test_completion_only_masks_the_prompt_and_ends_with_eos(tokenizer):
    encoded = encode(
        [Example("Question: where?\nAnswer:", " here")],
        tokenizer,
        max_length=64,
        completion_only=True,
        packing=False,
    )
    row = encoded.rows[0]
    prompt_len = len(tokenizer("Question: where?\nAnswer:")["input_ids"])
    assert row["labels"][:prompt_len] == [IGNORE] * prompt_len
    assert row["labels"][prompt_len:] == row["input_ids"][prompt_len:]
    assert row["input_ids"][-1] == tokenizer.eos_token_id
    assert row["input_ids"][0] == tokenizer.bos_token_id


def test_full_loss_labels_every_token(tokenizer):
    row = encode([Example("a", " b")], tokenizer, max_length=64, completion_only=False, packing=False).rows[0]
    assert row["labels"] == row["input_ids"]


def test_truncation_is_counted(tokenizer):
    encoded = encode(
        [Example("Question: " * 20, " here")], tokenizer, max_length=8, completion_only=False, packing=False
    )
    assert encoded.truncated == 1 and len(encoded.rows[0]["input_ids"]) == 8


def test_packing_fills_blocks_and_drops_blocks_without_loss():
    rows = [
        {"input_ids": [1, 2, 3], "labels": [IGNORE, 2, 3]},
        {"input_ids": [4, 5], "labels": [IGNORE, IGNORE]},
    ]
    assert pack(rows, 2) == [
        {"input_ids": [1, 2], "labels": [IGNORE, 2]},
        {"input_ids": [3, 4], "labels": [3, IGNORE]},
    ]


def test_collator_pads_right_without_loss_on_padding():
    batch = PadCollator(0)([{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8], "labels": [8]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[5, 6, 7], [8, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_an_empty_split_encodes_to_nothing(tokenizer):
    encoded = encode([], tokenizer, max_length=8, completion_only=True, packing=False)
    assert (encoded.rows, encoded.tokens, encoded.truncated) == ([], 0, 0)
