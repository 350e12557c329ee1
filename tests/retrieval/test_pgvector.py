"""pgvector engine against a real PostgreSQL 16 + pgvector server (pgserver's binaries)."""

from __future__ import annotations

import numpy as np
import pytest

from llmops.retrieval.engines import build_engine
from llmops.retrieval.retriever import Retriever
from tests.fakes.pgvector_server import pgvector_server, require_pgserver
from tests.retrieval.conftest import PASSAGES

ENV = "LLMOPS_TEST_PGVECTOR_DSN"
ENGINE = {
    "type": "pgvector",
    "index": "hnsw",
    "metric": "cosine",
    "dsn_env": ENV,
    "hnsw": {"m": 8, "ef_search": 40},
}
QUERIES = [
    "how do I reset my password",
    "refund card",
    "capital of France",
    "tracking number label",
    "app crash",
]


@pytest.fixture(scope="module")
def dsn():
    binaries = require_pgserver()
    with pgvector_server(binaries) as url:
        yield url


@pytest.fixture
def env(dsn, monkeypatch):
    monkeypatch.setenv(ENV, dsn)
    return dsn


def rows(dsn: str, table: str) -> dict[str, tuple[str, str]]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(f"SELECT id, xmin::text, text FROM {table}")}


def test_same_passages_and_scores_as_faiss_exact(project, make_index, env):
    pg = Retriever.open(make_index("support-kb", ENGINE), project, device="cpu")
    flat = Retriever.open(make_index("flat-kb"), project, device="cpu")
    assert pg.manifest["engine_state"] == {"table": "llmops_kb_support_kb", "rows": len(PASSAGES)}
    for query in QUERIES:
        got, want = pg.search(query, 3), flat.search(query, 3)
        assert [p.id for p in got] == [p.id for p in want]
        np.testing.assert_allclose([p.score for p in got], [p.score for p in want], atol=1e-4)
    pg.close()


def test_filters_are_jsonb_containment_and_values_are_parameters(project, make_index, env):
    pg = Retriever.open(make_index("support-kb", ENGINE), project, device="cpu")
    found = pg.search("reset password", 5, filters={"product": "app"})
    assert [p.id for p in found][:1] == ["app-password#0"] and all(
        p.metadata["product"] == "app" for p in found
    )
    # fewer matches than k: the HNSW candidates are re-searched exactly, nothing is lost
    assert [p.id for p in pg.search("reset password", 3, filters={"product": "atlas"})] == ["paris#0"]
    assert (
        pg.search("reset password", 3, filters={"product": "x'); DROP TABLE llmops_kb_support_kb; --"}) == []
    )
    assert len(rows(env, "llmops_kb_support_kb")) == len(PASSAGES)
    pg.close()


def test_rebuild_upserts_changed_rows_and_deletes_removed_ones(project, make_index, env):
    make_index("support-kb", ENGINE)
    before = rows(env, "llmops_kb_support_kb")
    edited = [
        (pid, text + " Updated." if pid == "gift#0" else text, meta) for pid, text, meta in PASSAGES[:-1]
    ]
    make_index("support-kb", ENGINE, passages=edited)
    after = rows(env, "llmops_kb_support_kb")
    assert set(after) == {pid for pid, _, _ in edited}  # paris#0 deleted
    assert after["gift#0"][1].endswith("Updated.") and after["gift#0"][0] != before["gift#0"][0]
    unchanged = [pid for pid, _, _ in edited if pid != "gift#0"]
    assert all(after[pid][0] == before[pid][0] for pid in unchanged)  # not rewritten
    pg = Retriever.open(project / "artifacts/indexes/support-kb", project, device="cpu")
    assert pg.search("capital of France", 1)[0].id != "paris#0"
    pg.close()


def test_a_new_dimension_recreates_the_table(tmp_path, env):
    chunks = [{"id": f"c{i}", "text": f"t{i}", "metadata": {}} for i in range(4)]
    rng = np.random.default_rng(0)
    spec = {**ENGINE, "table": "llmops_kb_dims"}
    build_engine(spec, rng.standard_normal((4, 8)).astype(np.float32), chunks, tmp_path, "dims")
    build_engine(spec, rng.standard_normal((4, 12)).astype(np.float32), chunks, tmp_path, "dims")
    import psycopg

    with psycopg.connect(env) as conn:
        kind = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'llmops_kb_dims'::regclass AND attname = 'embedding'"
        ).fetchone()[0]
    assert kind == "vector(12)" and len(rows(env, "llmops_kb_dims")) == 4


def test_new_hnsw_parameters_replace_the_index(tmp_path, env):
    import psycopg

    chunks = [{"id": f"c{i}", "text": f"t{i}", "metadata": {}} for i in range(4)]
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    for m in (8, 12):
        build_engine({**ENGINE, "table": "llmops_kb_params", "hnsw": {"m": m}}, x, chunks, tmp_path, "params")
    with psycopg.connect(env) as conn:
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'llmops_kb_params' AND indexdef LIKE '%hnsw%'"
        ).fetchall()
    assert len(indexes) == 1 and "m='12'" in indexes[0][0]
