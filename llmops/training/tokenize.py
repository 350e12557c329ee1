"""Token ids and loss labels for causal-LM training: completion-only masking, truncation, packing.

The prompt and the completion are tokenized apart and joined, which is exactly what generation
later sees (the prompt's ids, then the model's continuation), so the loss trains the very
boundary inference uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmops.training.examples import Example

IGNORE = -100


@dataclass(frozen=True)
class Encoded:
    rows: list[dict[str, list[int]]]
    tokens: int
    truncated: int


def encode(
    examples: Sequence[Example],
    tokenizer: Any,
    *,
    max_length: int,
    completion_only: bool,
    packing: bool,
) -> Encoded:
    if not examples:  # an empty validation split, say; tokenizers fail on an empty batch
        return Encoded([], 0, 0)
    prompts = tokenizer([e.prompt for e in examples], add_special_tokens=True)["input_ids"]
    completions = tokenizer([e.completion for e in examples], add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    rows: list[dict[str, list[int]]] = []
    truncated = 0
    for prompt_ids, completion_ids in zip(prompts, completions, strict=True):
        target = [*completion_ids, eos] if eos is not None else list(completion_ids)
        ids = [*prompt_ids, *target]
        labels = [IGNORE] * len(prompt_ids) + target if completion_only else list(ids)
        if len(ids) > max_length:
            truncated += 1
            ids, labels = ids[:max_length], labels[:max_length]
        rows.append({"input_ids": ids, "labels": labels})
    if packing:
        rows = pack(rows, max_length)
    tokens = sum(len(r["input_ids"]) for r in rows)
    return Encoded(rows, tokens, truncated)


def pack(rows: list[dict[str, list[int]]], max_length: int) -> list[dict[str, list[int]]]:
    """Concatenate examples into blocks of `max_length` tokens: no padding is wasted on short
    examples. Attention crosses example boundaries (the classic packing of GPT pretraining)."""
    ids: list[int] = []
    labels: list[int] = []
    for row in rows:
        ids.extend(row["input_ids"])
        labels.extend(row["labels"])
    blocks = []
    for start in range(0, len(ids), max_length):
        block_labels = labels[start : start + max_length]
        if any(label != IGNORE for label in block_labels):
            blocks.append({"input_ids": ids[start : start + max_length], "labels": block_labels})
    return blocks


class PadCollator:
    """Pads a batch to its longest row on the right; padded positions carry no loss."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(row["input_ids"]) for row in batch)
        ids, labels, mask = [], [], []
        for row in batch:
            gap = width - len(row["input_ids"])
            ids.append(row["input_ids"] + [self.pad_token_id] * gap)
            labels.append(row["labels"] + [IGNORE] * gap)
            mask.append([1] * len(row["input_ids"]) + [0] * gap)
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
        }
