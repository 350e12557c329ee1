"""Search an index folder: embed the queries once per batch, ask the engine, return passages.

The retriever pins the embedding model to the hashes the index recorded (every file of the
model folder): query vectors from another model would be compared with the chunk vectors
without any error, and silently retrieve noise. Filters are equality on chunk metadata; for
FAISS the allowed rows are computed once per distinct filter and cached. Scores are higher
is better (see `engines`); with a reranker, `score` is the cross-encoder's and `min_score`
still applies to the embedding similarity, before reranking.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llmops.errors import StageFailed
from llmops.retrieval.embedding import Embedder
from llmops.retrieval.engines import Engine, open_engine
from llmops.retrieval.manifest import read_chunks, read_manifest

ALLOWED_CACHE = 256  # distinct filters whose allowed rows are kept


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk; `as_dict()` is what a prompt template sees."""

    id: str
    doc_id: str
    text: str
    score: float
    source: str
    title: str
    metadata: dict[str, Any] = field(default_factory=dict)
    row: int = -1
    heading: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc_id": self.doc_id,
            "text": self.text,
            "score": self.score,
            "source": self.source,
            "title": self.title,
            "metadata": dict(self.metadata),
        }


def filter_key(filters: dict[str, Any] | None) -> str:
    """A canonical key for a filter (JSON, keys sorted); "" for none."""
    return json.dumps(filters, sort_keys=True, ensure_ascii=False, default=str) if filters else ""


class Retriever:
    """An opened index: embedder, engine, chunks. Thread-safe for concurrent searches."""

    def __init__(
        self,
        manifest: dict[str, Any],
        chunks: list[dict[str, Any]],
        embedder: Embedder,
        engine: Engine,
        reranker: Any = None,
        rerank_candidates: int = 20,
    ) -> None:
        self.manifest = manifest
        self.chunks = chunks
        self.embedder = embedder
        self.engine = engine
        self.reranker = reranker
        self.rerank_candidates = rerank_candidates
        self.normalize = bool(manifest["embedding"].get("normalize", True))
        # FAISS filters by allowed row numbers; pgvector by a jsonb containment in SQL.
        self.filters_by_rows = (manifest.get("engine") or {}).get("type", "faiss") != "pgvector"
        self._allowed: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, index_dir: Path, root: Path, device: str | None = "auto", rerank: Any = None) -> Retriever:
        """Open an index folder; `rerank` is a prompt's `retrieval.rerank` (dict or model) or None."""
        index_dir = Path(index_dir)
        manifest = read_manifest(index_dir)
        chunks = read_chunks(index_dir, manifest)
        embedding = manifest["embedding"]
        try:
            embedder = Embedder.load(
                embedding["model"], root, sha256=embedding.get("files_sha256"), device=device
            )
        except StageFailed as exc:
            raise StageFailed(
                f"index {manifest['name']} ({index_dir}): its embedding model cannot be used for queries: "
                f"{exc}. Queries must be embedded by the model that embedded the chunks; restore that model "
                f"or rebuild the index with `llmops run index-{manifest['name']}`"
            ) from None
        dimensions = int(embedding.get("dimensions") or embedder.dimensions)
        if embedder.dimensions != dimensions:
            raise StageFailed(
                f"index {manifest['name']}: the model gives {embedder.dimensions} dimensions, the index has "
                f"{dimensions}; rebuild the index with `llmops run index-{manifest['name']}`"
            )
        engine = open_engine(manifest, index_dir, chunks)
        reranker, candidates = load_reranker(rerank, root, device)
        return cls(manifest, chunks, embedder, engine, reranker, candidates)

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    def search(
        self, query: str, top_k: int, filters: dict[str, Any] | None = None, min_score: float | None = None
    ) -> list[Passage]:
        """The `top_k` best passages for one query (fewer when filters or `min_score` drop some)."""
        return self.search_many([query], top_k, [filters], min_score)[0]

    def search_many(
        self,
        queries: list[str],
        top_k: int,
        filters_per_query: list[dict[str, Any] | None] | None = None,
        min_score: float | None = None,
    ) -> list[list[Passage]]:
        """One batched encode for all queries, one engine call per distinct filter."""
        if not queries:
            return []
        vectors = self.embedder.encode(list(queries), normalize=self.normalize)
        return self.search_vectors(vectors, top_k, filters_per_query, min_score, queries=list(queries))

    def search_vectors(
        self,
        vectors: np.ndarray,
        top_k: int,
        filters_per_query: list[dict[str, Any] | None] | None = None,
        min_score: float | None = None,
        queries: list[str] | None = None,
    ) -> list[list[Passage]]:
        """Search with precomputed query vectors (what `search_many` does after encoding).
        Reranking needs the query texts: without `queries` it is skipped."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        count = len(vectors)
        filters_per_query = list(filters_per_query) if filters_per_query is not None else [None] * count
        if len(filters_per_query) != count:
            raise ValueError(f"{count} queries but {len(filters_per_query)} filters")
        rerank = self.reranker is not None and queries is not None
        k = max(top_k, self.rerank_candidates) if rerank else top_k
        groups: dict[str, list[int]] = {}
        for i, filters in enumerate(filters_per_query):
            groups.setdefault(filter_key(filters), []).append(i)
        results: list[list[Passage]] = [[] for _ in range(count)]
        for members in groups.values():
            filters = filters_per_query[members[0]]
            allowed = self.allowed_rows(filters) if filters and self.filters_by_rows else None
            scores, rows = self.engine.search(vectors[members], k, allowed=allowed, filters=filters or None)
            for i, row_scores, row_ids in zip(members, scores, rows, strict=True):
                results[i] = self._passages(row_scores, row_ids, min_score)
        if rerank:
            results = [
                self._rerank(query, found, top_k) for query, found in zip(queries or [], results, strict=True)
            ]
        return [found[:top_k] for found in results]

    def allowed_rows(self, filters: dict[str, Any]) -> np.ndarray:
        """Row numbers whose metadata equals every filter value (cached per distinct filter)."""
        key = filter_key(filters)
        with self._lock:
            if key in self._allowed:
                self._allowed.move_to_end(key)
                return self._allowed[key]
        items = list(filters.items())
        rows = np.fromiter(
            (i for i, c in enumerate(self.chunks) if all(_meta(c, k) == v for k, v in items)), dtype=np.int64
        )
        with self._lock:
            self._allowed[key] = rows
            while len(self._allowed) > ALLOWED_CACHE:
                self._allowed.popitem(last=False)
        return rows

    def _passages(self, scores: np.ndarray, rows: np.ndarray, min_score: float | None) -> list[Passage]:
        found = []
        for score, row in zip(scores.tolist(), rows.tolist(), strict=True):
            if row < 0 or row >= len(self.chunks):
                continue
            if min_score is not None and score < min_score:
                continue
            c = self.chunks[row]
            found.append(
                Passage(
                    id=str(c["id"]),
                    doc_id=str(c.get("doc_id", "")),
                    text=str(c.get("text", "")),
                    score=round(float(score), 6),
                    source=str(c.get("source", "")),
                    title=str(c.get("title") or ""),
                    metadata=dict(c.get("metadata") or {}),
                    row=int(row),
                    heading=c.get("heading"),
                )
            )
        return found

    def _rerank(self, query: str, found: list[Passage], top_k: int) -> list[Passage]:
        if not found:
            return found
        scores = self.reranker.predict([(query, p.text) for p in found], show_progress_bar=False)
        ranked = sorted(
            zip(
                np.asarray(scores, dtype=np.float64).reshape(len(found), -1)[:, 0].tolist(),
                found,
                strict=True,
            ),
            key=lambda pair: -pair[0],
        )
        return [_with_score(p, s) for s, p in ranked[:top_k]]

    def close(self) -> None:
        self.engine.close()


def _meta(chunk: dict[str, Any], key: str) -> Any:
    """Filters look at `metadata` only, as pgvector's `metadata @> filters` does."""
    return (chunk.get("metadata") or {}).get(key, _MISSING)


