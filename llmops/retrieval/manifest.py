"""The index folder's files: what the index stage writes and every reader of an index trusts.

An index folder (`artifacts/indexes/<name>/`) is the contract between the index runner that
writes it and the retriever that the prompt, tune and eval runners and the gateway open: row i
of `chunks.jsonl` is row i of `embeddings.npy` and id i of the engine. The manifest records the
hashes of both files, so a reader can refuse a folder whose parts come from different runs
(a half-copied artifact, a hand edit) instead of citing the wrong passage for a vector.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmops.atomic import write_bytes
from llmops.errors import StageFailed
from llmops.hashing import file_sha256

FORMAT = 1
REQUIRED = ("format", "name", "engine", "embedding", "chunks", "chunks_sha256", "vectors_sha256")
REBUILD = "rebuild it with `llmops run index-{name}`"


@dataclass(frozen=True)
class IndexFiles:
    """The paths of an index folder's files (see the module docstring and the issue's contract)."""

    folder: Path

    @property
    def manifest(self) -> Path:
        return Path(self.folder) / "manifest.json"

    @property
    def chunks(self) -> Path:
        return Path(self.folder) / "chunks.jsonl"

    @property
    def vectors(self) -> Path:
        return Path(self.folder) / "embeddings.npy"

    @property
    def faiss(self) -> Path:
        return Path(self.folder) / "faiss.index"


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an index folder, checked for the keys and format this version reads."""
    files = IndexFiles(Path(folder))
    if not files.manifest.is_file():
        raise StageFailed(
            f"{files.manifest}: no index manifest; the index stage has not run here, or its output "
            "was not fetched (`dvc pull` or `llmops run index-<name>`)"
        )
    try:
        manifest = json.loads(files.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StageFailed(f"{files.manifest}: unreadable index manifest ({exc}); rebuild the index") from None
    if not isinstance(manifest, dict):
        raise StageFailed(f"{files.manifest}: an index manifest is a JSON object; rebuild the index")
    missing = [key for key in REQUIRED if key not in manifest]
    name = manifest.get("name", "<name>")
    if missing:
        raise StageFailed(
            f"{files.manifest}: index manifest lacks {', '.join(missing)}; {REBUILD.format(name=name)}"
        )
    if manifest["format"] != FORMAT:
        raise StageFailed(
            f"{files.manifest}: index format {manifest['format']!r}, this llmops reads format {FORMAT}; "
            f"{REBUILD.format(name=name)}"
        )
    return manifest


def chunks_bytes(chunks: list[dict[str, Any]]) -> bytes:
    """`chunks.jsonl` as written: one compact JSON object a line, keys sorted (stable hashes)."""
    return "".join(json.dumps(c, ensure_ascii=False, sort_keys=True) + "\n" for c in chunks).encode()


def vectors_bytes(vectors: np.ndarray) -> bytes:
    """`embeddings.npy` as written: float32, C order, no pickle."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def write_index_files(
    staging_dir: Path, manifest: dict[str, Any], chunks: list[dict[str, Any]], vectors: np.ndarray
) -> dict[str, Any]:
    """Write chunks, vectors and the manifest into `staging_dir` (a `replace_dir` folder).

    Fills the manifest's `format`, `chunks`, `chunks_sha256` and `vectors_sha256` from what is
    written, so they cannot disagree with the files, and returns the manifest as written. The
    engine's files (`build_engine`) go to the same folder, before or after.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(chunks):
        raise StageFailed(
            f"index {manifest.get('name')}: {len(chunks)} chunks but vectors of shape {vectors.shape}; "
            "each chunk needs exactly one vector (a bug in the index runner)"
        )
    files = IndexFiles(Path(staging_dir))
    chunk_data = chunks_bytes(chunks)
    vector_data = vectors_bytes(vectors)
    written = {
        **manifest,
        "format": FORMAT,
        "chunks": len(chunks),
        "chunks_sha256": hashlib.sha256(chunk_data).hexdigest(),
        "vectors_sha256": hashlib.sha256(vector_data).hexdigest(),
    }
    write_bytes(files.chunks, chunk_data)
    write_bytes(files.vectors, vector_data)
    write_bytes(files.manifest, (json.dumps(written, indent=2, sort_keys=True) + "\n").encode())
    return written


def read_chunks(folder: Path, manifest: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chunks, row i for vector i; checked against the manifest's hash when one is given."""
    files = IndexFiles(Path(folder))
    try:
        data = files.chunks.read_bytes()
    except OSError as exc:
        raise StageFailed(
            f"{files.chunks}: cannot read the index's chunks ({exc}); rebuild the index"
        ) from None
    if manifest is not None:
        _check(files.chunks, hashlib.sha256(data).hexdigest(), manifest["chunks_sha256"], manifest)
    chunks = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    if manifest is not None and len(chunks) != manifest["chunks"]:
        raise StageFailed(
            f"{files.chunks}: {len(chunks)} chunks, the manifest says {manifest['chunks']}; "
            f"{REBUILD.format(name=manifest['name'])}"
        )
    return chunks


def load_vectors(folder: Path, manifest: dict[str, Any] | None = None) -> np.ndarray:
    """The float32 `[chunks, dimensions]` matrix; checked against the manifest when given."""
    files = IndexFiles(Path(folder))
    if manifest is not None:
        _check(files.vectors, file_sha256(files.vectors), manifest["vectors_sha256"], manifest)
    try:
        vectors = np.load(files.vectors, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StageFailed(
            f"{files.vectors}: cannot read the index's vectors ({exc}); rebuild the index"
        ) from None
    if vectors.ndim != 2 or vectors.dtype != np.float32:
        raise StageFailed(
            f"{files.vectors}: expected a float32 matrix, found {vectors.dtype} {vectors.shape}"
        )
    if manifest is not None and vectors.shape[0] != manifest["chunks"]:
        raise StageFailed(
            f"{files.vectors}: {vectors.shape[0]} vectors for {manifest['chunks']} chunks; "
            f"{REBUILD.format(name=manifest['name'])}"
        )
    return vectors


def _check(path: Path, actual: str, expected: str, manifest: dict[str, Any]) -> None:
    if actual != expected:
        raise StageFailed(
            f"{path}: sha256 {actual} does not match the manifest's {expected} (the folder mixes "
            f"files of different runs, or was edited); {REBUILD.format(name=manifest['name'])}"
        )
