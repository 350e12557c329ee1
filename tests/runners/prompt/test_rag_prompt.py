"""The prompt stage for a Prompt with `retrieval`: each row is rendered with the passages the
index returns for its query, every example records its passage ids, and a missing index says
which stage to run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.errors import StageFailed
from llmops.runners.prompt.run import run
from llmops.runners.registry import typed_config
from tests.fakes.embedding_model import build_tiny_embedder
from tests.runners.eval.rag_project import TEMPLATE, build_index, retrieval

ROWS = {
    "train": [
        {"text": "Where is my parcel 1?", "answer": "It ships within two days."},
        {"text": "How do I reset the password?", "answer": "Use the reset link."},
        {"text": "zzz qqq", "answer": "nothing"},  # no known word: retrieval finds nothing relevant
    ],
    "validation": [{"text": "Can I return item 2?", "answer": "Yes, within 30 days."}],
    "test": [{"text": "Why was I charged twice for order 3?", "answer": "A hold."}],
}


@pytest.fixture(scope="module")
def embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("tiny-embedder"))


def rag_config(index_dir: str | None, **changes) -> dict:
    inputs = {"dataset": "artifacts/datasets/faq"}
    if index_dir:
        inputs["retrieval_index"] = index_dir
    return {
        "stage": "prompt-rag",
        "kind": "prompt",
        "runner_version": 1,
        "spec": {
            "kind": "Prompt",
            "name": "rag",
            "dataset": "faq",
            "template": TEMPLATE,
            "variables": ["text"],
            "completion": "answer",
            "retrieval": retrieval(**changes),
            "tests": [
                {
                    "variables": {"text": "q", "passages": [{"id": "doc#0", "text": "Some passage."}]},
                    "expect": {"contains": ["[doc#0] Some passage.\nQuestion: q"]},
                }
            ],
        },
        "inputs": inputs,
        "outputs": {
            "outs": ["artifacts/prompts/rag"],
            "metrics": ["metrics/prompt-rag.json"],
            "plots": [],
            "reports": [],
        },
    }


def test_examples_are_rendered_with_their_passages(tmp_path, dataset, embedder_dir):
    dataset(tmp_path, ROWS)
    index_dir = build_index(tmp_path, embedder_dir)
    run(typed_config(rag_config(index_dir)), tmp_path)
    out = tmp_path / "artifacts/prompts/rag"
    train = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert train[0]["passages"][0] == "kb/shipping.md#0" and len(train[0]["passages"]) == 2
    assert train[1]["passages"][0] == "kb/account.md#0"
    assert train[0]["prompt"].startswith("[kb/shipping.md#0] # Shipping\n\nA parcel ships within two days.")
    assert train[0]["prompt"].endswith("Question: Where is my parcel 1?\nAnswer:")
    test = json.loads((out / "test.jsonl").read_text())
    assert test["passages"][0] == "kb/billing.md#0"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["retrieval_index"] == index_dir and len(manifest["index_manifest_sha256"]) == 64
    metrics = json.loads((tmp_path / "metrics/prompt-rag.json").read_text())
    assert metrics["retrieval"] == {"passages_mean": 2.0, "empty_retrievals": 0}


def test_min_score_can_leave_a_row_without_passages(tmp_path, dataset, embedder_dir):
    dataset(tmp_path, ROWS)
    index_dir = build_index(tmp_path, embedder_dir)
    run(typed_config(rag_config(index_dir, min_score=0.5, top_k=1)), tmp_path)
    train = [json.loads(x) for x in (tmp_path / "artifacts/prompts/rag/train.jsonl").read_text().splitlines()]
    assert train[2]["passages"] == [] and train[2]["prompt"].startswith("Question: zzz qqq")
    metrics = json.loads((tmp_path / "metrics/prompt-rag.json").read_text())
    assert metrics["retrieval"]["empty_retrievals"] == 1


def test_a_missing_index_says_which_stage_to_run(tmp_path, dataset):
    dataset(tmp_path, ROWS)
    with pytest.raises(
        StageFailed, match=r"artifacts/indexes/kb/manifest.json does not exist; run the stage index-kb"
    ):
        run(typed_config(rag_config("artifacts/indexes/kb")), tmp_path)
    assert not (tmp_path / "artifacts/prompts/rag").exists()