_MISSING = object()


def _with_score(p: Passage, score: float) -> Passage:
    return Passage(
        p.id, p.doc_id, p.text, round(float(score), 6), p.source, p.title, p.metadata, p.row, p.heading
    )


def load_reranker(rerank: Any, root: Path, device: str | None) -> tuple[Any, int]:
    """A sentence-transformers CrossEncoder from a checked folder (safetensors, no remote code),
    and how many candidates it reorders; `(None, 0)` without `rerank`."""
    if not rerank:
        return None, 0
    get = rerank.get if isinstance(rerank, dict) else lambda key: getattr(rerank, key, None)
    model, candidates = get("model"), int(get("candidates") or 20)
    from llmops.retrieval.embedding import (
        check_pins,
        check_weights,
        folder_hashes,
        pick_device,
        resolve_folder,
    )

    folder = resolve_folder(model, root, "retrieval.rerank.model")
    hashes = folder_hashes(folder)
    check_weights(folder, hashes, "retrieval.rerank.model")
    check_pins(folder, hashes, get("sha256"), "retrieval.rerank")
    from sentence_transformers import CrossEncoder

    try:
        encoder = CrossEncoder(
            str(folder),
            device=pick_device(device),
            trust_remote_code=False,
            local_files_only=True,
            model_kwargs={"use_safetensors": True},
        )
    except (OSError, ValueError) as exc:
        raise StageFailed(f"retrieval.rerank.model {folder}: not a loadable CrossEncoder ({exc})") from None
    return encoder, candidates
