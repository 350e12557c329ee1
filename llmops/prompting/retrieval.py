"""Rows augmented with retrieved passages before a RAG prompt renders them.

The prompt, tune and eval runners (and the gateway, through the same `Augmenter`) all go
through here, so what a model is trained on, evaluated on and served is rendered from the same
retrieval. A Prompt without `retrieval` gets its rows back untouched and no index is opened.

The `Augmenter` (llmops/retrieval/augment.py) embeds a batch of queries at once; rows are fed to
it in batches of `BATCH` so a large split neither embeds one query at a time nor holds every
passage in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from llmops.errors import StageFailed

BATCH = 256


def open_augmenter(retrieval: Any, retrieval_index: str | None, root: Path, *, owner: str) -> Any | None:
    """An Augmenter for the prompt's `retrieval` block, or None for a prompt without one.

    `retrieval_index` is the index folder the compiler gives the stage (`inputs.retrieval_index`);
    `owner` names the stage or prompt in messages."""
    if retrieval is None:
        return None
    if not retrieval_index:
        raise StageFailed(
            f"{owner}: the prompt retrieves from index '{retrieval.index}' but the stage config has no "
            "inputs.retrieval_index; run `llmops compile` again"
        )
    folder = root / retrieval_index
    if not (folder / "manifest.json").is_file():
        raise StageFailed(
            f"{owner}: {retrieval_index}/manifest.json does not exist; run the stage "
            f"index-{retrieval.index} first"
        )
    from llmops.retrieval.augment import Augmenter

    return Augmenter(retrieval, folder, root)


def augment_rows(
    augmenter: Any | None, rows: Iterable[dict[str, Any]], batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """Each row with its passages added (in order, lazily, `batch` rows per retrieval)."""
    if augmenter is None:
        yield from rows
        return
    pending: list[dict[str, Any]] = []
    for row in rows:
        pending.append(row)
        if len(pending) >= batch:
            yield from augmenter.augment(pending)
            pending = []
    if pending:
        yield from augmenter.augment(pending)


def passage_ids(passages: list[dict[str, Any]] | None) -> list[str]:
    """The ids of a row's passages, in rank order: what the stage records with each example."""
    return [str(p.get("id")) for p in passages or []]
