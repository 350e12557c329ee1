"""Augmenter: the one code path that adds passages to prompt rows (runners and gateway)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from llmops.errors import StageFailed
from llmops.retrieval.augment import Augmenter

RETRIEVAL = {"index": "kb", "query": "question", "top_k": 2, "variable": "passages"}


@pytest.fixture
def index_dir(make_index):
    return make_index("kb")


def test_rows_get_passage_dicts_and_stay_unchanged(project, index_dir):
    augmenter = Augmenter(RETRIEVAL, "artifacts/indexes/kb", project, device="cpu")
    rows = [{"question": "how do I reset my password", "id": 1}, {"question": "capital of France", "id": 2}]
    out = augmenter.augment(rows)
    assert "passages" not in rows[0]
    assert [len(r["passages"]) for r in out] == [2, 2]
    assert out[1]["passages"][0]["id"] == "paris#0" and out[1]["id"] == 2
    assert set(out[0]["passages"][0]) == {"id", "doc_id", "text", "score", "source", "title", "metadata"}
    assert augmenter.passage_ids(out[1])[0] == "paris#0"
    assert augmenter.passage_ids({"question": "x"}) == []


def test_static_filters_and_per_row_filter_from(project, index_dir):
    spec = SimpleNamespace(
        index="kb", query="q", top_k=3, filters={"product": "shop"}, filter_from={"topic": "label"},
        min_score=None, rerank=None, variable="ctx",
    )  # fmt: skip
    augmenter = Augmenter(spec, index_dir, project, device="cpu")
    out = augmenter.augment(
        [{"q": "reset password", "label": "account"}, {"q": "reset password", "label": None}]
    )
    assert [p["id"] for p in out[0]["ctx"]] == ["password#0"]
    assert all(p["metadata"]["product"] == "shop" for p in out[1]["ctx"]) and len(out[1]["ctx"]) == 3


def test_empty_query_retrieves_nothing_and_a_missing_variable_is_named(project, index_dir):
    augmenter = Augmenter(RETRIEVAL, index_dir, project, device="cpu")
    assert augmenter.augment([{"question": "  "}])[0]["passages"] == []
    with pytest.raises(StageFailed, match=r"row 1 has no variable 'question'"):
        augmenter.augment([{"question": "refund"}, {"text": "refund"}])


def test_shares_an_opened_retriever_and_needs_an_index_folder(project, index_dir):
    first = Augmenter(RETRIEVAL, index_dir, project, device="cpu")
    second = Augmenter({**RETRIEVAL, "top_k": 1}, None, project, retriever=first.retriever)
    assert second.augment([{"question": "gift voucher"}])[0]["passages"][0]["id"] == "gift#0"
    with pytest.raises(StageFailed, match="retrieval_index"):
        Augmenter(RETRIEVAL, None, project)
