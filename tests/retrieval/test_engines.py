"""FAISS engine and the index folder's files, on random vectors (no model)."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from llmops.compiler.kinds.knowledge_index import IndexEngine
from llmops.errors import StageFailed
from llmops.retrieval.engines import EngineSpec, build_engine, open_engine
from llmops.retrieval.manifest import IndexFiles, load_vectors, read_chunks, read_manifest, write_index_files


def vectors(n: int = 600, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def chunks(n: int) -> list[dict]:
    return [{"id": f"d{i}#0", "doc_id": f"d{i}", "text": f"t{i}", "metadata": {"g": i % 3}} for i in range(n)]


def build(tmp_path, spec: dict, x: np.ndarray):
    rows = chunks(len(x))
    extra = build_engine(spec, x, rows, tmp_path, "kb")
    manifest = write_index_files(tmp_path, {"name": "kb", "embedding": {"normalize": True}, **extra}, rows, x)
    return open_engine(manifest, tmp_path), manifest


def brute(x: np.ndarray, q: np.ndarray, metric: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = -np.sqrt(((q[:, None, :] - x[None]) ** 2).sum(-1)) if metric == "l2" else q @ x.T
    rows = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, rows, axis=1), rows


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_flat_is_exact_and_scores_are_higher_is_better(tmp_path, metric):
    x = vectors()
    engine, _ = build(tmp_path, {"type": "faiss", "index": "flat", "metric": metric}, x)
    q = vectors(5, seed=1)
    scores, rows = engine.search(q, 5)
    want_scores, want_rows = brute(x, q, metric, 5)
    assert (rows == want_rows).all()
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_hnsw_recall_against_flat(tmp_path):
    x = vectors(2000, 16)
    engine, manifest = build(
        tmp_path, {"index": "hnsw", "hnsw": {"m": 16, "ef_construction": 100, "ef_search": 64}}, x
    )
    q = vectors(50, 16, seed=2)
    _, rows = engine.search(q, 10)
    _, exact = brute(x, q, "cosine", 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows.tolist(), exact.tolist(), strict=True)])
    assert recall >= 0.95
    assert manifest["engine"]["hnsw"] == {"m": 16, "ef_construction": 100, "ef_search": 64}
    assert engine.index.hnsw.efSearch == 64  # set at load from the manifest


@pytest.mark.parametrize("index", ["flat", "hnsw"])
@pytest.mark.parametrize("exact_below", [0, 10_000])
def test_filters_restrict_rows_by_selector_or_exactly(tmp_path, monkeypatch, index, exact_below):
    from llmops.retrieval.engines import faiss_engine

    monkeypatch.setattr(faiss_engine, "EXACT_BELOW", exact_below)
    x = vectors()
    engine, _ = build(tmp_path, {"index": index}, x)
    allowed = np.arange(0, len(x), 3)
    q = vectors(4, seed=3)
    _, rows = engine.search(q, 5, allowed=allowed)
    assert set(rows.ravel().tolist()) <= set(allowed.tolist())
    _, want = brute(x[allowed], q, "cosine", 5)
    assert (rows == allowed[want]).all()


def test_fewer_allowed_rows_than_k_pads_with_minus_one(tmp_path):
    engine, _ = build(tmp_path, {"index": "hnsw"}, vectors())
    scores, rows = engine.search(vectors(2, seed=4), 4, allowed=np.array([7, 9]))
    assert sorted(rows[0, :2].tolist()) == [7, 9] and rows[0, 2:].tolist() == [-1, -1]
    assert np.isneginf(scores[:, 2:]).all()
    _, none = engine.search(vectors(1, seed=4), 3, allowed=np.array([], dtype=np.int64))
    assert none.tolist() == [[-1, -1, -1]]


def test_cosine_normalizes_unnormalized_vectors(tmp_path):
    x = vectors() * np.linspace(0.5, 3.0, 600, dtype=np.float32)[:, None]
    engine, _ = build(tmp_path, {"index": "flat", "metric": "cosine"}, x)
    scores, _ = engine.search(x[:3] * 7.0, 1)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_engine_spec_from_dict_model_namespace_and_defaults():
    # the defaults are the spec model's own
    assert EngineSpec.of(None) == EngineSpec.of({}) == EngineSpec.of(IndexEngine())
    spec = EngineSpec.of({"type": "faiss", "index": "flat", "metric": "l2", "hnsw": {"m": 8}, "table": None})
    assert (spec.index, spec.metric, spec.m, spec.ef_search) == ("flat", "l2", 8, 128)
    ns = SimpleNamespace(
        type="pgvector",
        index="hnsw",
        metric="ip",
        hnsw=SimpleNamespace(m=4, ef_construction=40, ef_search=10),
        dsn_env="X",
        table="t",
    )
    assert EngineSpec.of(ns).as_json() == {
        "type": "pgvector", "index": "hnsw", "metric": "ip", "dsn_env": "X", "table": "t",
        "hnsw": {"m": 4, "ef_construction": 40, "ef_search": 10},
    }  # fmt: skip
    with pytest.raises(StageFailed, match=r"engine\.type"):
        EngineSpec.of({"type": "milvus"})


def test_index_files_round_trip_and_tamper_checks(tmp_path):
    x = vectors(20)
    _, manifest = build(tmp_path, {"index": "flat"}, x)
    assert read_manifest(tmp_path) == manifest
    assert manifest["chunks"] == 20 and manifest["format"] == 1
    assert read_chunks(tmp_path, manifest) == chunks(20)
    np.testing.assert_array_equal(load_vectors(tmp_path, manifest), x)
    files = IndexFiles(tmp_path)
    files.chunks.write_text(files.chunks.read_text().replace("t3", "t4"))
    with pytest.raises(StageFailed, match="does not match the manifest"):
        read_chunks(tmp_path, manifest)
    with pytest.raises(StageFailed, match="llmops run index-kb"):
        open_engine({**manifest, "engine_state": {"index_sha256": "0" * 64}}, tmp_path)
    files.manifest.write_text(json.dumps({**manifest, "format": 9}))
    with pytest.raises(StageFailed, match="format 9"):
        read_manifest(tmp_path)
    with pytest.raises(StageFailed, match="no index manifest"):
        read_manifest(tmp_path / "missing")


def test_write_index_files_refuses_vectors_that_do_not_match_chunks(tmp_path):
    with pytest.raises(StageFailed, match="exactly one vector"):
        write_index_files(tmp_path, {"name": "kb"}, chunks(3), vectors(2))


def test_pgvector_needs_its_environment_variable_and_a_plain_table(monkeypatch, tmp_path):
    from llmops.retrieval.engines.pgvector_engine import checked_table

    monkeypatch.delenv("LLMOPS_TEST_DSN", raising=False)
    with pytest.raises(StageFailed, match="LLMOPS_TEST_DSN is not set"):
        build_engine(
            {"type": "pgvector", "dsn_env": "LLMOPS_TEST_DSN"}, vectors(2), chunks(2), tmp_path, "kb"
        )
    pgvector = EngineSpec.of({"type": "pgvector", "dsn_env": "LLMOPS_TEST_DSN"})
    assert checked_table(pgvector, "support-kb") == "llmops_kb_support_kb"
    with pytest.raises(StageFailed, match="plain identifier"):  # past the spec's own pattern
        checked_table(dataclasses.replace(pgvector, table='kb"; DROP TABLE x; --'), "kb")


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_exact_filtered_search_matches_brute_force_for_other_metrics(tmp_path, metric):
    x = vectors() * np.linspace(0.5, 2.0, 600, dtype=np.float32)[:, None]
    engine, _ = build(tmp_path, {"index": "hnsw", "metric": metric}, x)
    allowed = np.arange(1, len(x), 7)
    q = vectors(3, seed=5)
    scores, rows = engine.search(q, 4, allowed=allowed)
    want_scores, want = brute(x[allowed], q, metric, 4)
    assert (rows == allowed[want]).all()
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)
