"""The index stage end to end on CPU: tiny model, markdown/HTML/JSONL/dataset sources, FAISS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from llmops.errors import StageFailed
from llmops.retrieval.manifest import load_vectors, read_chunks, read_manifest
from llmops.runners.registry import run_stage, typed_config
from tests.runners.index.sample_docs import DOCS, write_docs


def read(root: Path, name: str = "kb") -> tuple[dict, list[dict], np.ndarray, dict]:
    folder = root / f"artifacts/indexes/{name}"
    manifest = read_manifest(folder)
    metrics = json.loads((root / f"metrics/index-{name}.json").read_text())
    return manifest, read_chunks(folder, manifest), load_vectors(folder, manifest), metrics


def test_builds_the_index_folder_metrics_and_report(project, index_config):
    write_docs(project)
    (project / "kb/help.html").write_text(
        "<html><head><title>Help</title><script>x()</script></head><body><h1>Warranty</h1>"
        "<p>The warranty covers repair of a broken product.</p></body></html>"
    )
    config = index_config([{"path": "kb", "metadata": {"product": "shop"}}])
    run_stage(config, project)
    manifest, chunks, vectors, metrics = read(project)
    assert manifest["name"] == "kb" and manifest["format"] == 1
    assert manifest["documents"] == 4 and manifest["chunks"] == len(chunks) == vectors.shape[0]
    assert manifest["embedding"]["model"] == {"path": "models/tiny"}
    assert "model.safetensors" in manifest["embedding"]["files_sha256"]
    assert manifest["embedding"]["dimensions"] == vectors.shape[1] == metrics["dimensions"]
    assert manifest["chunking"] == {"strategy": "heading", "size": 32, "overlap": 8, "unit": "tokens"}
    assert manifest["engine"]["type"] == "faiss" and manifest["llmops_version"]
    assert (project / "artifacts/indexes/kb/faiss.index").is_file()
    assert [c["doc_id"] for c in chunks] == sorted(c["doc_id"] for c in chunks)  # sorted paths
    assert {c["heading"] for c in chunks if c["doc_id"] == "kb/password.md"} == {"Account", "Account > Email"}
    assert all(c["tokens"] <= 32 and c["metadata"]["product"] == "shop" for c in chunks)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert metrics["documents"] == 4 and metrics["chunks"] == len(chunks)
    assert metrics["embedded"] == len(chunks) and metrics["reused"] == 0
    assert metrics["tokens"] == manifest["tokens"] == sum(c["tokens"] for c in chunks)
    assert set(metrics) == {
        "documents",
        "chunks",
        "tokens",
        "embedded",
        "reused",
        "embedding_s",
        "index_s",
        "chunks_per_s",
        "dimensions",
    }
    report = (project / "reports/index-kb.md").read_text()
    assert "# Index report: kb" in report and "kb/help.html" in report and "longest" in report
    assert "<script>" not in report and "metadata_fields" not in report  # product and source are there


def test_report_warns_of_metadata_fields_no_chunk_has(project, index_config):
    write_docs(project)
    config = index_config([{"path": "kb"}])
    config["spec"]["metadata_fields"] = ["product", "team"]
    run_stage(config, project)
    report = (project / "reports/index-kb.md").read_text()
    assert "metadata_fields team are on no chunk" in report


def test_editing_one_document_re_embeds_only_its_chunks(project, index_config, tmp_path_factory):
    write_docs(project)
    config = index_config([{"path": "kb/*.md"}])
    run_stage(config, project)
    _, before, _, _ = read(project)
    edited = DOCS["kb/refunds.md"].replace("five days", "ten days")
    (project / "kb/refunds.md").write_text(edited)
    run_stage(config, project)
    manifest, chunks, vectors, metrics = read(project)
    changed = [c for c in chunks if c["doc_id"] == "kb/refunds.md"]
    assert metrics["embedded"] == len(changed) and metrics["reused"] == len(chunks) - len(changed)
    assert [c["id"] for c in chunks] == [c["id"] for c in before]

    # the same result as a full rebuild from nothing
    fresh = tmp_path_factory.mktemp("fresh")
    shutil.copytree(project / "models", fresh / "models")
    write_docs(fresh, DOCS | {"kb/refunds.md": edited})
    run_stage(config, fresh)
    manifest2, chunks2, vectors2, metrics2 = read(fresh)
    assert metrics2["reused"] == 0
    assert chunks2 == chunks
    assert np.allclose(vectors2, vectors, atol=1e-6)
    assert manifest2["chunks_sha256"] == manifest["chunks_sha256"]


def test_another_model_invalidates_the_cache(project, index_config):
    write_docs(project)
    run_stage(index_config([{"path": "kb"}]), project)
    config = index_config([{"path": "kb"}], embedding={"normalize": False})
    run_stage(config, project)
    _, chunks, _, metrics = read(project)
    assert metrics["reused"] == 0 and metrics["embedded"] == len(chunks)
    report = (project / "reports/index-kb.md").read_text()
    assert "another model or setting" in report


def test_jsonl_and_dataset_sources_with_chars_unit(project, index_config):
    (project / "faq.jsonl").write_text(
        json.dumps({"id": "faq-1", "q": "Reset password?", "a": "Use the reset link.", "product": "app"})
        + "\n"
    )
    folder = project / "artifacts/datasets/support"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"text_column": "text", "id_column": "id"}))
    (folder / "train.jsonl").write_text(
        json.dumps({"id": "t1", "text": "Parcels ship within two days."}) + "\n"
    )
    for split in ("validation", "test"):
        (folder / f"{split}.jsonl").write_text("")
    config = index_config(
        [{"path": "faq.jsonl", "fields": {"text": "a", "title": "q"}}, {"dataset": "support"}],
        chunking={"strategy": "sentence", "size": 40, "overlap": 10, "unit": "chars"},
        datasets={"support": "artifacts/datasets/support"},
    )
    run_stage(config, project)
    _, chunks, _, metrics = read(project)
    assert [(c["id"], c["title"], c["source"]) for c in chunks] == [
        ("faq-1#0", "Reset password?", "faq.jsonl"),
        ("t1#0", "support t1", "dataset:support/train"),
    ]
    assert chunks[0]["metadata"] == {"source": "faq.jsonl", "product": "app"}
    assert metrics["documents"] == 2


def test_a_failed_build_keeps_the_previous_index(project, index_config):
    write_docs(project)
    config = index_config([{"path": "kb"}])
    run_stage(config, project)
    before = (project / "artifacts/indexes/kb/manifest.json").read_text()
    (project / "kb/broken.jsonl").write_text("{not json\n")
    with pytest.raises(StageFailed, match=r"kb/broken\.jsonl line 1: not valid JSON"):
        run_stage(config, project)
    assert (project / "artifacts/indexes/kb/manifest.json").read_text() == before


def test_documents_without_text_fail_clearly(project, index_config):
    (project / "kb").mkdir()
    (project / "kb/empty.html").write_text("<html><body><script>only()</script></body></html>")
    with pytest.raises(StageFailed, match="hold no text to index"):
        run_stage(index_config([{"path": "kb"}]), project)


def test_the_typed_config_is_what_the_runner_reads(index_config):
    config = typed_config(index_config([{"path": "kb"}]))
    assert config.kind == "index" and config.spec.chunking.size == 32
