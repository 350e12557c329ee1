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


def md5_on_disk(path: Path) -> str | None:
    """A file's or folder's DVC hash as it is on disk; None when the path does not exist.
    Symbolic links are followed as DVC follows them; `.git` and `.dvc` folders are skipped."""
    if path.is_file():
        return _file_md5(path)
    if not path.is_dir():
        return None
    pairs = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d not in (".git", ".dvc")]
        for name in names:
            full = Path(folder) / name
            pairs.append((full.relative_to(path).as_posix(), _file_md5(full)))
    return dir_md5(pairs)


def md5_in_tree(tree, path: str) -> str | None:
    """A file's or folder's DVC hash inside a git tree (gitpython); None when it is not there."""
    try:
        item = tree / path
    except KeyError:
        return None
    if item.type == "blob":
        return file_md5(item.data_stream.read())
    if item.type != "tree":
        return None
    pairs = [
        (blob.path[len(item.path) + 1 :], file_md5(blob.data_stream.read()))
        for blob in item.traverse()
        if blob.type == "blob"
    ]
    return dir_md5(pairs)


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
