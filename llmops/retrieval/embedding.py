"""Load an embedding model only after proving it is the model the spec pinned.

An index is only as good as the agreement between the model that embedded its chunks and the
model that embeds the queries. So the model folder is hashed file by file before anything loads
it: the spec's `sha256` pins are checked first (a mismatch names the file, the expected and the
actual hash), the index records every file's hash, and a retriever opening the index pins all of
them. Loading never runs code from the folder (`trust_remote_code=False`), never fetches
(local files only; hub models resolve through the local cache, see `llmops.hf.hub`) and reads
safetensors only: a folder with pickled weights only (`.bin`, `.pt`) is refused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llmops.errors import StageFailed
from llmops.hashing import file_sha256
from llmops.paths import inside

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def model_ref(model: Any) -> dict[str, str]:
    """`{"path": ...}` or `{"hub": ..., "revision": ...}` from a dict or a spec model."""
    if model is None:
        raise StageFailed(
            "embedding.model: missing; give {path: <folder>} or {hub: owner/name, revision: <commit>}"
        )
    get = model.get if isinstance(model, dict) else lambda key: getattr(model, key, None)
    path, hub, revision = get("path"), get("hub"), get("revision")
    if path:
        return {"path": Path(path).as_posix()}
    if hub:
        if not revision:
            raise StageFailed(
                f"embedding.model.hub {hub}: needs a `revision` (a commit) so the index is reproducible"
            )
        return {"hub": str(hub), "revision": str(revision)}
    raise StageFailed("embedding.model: give {path: <folder>} or {hub: owner/name, revision: <commit>}")


def resolve_folder(model: Any, root: Path, what: str = "embedding.model") -> Path:
    """The local folder of a model reference: a project path, or the hub cache's snapshot."""
    ref = model_ref(model)
    if "path" in ref:
        folder = inside(Path(root), ref["path"], f"{what}.path")
        if not folder.is_dir():
            raise StageFailed(
                f"{what}.path {ref['path']}: no such folder under {root}; save a sentence-transformers "
                "model there (`SentenceTransformer(...).save(folder)`) or use {hub, revision}"
            )
        return folder
    from llmops.hf.hub import cache_first

    def load(local_only: bool) -> Path:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(ref["hub"], revision=ref["revision"], local_files_only=local_only))

    return cache_first(load, ref["hub"], ref["revision"], "model")


def folder_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under the folder, by POSIX path relative to it (sorted)."""
    hashes: dict[str, str] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and ".cache" not in path.relative_to(folder).parts:
            hashes[path.relative_to(folder).as_posix()] = file_sha256(path)
    return hashes


def check_weights(folder: Path, hashes: dict[str, str], what: str) -> None:
    """Refuse a folder without safetensors weights: pickled weights can run code when loaded."""
    if any(name.endswith(".safetensors") for name in hashes):
        return
    pickled = sorted(name for name in hashes if name.endswith(PICKLE_SUFFIXES))
    found = (
        f"it has only pickled weights ({', '.join(pickled)}), which can run code when loaded"
        if pickled
        else ("it has no weights file")
    )
    raise StageFailed(
        f"{what} {folder}: no .safetensors weights; {found}. Convert it: load it once in a trusted "
        "environment and save it with `model.save(folder, safe_serialization=True)`"
    )


def check_pins(folder: Path, hashes: dict[str, str], pins: dict[str, str] | None, what: str) -> None:
    """Every pinned file exists and has the pinned sha256; checked before anything loads."""
    for name, expected in sorted((pins or {}).items()):
        actual = hashes.get(Path(name).as_posix())
        if actual is None:
            raise StageFailed(
                f"{what}.sha256: {name} is pinned but not in the model folder {folder}; "
                "fix the file name (relative to the folder) or remove the pin"
            )
        if actual != str(expected).lower():
            raise StageFailed(
                f"{what}.sha256: {folder / name} has sha256 {actual}, the spec pins {expected}; the model "
                "changed: restore the pinned file, or update the pin after checking the new model"
            )


def pick_device(device: str | None) -> str:
    """`auto` is cuda when torch sees a GPU, else cpu."""
    if device in (None, "", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


@dataclass
class Embedder:
    """A sentence-transformers model, loaded from a checked folder; thread-safe `encode`."""

    model: Any
    ref: dict[str, str]
    folder: Path
    files_sha256: dict[str, str]
    device: str
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(
        cls, model: Any, root: Path, sha256: dict[str, str] | None = None, device: str | None = "auto"
    ) -> Embedder:
        """Resolve, hash, check (weights format and pins), then load with no remote code."""
        ref = model_ref(model)
        folder = resolve_folder(model, root)
        hashes = folder_hashes(folder)
        check_weights(folder, hashes, "embedding.model")
        check_pins(folder, hashes, sha256, "embedding")
        from sentence_transformers import SentenceTransformer

        chosen = pick_device(device)
        try:
            st = SentenceTransformer(
                str(folder),
                device=chosen,
                trust_remote_code=False,
                local_files_only=True,
                model_kwargs={"use_safetensors": True},
            )
        except (OSError, ValueError) as exc:
            raise StageFailed(
                f"embedding.model {folder}: not a loadable sentence-transformers model ({exc}); save one "
                "with `SentenceTransformer(...).save(folder, safe_serialization=True)`"
            ) from None
        return cls(model=st, ref=ref, folder=folder, files_sha256=hashes, device=chosen)

    @property
    def dimensions(self) -> int:
        get = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(get())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of `text`, without specials and without truncation
        (chunking sizes chunks with it; the model itself truncates at `max_seq_length`)."""
        tokenizer = self.model.tokenizer
        return len(tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def encode(
        self, texts: list[str], batch_size: int = 64, normalize: bool = True, progress: bool = False
    ) -> np.ndarray:
        """float32 `[len(texts), dimensions]`, L2-normalized when `normalize`."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=normalize,
                show_progress_bar=progress,
                convert_to_numpy=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def manifest_facts(self, normalize: bool) -> dict[str, Any]:
        """The manifest's `embedding` entry for an index built with this model."""
        return {
            "model": dict(self.ref),
            "files_sha256": dict(self.files_sha256),
            "dimensions": self.dimensions,
            "normalize": bool(normalize),
            "max_seq_length": self.max_seq_length,
        }
