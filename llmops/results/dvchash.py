"""DVC 3's content hashes (`hash: md5`), computed without DVC: a file's md5, and a folder's
`<md5>.dir`, the md5 of the JSON listing DVC stores for it (`dvc_data.hashfile.tree.Tree`).

Enforcement hashes files inside a git commit, where DVC cannot look, and `llmops results`
computes the keys of stages from files on disk before DVC has run; both must agree with what
`dvc repro` writes into dvc.lock, which `tests/results/test_dvchash.py` checks against DVC.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

DIR_SUFFIX = ".dir"
_CHUNK = 1 << 20


def file_md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def dir_md5(files: Iterable[tuple[str, str]]) -> str:
    """The hash DVC gives a folder from its files' (posix relative path, md5) pairs."""
    listing = sorted(({"md5": md5, "relpath": rel} for rel, md5 in files), key=lambda e: e["relpath"])
    return file_md5(json.dumps(listing, sort_keys=True).encode("utf-8")) + DIR_SUFFIX


def md5_on_disk(path: Path, cache: dict[str, str] | None = None) -> str | None:
    """A file's or folder's DVC hash as it is on disk; None when the path does not exist.
    Symbolic links are followed as DVC follows them; `.git` and `.dvc` folders are skipped.
    `cache` (file path -> md5), shared between calls, reads each file once when the paths
    asked about overlap (a folder and a file inside it)."""
    if path.is_file():
        return _cached_file_md5(path, cache)
    if not path.is_dir():
        return None
    pairs = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d not in (".git", ".dvc")]
        for name in names:
            full = Path(folder) / name
            pairs.append((full.relative_to(path).as_posix(), _cached_file_md5(full, cache)))
    return dir_md5(pairs)


def md5_in_tree(tree, path: str, cache: dict[bytes, str] | None = None) -> str | None:
    """A file's or folder's DVC hash inside a git tree (gitpython); None when it is not there.
    `cache` (blob id -> md5), shared between calls, reads each blob once: a blob's id names
    its content, so the same bytes under another path or in another folder are not read again."""
    try:
        item = tree / path
    except KeyError:
        return None
    if item.type == "blob":
        return _blob_md5(item, cache)
    if item.type != "tree":
        return None
    pairs = [
        (blob.path[len(item.path) + 1 :], _blob_md5(blob, cache))
        for blob in item.traverse()
        if blob.type == "blob"
    ]
    return dir_md5(pairs)


def _blob_md5(blob, cache: dict[bytes, str] | None) -> str:
    if cache is None:
        return file_md5(blob.data_stream.read())
    found = cache.get(blob.binsha)
    if found is None:
        found = cache[blob.binsha] = file_md5(blob.data_stream.read())
    return found


def _cached_file_md5(path: Path, cache: dict[str, str] | None) -> str:
    if cache is None:
        return _file_md5(path)
    key = str(path)
    found = cache.get(key)
    if found is None:
        found = cache[key] = _file_md5(path)
    return found


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
