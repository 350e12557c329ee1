"""The embedding cache: the previous index's vectors, reused for chunks whose text is unchanged.

Embedding is the slow part of building an index, and most edits touch one document. A chunk's
`sha256` is the hash of its text, so a rerun looks each chunk up in the previous output folder
and embeds only the texts it has no vector for. The cache is used only when the previous index
was built by the very same model files (`files_sha256`) with the same normalization, and only
when its files match their manifest: a stale or damaged folder costs a full re-embed, never a
wrong vector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from llmops.errors import LlmopsError


def previous_vectors(folder: Path, embedding: dict[str, Any]) -> tuple[dict[str, np.ndarray], str]:
    """sha256 of chunk text -> its vector in the index at `folder`, and why it is empty if so.

    `embedding` is the manifest's `embedding` entry this run will write.
    """
    from llmops.retrieval.manifest import load_vectors, read_chunks, read_manifest

    if not (Path(folder) / "manifest.json").is_file():
        return {}, "no previous index"
    try:
        manifest = read_manifest(folder)
        before = manifest["embedding"]
        same = all(before.get(k) == embedding[k] for k in ("files_sha256", "normalize", "dimensions"))
        if not same:
            return {}, "the previous index was embedded with another model or setting"
        chunks = read_chunks(folder, manifest)
        vectors = load_vectors(folder, manifest)
    except (LlmopsError, KeyError, TypeError, ValueError, OSError) as exc:
        return {}, f"the previous index is unreadable ({str(exc)[:120]})"
    found: dict[str, np.ndarray] = {}
    for row, chunk in enumerate(chunks):
        digest = chunk.get("sha256") if isinstance(chunk, dict) else None
        if isinstance(digest, str):
            found.setdefault(digest, vectors[row])
    return found, ""


def embed_with_cache(
    texts: list[str],
    digests: list[str],
    cached: dict[str, np.ndarray],
    encode: Any,
    dimensions: int,
) -> tuple[np.ndarray, int, int]:
    """Vectors for `texts` in order: cached ones copied, the rest embedded once per distinct text.

    Returns (vectors, embedded: chunks whose vector was computed, reused: chunks whose vector
    came from the cache). `encode(list[str]) -> float32 [n, dimensions]`.
    """
    vectors = np.zeros((len(texts), dimensions), dtype=np.float32)
    todo: dict[str, int] = {}  # digest -> row in the batch to embed
    batch: list[str] = []
    reused = 0
    for row, (text, digest) in enumerate(zip(texts, digests, strict=True)):
        hit = cached.get(digest)
        if hit is not None:
            vectors[row] = hit
            reused += 1
        elif digest not in todo:
            todo[digest] = len(batch)
            batch.append(text)
    if batch:
        fresh = np.asarray(encode(batch), dtype=np.float32)
        for row, digest in enumerate(digests):
            if digest in todo:
                vectors[row] = fresh[todo[digest]]
    return vectors, len(texts) - reused, reused
