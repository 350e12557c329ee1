"""The gateway end to end on a real knowledge index: a tiny embedding model built in the test, a
small FAISS index written through the retrieval package's public API, a Prompt with `retrieval`
opened the way `llmops serve` opens it, and the fake engine. The answer cites the passage that
shares the question's words, the store keeps its id, and PII in the question is redacted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fakes.embedding_model import build_tiny_embedder

MODEL = "models/tiny/model"
PASSAGES = [
    ("password#0", "shop", "Reset your password from the login page."),
    ("refunds#0", "shop", "Refunds for returned items are paid to your card within days."),
    ("tracking#0", "shop", "The tracking number is on the label of the box."),
    ("app-password#0", "app", "Reset the app password from the app login."),
    ("paris#0", "atlas", "Paris is the capital of France; a river runs through it."),
]


@pytest.fixture(scope="module")
def rag_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root with the tiny model and a flat FAISS index `artifacts/indexes/kb`."""
    from llmops.atomic import replace_dir
    from llmops.retrieval.embedding import Embedder
    from llmops.retrieval.engines import build_engine
    from llmops.retrieval.manifest import write_index_files

    root = tmp_path_factory.mktemp("rag-project")
    build_tiny_embedder(root / "models" / "tiny")
    embedder = Embedder.load({"path": MODEL}, root, device="cpu")
    chunks = [
        {
            "id": pid,
            "doc_id": pid.split("#")[0],
            "source": f"knowledge/{pid.split('#')[0]}.md",
            "title": pid.split("#")[0].title(),
            "heading": None,
            "text": text,
            "metadata": {"product": product},
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "tokens": len(text.split()),
        }
        for pid, product, text in PASSAGES
    ]
    vectors = embedder.encode([c["text"] for c in chunks], normalize=True)
    with replace_dir(root / "artifacts" / "indexes" / "kb") as staging:
        extra = build_engine({"type": "faiss", "index": "flat"}, vectors, chunks, staging, "kb")
        manifest = {"name": "kb", "embedding": embedder.manifest_facts(True), **extra}
        write_index_files(staging, manifest, chunks, vectors)
    return root


def _deploy_config(root: Path, **retrieval: object) -> SimpleNamespace:
    """What `llmops serve` reads of the deploy stage's config (the compiler's field names)."""
    from llmops.compiler.kinds.prompt import Prompt

    prompt = Prompt.model_validate(
        {
            "apiVersion": "llmops/v1",
            "kind": "Prompt",
            "name": "kb-qa",
            "template": "{% for p in passages %}[{{ p.id }}] {{ p.text }}\n{% endfor %}Q: {{ text }}",
            "variables": ["text", "product"],
            "retrieval": {"index": "kb", "query": "text", "top_k": 2, **retrieval},
        }
    )
    return SimpleNamespace(inputs=SimpleNamespace(prompt=prompt, retrieval_index="artifacts/indexes/kb"))


def test_answer_cites_the_passage_and_the_store_keeps_it(rag_project: Path, start_gateway) -> None:
    from llmops.cli.serve_cmd import _open_rag

    rag = _open_rag(_deploy_config(rag_project, filter_from={"product": "product"}), rag_project)
    gw = start_gateway(rag=rag)
    body = {
        "messages": [{"role": "user", "content": "password reset login? mail me at bob@example.com"}],
        "variables": {"product": "shop"},
    }
    with gw.client() as client:
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    citations = data["citations"]
    assert citations[0]["id"] == "password#0"  # shares "password", "reset", "login"
    assert citations[0]["source"] == "knowledge/password.md" and citations[0]["title"] == "Password"
    assert "app-password#0" not in [c["id"] for c in citations]  # filtered out: product app
    assert "[password#0] Reset your password from the login page." in data["choices"][0]["message"]["content"]

    [row] = gw.rows("requests")
    record = json.loads(row["retrieval"])
    assert [p["id"] for p in record["passages"]] == [c["id"] for c in citations]
    assert record["passages"][0]["score"] == citations[0]["score"]
    assert row["retrieved"] == len(citations) and row["retrieval_ms"] > 0
    assert "bob@example.com" not in row["request_text"] and "password reset login" in row["request_text"]
    assert gw.metric("llmops_gateway_retrieval_duration_seconds_count") == 1


def test_min_score_can_leave_a_request_without_passages(rag_project: Path, start_gateway) -> None:
    from llmops.cli.serve_cmd import _open_rag

    gw = start_gateway(rag=_open_rag(_deploy_config(rag_project, min_score=0.999), rag_project))
    body = {"messages": [{"role": "user", "content": "moon sun"}], "variables": {"product": "shop"}}
    with gw.client() as client:
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200 and response.json()["citations"] == []
    assert gw.rows("requests")[0]["retrieved"] == 0
    assert gw.metric("llmops_gateway_empty_retrievals_total") == 1


def test_serve_refuses_an_index_that_is_not_built(tmp_path: Path) -> None:
    from llmops.cli.serve_cmd import _open_rag
    from llmops.errors import UsageError

    with pytest.raises(UsageError, match=r"knowledge index kb is not built .*llmops run index-kb"):
        _open_rag(_deploy_config(tmp_path), tmp_path)
    assert _open_rag(SimpleNamespace(inputs=SimpleNamespace(prompt=None)), tmp_path) is None
