"""Retriever over a tiny FAISS index: finds by shared words, filters, pins the model."""

from __future__ import annotations

import numpy as np
import pytest

from llmops.errors import StageFailed
from llmops.retrieval.retriever import Passage, Retriever
from tests.retrieval.conftest import MODEL


@pytest.fixture
def retriever(project, make_index) -> Retriever:
    return Retriever.open(make_index("kb", {"type": "faiss", "index": "hnsw"}), project, device="cpu")


def test_finds_the_passage_sharing_rare_words(retriever):
    found = retriever.search("how do I reset my password", top_k=3)
    assert found[0].id in {"password#0", "app-password#0"}
    assert {p.id for p in found[:2]} == {"password#0", "app-password#0"}
    assert retriever.search("tracking number label", 1)[0].id == "tracking#0"
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)
    assert set(found[0].as_dict()) == {"id", "doc_id", "text", "score", "source", "title", "metadata"}
    assert found[0].as_dict()["metadata"]["topic"] == "account"


def test_filters_are_equality_on_metadata(retriever):
    found = retriever.search("reset password", top_k=5, filters={"product": "app"})
    assert found and all(p.metadata["product"] == "app" for p in found)
    assert found[0].id == "app-password#0"
    assert retriever.search("reset password", 5, filters={"product": "app", "topic": "technical"})[0].id == (
        "app-crash#0"
    )
    assert retriever.search("reset password", 5, filters={"product": "none"}) == []
    assert retriever.search("reset password", 5, filters={"no_such_key": None}) == []


def test_search_many_is_one_batch_and_equals_single_searches(retriever, monkeypatch):
    queries = ["reset password", "refund card", "capital of France", "gift voucher"]
    filters = [None, {"product": "shop"}, None, {"product": "shop"}]
    single = [retriever.search(q, 2, f) for q, f in zip(queries, filters, strict=True)]
    calls = []
    encode = retriever.embedder.encode
    monkeypatch.setattr(
        retriever.embedder, "encode", lambda texts, **kw: calls.append(texts) or encode(texts, **kw)
    )
    many = retriever.search_many(queries, 2, filters)
    assert len(calls) == 1
    assert [[p.id for p in r] for r in many] == [[p.id for p in r] for r in single]
    assert many[2][0].id == "paris#0"


def test_min_score_drops_weak_passages(retriever):
    found = retriever.search("paris france capital river", top_k=10)
    cut = found[0].score - 1e-6
    assert [p.id for p in retriever.search("paris france capital river", 10, min_score=cut)] == ["paris#0"]


def test_search_vectors_skips_the_encoder(retriever):
    vector = retriever.embedder.encode(["gift voucher"])
    assert retriever.search_vectors(vector, 1)[0][0].id == "gift#0"


def test_refuses_an_index_whose_model_changed(project, make_index):
    folder = make_index("kb")
    readme = project / MODEL / "README.md"
    readme.write_text(readme.read_text() + "\nedited\n")
    with pytest.raises(StageFailed, match=r"embedded by the model that embedded the chunks.*index-kb"):
        Retriever.open(folder, project)


def build_cross_encoder(project) -> str:
    """A tiny CrossEncoder (one-label BERT) sharing the tiny embedder's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(project / MODEL)
    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=256, num_labels=1,
    )  # fmt: skip
    folder = project / "models" / "reranker"
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return "models/reranker"


def test_rerank_reorders_the_candidates_by_the_cross_encoder(project, make_index):
    folder = make_index("kb")
    path = build_cross_encoder(project)
    plain = Retriever.open(folder, project, device="cpu")
    reranked = Retriever.open(
        folder, project, device="cpu", rerank={"model": {"path": path}, "candidates": 6}
    )
    candidates = plain.search("reset password login", 6)
    found = reranked.search("reset password login", 3)
    scores = reranked.reranker.predict([("reset password login", p.text) for p in candidates])
    order = np.argsort(-np.asarray(scores), kind="stable")[:3]
    assert [p.id for p in found] == [candidates[i].id for i in order]
    assert [p.score for p in found] == pytest.approx([float(scores[i]) for i in order], abs=1e-5)
    assert isinstance(found[0], Passage)
