"""FAISS, embedded: the index is a file in the index folder, searched in-process.

Cosine is inner product on L2-normalized vectors (normalized here whatever the embedder did,
so the metric means what it says). Filters come as the allowed row numbers, searched with an
`IDSelectorBatch` (cached per filter): few rows by an exact scan of the index's flat storage
(HNSW with a very selective filter would return fewer than k neighbours), many through HNSW.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from llmops.errors import StageFailed
from llmops.hashing import file_sha256
from llmops.retrieval.engines import EngineSpec
from llmops.retrieval.manifest import IndexFiles

EXACT_BELOW = 4096  # allowed rows up to which a filtered HNSW search is an exact scan
PARAMS_CACHE = 64  # selectors kept: building one hashes every allowed row


def make_index(spec: EngineSpec, dimensions: int) -> Any:
    """An empty FAISS index for the spec (flat or HNSW; IP for cosine/ip, L2 for l2)."""
    import faiss

    metric = faiss.METRIC_L2 if spec.metric == "l2" else faiss.METRIC_INNER_PRODUCT
    if spec.index == "flat":
        return faiss.IndexFlat(dimensions, metric)
    index = faiss.IndexHNSWFlat(dimensions, spec.m, metric)
    index.hnsw.efConstruction = spec.ef_construction
    index.hnsw.efSearch = spec.ef_search
    return index


def prepare(spec: EngineSpec, vectors: np.ndarray) -> np.ndarray:
    """float32 C-order vectors, L2-normalized for cosine (a copy; zero vectors stay zero)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if spec.metric != "cosine":
        return vectors
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def to_scores(spec: EngineSpec, distances: np.ndarray) -> np.ndarray:
    """Higher is better: similarity for cosine/ip, minus the L2 distance for l2."""
    if spec.metric == "l2":
        return -np.sqrt(np.maximum(distances, 0.0))
    return distances


def build(spec: EngineSpec, vectors: np.ndarray, out_dir: Path) -> dict[str, Any]:
    """Write `faiss.index` (ids = row numbers) into `out_dir`; returns the manifest facts."""
    import faiss

    index = make_index(spec, vectors.shape[1])
    if len(vectors):
        index.add(prepare(spec, vectors))
    path = IndexFiles(Path(out_dir)).faiss
    path.parent.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(path))
    return {
        "faiss_version": faiss.__version__,
        "ntotal": int(index.ntotal),
        "index_sha256": file_sha256(path),
    }


class FaissEngine:
    """A loaded FAISS index; its stored vectors also serve the exact filtered search."""

    def __init__(self, spec: EngineSpec, index: Any) -> None:
        self.spec = spec
        self.index = index
        self._lock = threading.Lock()
        # id(allowed) -> (allowed, params): the array is kept, so its id cannot be reused while
        # cached; the retriever passes the same array for the same filter (its own cache).
        self._params_cache: OrderedDict[int, tuple[np.ndarray, Any]] = OrderedDict()

    @classmethod
    def open(cls, spec: EngineSpec, manifest: dict[str, Any], folder: Path) -> FaissEngine:
        import faiss

        path = IndexFiles(folder).faiss
        if not path.is_file():
            raise StageFailed(
                f"{path}: missing; rebuild the index with `llmops run index-{manifest['name']}`"
            )
        expected = (manifest.get("engine_state") or {}).get("index_sha256")
        if expected and file_sha256(path) != expected:
            raise StageFailed(
                f"{path}: sha256 differs from the manifest's; the folder mixes files of different runs; "
                f"rebuild it with `llmops run index-{manifest['name']}`"
            )
        index = faiss.read_index(str(path))
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = spec.ef_search
        if index.ntotal != manifest["chunks"]:
            raise StageFailed(
                f"{path}: {index.ntotal} vectors for {manifest['chunks']} chunks; rebuild the index "
                f"with `llmops run index-{manifest['name']}`"
            )
        return cls(spec, index)

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        filters: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = prepare(self.spec, np.atleast_2d(vectors))
        with self._lock:  # keep FAISS calls (multithreaded inside) and the cache serial
            if allowed is None:
                distances, rows = self.index.search(queries, k)
            else:
                index, params = self._cached(allowed)
                distances, rows = index.search(queries, k, params=params)
        scores = to_scores(self.spec, distances).astype(np.float32)
        scores[rows < 0] = -np.inf
        return scores, rows.astype(np.int64)

    def _cached(self, allowed: np.ndarray) -> tuple[Any, Any]:
        """(index to search, its parameters) for these allowed rows, cached per array."""
        hit = self._params_cache.get(id(allowed))
        if hit is not None and hit[0] is allowed:
            self._params_cache.move_to_end(id(allowed))
            return hit[1]
        made = self._params(np.asarray(allowed, dtype=np.int64))
        self._params_cache[id(allowed)] = (allowed, made)
        while len(self._params_cache) > PARAMS_CACHE:
            self._params_cache.popitem(last=False)
        return made

    def _params(self, allowed: np.ndarray) -> tuple[Any, Any]:
        """Few rows: the exact scan of the flat storage (HNSW with a very selective filter would
        find fewer than k); many: the index itself. Both skip rows the selector refuses."""
        import faiss

        selector = faiss.IDSelectorBatch(allowed)
        hnsw = isinstance(self.index, faiss.IndexHNSW)
        if hnsw and len(allowed) > EXACT_BELOW:
            index, params = self.index, faiss.SearchParametersHNSW(sel=selector, efSearch=self.spec.ef_search)
        else:
            index = faiss.downcast_index(self.index.storage) if hnsw else self.index
            params = faiss.SearchParameters(sel=selector)
        params._selector_ref = selector  # the SWIG object does not own it: keep it alive
        return index, params

    def close(self) -> None:
        self.index = None
