"""Training examples as (prompt, completion) text pairs, from the prompt stage or the dataset.

When the Prompt has its own stage over the same Dataset, its rendered examples are reused as
they are; otherwise the Prompt renders the dataset's rows here, with the same sandbox. Either
way the prompt's content hash travels with the examples so the saved model records it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import StageFailed
from llmops.hashing import file_sha256

if TYPE_CHECKING:
    from llmops.compiler.kinds.prompt import Prompt

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Example:
    prompt: str
    completion: str


@dataclass(frozen=True)
class Examples:
    splits: dict[str, list[Example]]
    prompt_hash: str
    data_hashes: dict[str, str]


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, json.loads(line)


def load_examples(
    prompt: Prompt,
    root: Path,
    tokenizer: Any,
    *,
    dataset: str,
    examples: str | None = None,
    retrieval_index: str | None = None,
) -> Examples:
    """Examples per split, from the prompt stage's folder `examples` when there is one, else
    `dataset`'s rows rendered with `prompt`; `tokenizer` applies its chat template for
    `chat_format: tokenizer`. A prompt with `retrieval` renders rows with the passages retrieved
    from `retrieval_index` (the index folder), as the prompt stage and the gateway do (the prompt
    stage's examples already hold theirs)."""
    from llmops.prompting.render import PromptTemplate
    from llmops.prompting.retrieval import augment_rows, open_augmenter

    template = PromptTemplate.from_config(prompt, root)
    augmenter = None
    if examples:
        source = examples

        def example(path: Path, number: int, row: dict[str, Any]) -> Example:
            if row.get("completion") is None:
                raise StageFailed(f"{path}:{number}: example has no completion to train on")
            text = row["prompt"] if row["prompt"] is not None else _chat(tokenizer, row["messages"])
            return Example(text, row["completion"])

    else:
        source, column = dataset, template.completion_column
        if not column:
            raise StageFailed(
                f"Prompt '{template.name}' names no `completion` column, so there is nothing to train on"
            )
        augmenter = open_augmenter(
            template.retrieval, retrieval_index, root, owner=f"prompt '{template.name}'"
        )

        def example(path: Path, number: int, row: dict[str, Any]) -> Example:
            if row.get(column) is None:
                raise StageFailed(f"{path}:{number}: row has no '{column}' (the prompt's completion column)")
            prompt = template.render(row).prompt_for(tokenizer)
            return Example(prompt, template.completion_text(str(row[column])))

    splits: dict[str, list[Example]] = {}
    hashes: dict[str, str] = {}
    for split in SPLITS:
        path = root / source / f"{split}.jsonl"
        if path.is_file():
            hashes[f"{source}/{split}.jsonl"] = file_sha256(path)
            pairs = list(_jsonl(path))
            rows = augment_rows(augmenter, (row for _, row in pairs))
            splits[split] = [example(path, number, row) for (number, _), row in zip(pairs, rows, strict=True)]
    return Examples(splits, template.content_hash, hashes)


def _chat(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise StageFailed("the prompt uses the tokenizer's chat template, but the base tokenizer has none")
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
