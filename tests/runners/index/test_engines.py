"""What the index stage writes is what the retriever reads: FAISS HNSW and a real pgvector server."""

from __future__ import annotations

import pytest

from llmops.retrieval.manifest import read_chunks, read_manifest
from llmops.retrieval.retriever import Retriever
from llmops.runners.registry import run_stage
from tests.fakes.pgvector_server import pgvector_server, require_pgserver
from tests.runners.index.sample_docs import DOCS, write_docs


def test_hnsw_index_answers_the_retriever(project, index_config):
    write_docs(project)
    run_stage(index_config([{"path": "kb"}], engine={"type": "faiss", "index": "hnsw"}), project)
    retriever = Retriever.open(project / "artifacts/indexes/kb", project, device="cpu")
    try:
        [best, *_] = retriever.search("how do I reset my password", top_k=3)
        assert best.doc_id == "kb/password.md" and best.heading == "Account"
        only = retriever.search("reset password", top_k=3, filters={"source": "kb/shipping.md"})
        assert {p.doc_id for p in only} == {"kb/shipping.md"}
    finally:
        retriever.close()


def test_pgvector_table_follows_the_documents(project, index_config, monkeypatch):
    require_pgserver()
    import psycopg

    write_docs(project)
    engine = {"type": "pgvector", "index": "hnsw", "dsn_env": "LLMOPS_TEST_PG_DSN", "table": "kb_test"}
    config = index_config([{"path": "kb"}], engine=engine)
    with pgvector_server() as dsn:
        monkeypatch.setenv("LLMOPS_TEST_PG_DSN", dsn)
        run_stage(config, project)
        folder = project / "artifacts/indexes/kb"
        assert not (folder / "faiss.index").exists()
        (project / "kb/shipping.md").unlink()
        (project / "kb/refunds.md").write_text(DOCS["kb/refunds.md"].replace("five", "ten"))
        run_stage(config, project)
        manifest = read_manifest(folder)
        ids = sorted(c["id"] for c in read_chunks(folder, manifest))
        with psycopg.connect(dsn) as conn:
            rows = sorted(r[0] for r in conn.execute("SELECT id FROM kb_test"))
        assert rows == ids and not any(i.startswith("kb/shipping.md") for i in rows)
        retriever = Retriever.open(folder, project, device="cpu")
        try:
            [best, *_] = retriever.search("refund card", top_k=2)
            assert best.doc_id == "kb/refunds.md" and "ten days" in best.text
        finally:
            retriever.close()


@pytest.mark.parametrize("strategy", ["sentence", "fixed"])
def test_every_strategy_builds(project, index_config, strategy):
    write_docs(project)
    run_stage(
        index_config([{"path": "kb"}], chunking={"strategy": strategy, "size": 16, "overlap": 4}), project
    )
    chunks = read_chunks(project / "artifacts/indexes/kb")
    assert chunks and all(c["tokens"] <= 16 for c in chunks)
