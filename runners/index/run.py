"""`llmops run index-<name>`: documents -> chunks -> vectors (with the cache) -> engine -> folder.

Everything is read, chunked and embedded before anything is written; the index folder is filled
as a staging folder and swapped in whole (`replace_dir`), so a failure leaves the previous index
as it was, and the previous folder is also the embedding cache (`cache.py`): editing one
document re-embeds only its chunks. The metrics (counts, cache hits, timings) and the Markdown
report are written after the folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops import __version__
from llmops.atomic import replace_dir, write_text
from llmops.errors import StageFailed
from llmops.retrieval.chunking import chunk_documents
from llmops.retrieval.documents import load_documents
from llmops.runners.index.cache import embed_with_cache, previous_vectors
from llmops.runners.index.report import markdown_report

if TYPE_CHECKING:
    from llmops.compiler.stages.index import IndexConfig


def run(config: IndexConfig, root: Path) -> None:
    from llmops.retrieval.embedding import Embedder
    from llmops.retrieval.engines import build_engine
    from llmops.retrieval.manifest import write_index_files

    spec = config.spec
    outputs = config.outputs
    out_dir = root / outputs.outs[0]
    metrics_path = root / outputs.metrics[0] if outputs.metrics else None
    report_path = root / outputs.reports[0] if outputs.reports else None

    documents = load_documents(list(spec.documents), root, dict(config.inputs.datasets))
    embedding = spec.embedding
    embedder = Embedder.load(embedding.model, root, dict(embedding.sha256 or {}), embedding.device)
    chunks = chunk_documents(documents, spec.chunking, embedder.count_tokens)
    if not chunks:
        raise StageFailed(
            f"index {spec.name}: the {len(documents)} documents hold no text to index; "
            "check the sources (an HTML page of scripts only, a scanned PDF without a text layer)"
        )
    facts = embedder.manifest_facts(embedding.normalize)
    cached, cache_note = previous_vectors(out_dir, facts)

    started = time.perf_counter()
    vectors, embedded, reused = embed_with_cache(
        [c.text for c in chunks],
        [c.sha256 for c in chunks],
        cached,
        # a progress bar per batch: embedding is the part of a large index build one waits on
        lambda texts: embedder.encode(texts, embedding.batch_size, embedding.normalize, progress=True),
        embedder.dimensions,
    )
    embedding_s = time.perf_counter() - started

    rows = [c.as_dict() for c in chunks]
    manifest: dict[str, Any] = {
        "format": 1,
        "name": spec.name,
        "engine": _as_json(spec.engine),
        "embedding": facts,
        "chunking": _as_json(spec.chunking),
        "documents": len(documents),
        "chunks": len(chunks),
        "tokens": sum(c.tokens for c in chunks),
        "llmops_version": __version__,
    }
    started = time.perf_counter()
    with replace_dir(out_dir) as staging:
        extra = build_engine(spec.engine, vectors, rows, staging, spec.name)
        manifest |= extra or {}
        written = write_index_files(staging, manifest, rows, vectors)
    index_s = time.perf_counter() - started

    metrics = {
        "documents": len(documents),
        "chunks": len(chunks),
        "tokens": manifest["tokens"],
        "embedded": embedded,
        "reused": reused,
        "embedding_s": round(embedding_s, 4),
        "index_s": round(index_s, 4),
        "chunks_per_s": round(embedded / embedding_s, 2) if embedded and embedding_s > 0 else 0.0,
        "dimensions": embedder.dimensions,
    }
    if report_path is not None:
        long_chunks = sum(1 for c in chunks if c.tokens > embedder.max_seq_length)
        text = markdown_report(spec, documents, chunks, written, metrics, cache_note, long_chunks)
        write_text(report_path, text)
    if metrics_path is not None:
        write_text(metrics_path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def _as_json(value: Any) -> Any:
    """A spec model (or a plain mapping, in tests) as JSON data for the manifest."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if hasattr(value, "__dict__"):
        return {k: _as_json(v) for k, v in vars(value).items()}
    return value
