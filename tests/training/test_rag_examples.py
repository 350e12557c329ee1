"""Training examples of a Prompt with `retrieval` rendered from the dataset (no prompt stage):
each row gets the passages the index returns, as the prompt stage and the gateway do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.compiler.kinds.prompt import Prompt
from llmops.errors import StageFailed
from llmops.training.examples import load_examples
from tests.fakes.embedding_model import build_tiny_embedder
from tests.runners.eval.rag_project import TEMPLATE, build_index, retrieval

PROMPT = Prompt(
    kind="Prompt",
    name="rag",
    template=TEMPLATE,
    variables=["text"],
    completion="answer",
    retrieval=retrieval(),
)


def test_rows_are_rendered_with_retrieved_passages(tmp_path: Path):
    index_dir = build_index(tmp_path, build_tiny_embedder(tmp_path / "embedder-build"))
    (tmp_path / "ds").mkdir()
    rows = [
        {"text": "Where is my parcel?", "answer": "In two days."},
        {"text": "reset password", "answer": "Link."},
    ]
    (tmp_path / "ds/train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = load_examples(PROMPT, tmp_path, None, dataset="ds", retrieval_index=index_dir)
    first, second = examples.splits["train"]
    assert first.prompt.startswith("[kb/shipping.md#0] # Shipping") and first.completion == "In two days."
    assert second.prompt.startswith("[kb/account.md#0] # Account")
    with pytest.raises(StageFailed, match=r"no inputs\.retrieval_index"):
        load_examples(PROMPT, tmp_path, None, dataset="ds")
