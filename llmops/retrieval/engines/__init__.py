"""Vector engines behind one interface: FAISS embedded in the index folder, or pgvector in a server.

The index runner calls `build_engine` once per build; every reader calls `open_engine` with the
folder's manifest. Both engines answer `search(vectors, k, allowed, filters)` with scores where
higher is better (cosine similarity, inner product, or minus the L2 distance) and chunk row
numbers, padded with -1 when fewer than k rows qualify, so the retriever above them does not
care which engine holds the vectors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from llmops.errors import StageFailed


@dataclass(frozen=True)
class EngineSpec:
    """The spec's `engine` block, flat, from a spec model, its JSON (a manifest's `engine`), a
    plain object or None; what is unset takes the spec model's defaults (they live only there)."""

    type: str
    index: str
    metric: str
    m: int
    ef_construction: int
    ef_search: int
    dsn_env: str | None
    table: str | None

    @classmethod
    def of(cls, spec: Any) -> EngineSpec:
        from pydantic import ValidationError

        from llmops.compiler.kinds.knowledge_index import IndexEngine

        if isinstance(spec, EngineSpec):
            return spec
        data = _as_dict(spec)
        hnsw = _as_dict(data.get("hnsw"))
        hnsw.update({k: data.pop(k) for k in ("m", "ef_construction", "ef_search") if k in data})
        data["hnsw"] = hnsw
        data = {k: v for k, v in data.items() if v is not None}
        try:
            model = spec if isinstance(spec, IndexEngine) else IndexEngine.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in ("engine", *first["loc"]))
            raise StageFailed(f"{where}: {first['msg']}") from None
        return cls(
            type=model.type,
            index=model.index,
            metric=model.metric,
            m=model.hnsw.m,
            ef_construction=model.hnsw.ef_construction,
            ef_search=model.hnsw.ef_search,
            dsn_env=model.dsn_env,
            table=model.table,
        )

    def as_json(self) -> dict[str, Any]:
        """The manifest's `engine` entry (the spec as JSON, hnsw nested as in the spec)."""
        data = asdict(self)
        hnsw = {k: data.pop(k) for k in ("m", "ef_construction", "ef_search")}
        return {**data, "hnsw": hnsw}


class Engine(Protocol):
    """What the retriever asks of a vector engine."""

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        filters: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """`(scores [q, k] float32, rows [q, k] int64)`, best first, -1 padded. `allowed` (row
        numbers, FAISS) or `filters` (metadata equality, pgvector) restrict the rows."""
        ...

    def close(self) -> None: ...


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "model_dump"):
        return dict(value.model_dump())
    return dict(value) if isinstance(value, dict) else dict(vars(value))


def build_engine(
    engine_spec: Any, vectors: np.ndarray, chunks: list[dict[str, Any]], out_dir: Path, index_name: str
) -> dict[str, Any]:
    """Build the engine for these vectors (row i = chunk i); returns extra manifest facts:
    `{"engine": <spec as JSON>, "engine_state": {...}}` to merge into the manifest."""
    spec = EngineSpec.of(engine_spec)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(chunks):
        raise StageFailed(f"index {index_name}: {len(chunks)} chunks but vectors of shape {vectors.shape}")
    if spec.type == "pgvector":
        from llmops.retrieval.engines.pgvector_engine import build

        state = build(spec, vectors, chunks, index_name)
    else:
        from llmops.retrieval.engines.faiss_engine import build

        state = build(spec, vectors, Path(out_dir))
    return {"engine": spec.as_json(), "engine_state": state}


def open_engine(
    manifest: dict[str, Any], index_dir: Path, chunks: list[dict[str, Any]] | None = None
) -> Engine:
    """Open the engine a manifest describes. `chunks` (the folder's, if already read) maps
    pgvector's ids back to rows; FAISS reads `faiss.index` and `embeddings.npy` from the folder."""
    spec = EngineSpec.of(manifest["engine"])
    if spec.type == "pgvector":
        from llmops.retrieval.engines.pgvector_engine import PgvectorEngine

        if chunks is None:
            from llmops.retrieval.manifest import read_chunks

            chunks = read_chunks(index_dir, manifest)
        return PgvectorEngine.open(spec, manifest, chunks)
    from llmops.retrieval.engines.faiss_engine import FaissEngine

    return FaissEngine.open(spec, manifest, Path(index_dir))


def table_name(spec: EngineSpec, index_name: str) -> str:
    """The pgvector table: the spec's, else `llmops_kb_<name>` (`-` and `.` as `_`)."""
    return spec.table or "llmops_kb_" + index_name.replace("-", "_").replace(".", "_").lower()
