"""The files of one commit, or of a working folder, as `freshness` reads them: bytes and DVC 3
hashes by path relative to the project root, each path hashed once. A gitpython tree and a
folder on disk answer the same questions, so one check judges a commit and a checkout alike."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any, Protocol

from llmops.gitrepo import blob_bytes
from llmops.results.dvchash import md5_in_tree, md5_on_disk


class CommitFiles(Protocol):
    """The files of one commit (or of a working folder), by posix path relative to the project
    root (where dvc.yaml is). Implementations remember hashes: each path is hashed once."""

    where: str  # "at the commit", "on disk": how messages place a file

    def read(self, path: str) -> bytes | None:
        """A file's bytes; None when there is no file at `path`."""
        ...

    def dvc_md5(self, path: str) -> str | None:
        """DVC 3's hash of the file or folder at `path` (`<md5>.dir` for a folder); None when
        there is nothing there."""
        ...


class TreeFiles:
    """A commit's files through its gitpython tree; `prefix` is the project's folder in the
    repository ("" when dvc.yaml is at the root)."""

    where = "at the commit"

    def __init__(self, tree: Any, prefix: str = "") -> None:
        self._tree = tree
        self._prefix = _norm(prefix) if prefix.strip("/.") else ""
        self._hashes: dict[str, str | None] = {}
        self._blobs: dict[bytes, str] = {}

    def read(self, path: str) -> bytes | None:
        full = self._full(path)
        if full is None:
            return None
        return blob_bytes(self._tree, full)

    def dvc_md5(self, path: str) -> str | None:
        full = self._full(path)
        if full is None:
            return None
        if full not in self._hashes:
            self._hashes[full] = md5_in_tree(self._tree, full, self._blobs)
        return self._hashes[full]

    def _full(self, path: str) -> str | None:
        rel = _inside(path)
        if rel is None:
            return None
        return posixpath.join(self._prefix, rel) if self._prefix else rel


class DiskFiles:
    """A working folder's files; `root` is the project folder (where dvc.yaml is). Paths that
    leave it read as missing, as they would in a commit."""

    where = "on disk"

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._hashes: dict[str, str | None] = {}
        self._files: dict[str, str] = {}

    def read(self, path: str) -> bytes | None:
        rel = _inside(path)
        if rel is None:
            return None
        target = self._root / rel
        return target.read_bytes() if target.is_file() else None

    def dvc_md5(self, path: str) -> str | None:
        rel = _inside(path)
        if rel is None:
            return None
        if rel not in self._hashes:
            self._hashes[rel] = md5_on_disk(self._root / rel, self._files)
        return self._hashes[rel]


def _norm(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/"))


def _inside(path: str) -> str | None:
    """`path` normalised, or None when it leaves the project (absolute, or through `..`)."""
    rel = _norm(path)
    if rel.startswith("/") or rel == ".." or rel.startswith("../"):
        return None
    return rel
