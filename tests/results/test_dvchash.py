"""dvchash against what real DVC writes into dvc.lock (the project of conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import git
import pytest
from ruamel.yaml import YAML

from llmops.results import dvchash
from llmops.results.dvchash import dir_md5, file_md5, md5_in_tree, md5_on_disk

PREFIX = "proj"
CACHED = {"prepared", "model.bin"}  # DVC keeps these out of git


def _lock_hashes(root: Path) -> dict[str, str]:
    """path -> md5 of every dep and out in dvc.lock (a path in several entries has one hash)."""
    doc = YAML(typ="safe").load((root / "dvc.lock").read_text())
    found: dict[str, str] = {}
    for entry in doc["stages"].values():
        for item in [*entry["deps"], *entry["outs"]]:
            assert item["hash"] == "md5"
            assert found.setdefault(item["path"], item["md5"]) == item["md5"]
    return found


@pytest.mark.slow
def test_the_project_covers_files_folders_cached_and_uncached(built_repo: Path) -> None:
    hashes = _lock_hashes(built_repo / PREFIX)
    assert set(hashes) == {
        "data",
        "prepared",
        "extra.txt",
        "metrics/prepare.json",
        "metrics/train.json",
        "model.bin",
        "plots/train",
    }
    assert {p for p, h in hashes.items() if h.endswith(".dir")} == {"data", "prepared", "plots/train"}


@pytest.mark.slow
def test_file_md5_is_dvcs_hash_of_a_file(built_repo: Path) -> None:
    root = built_repo / PREFIX
    for path, md5 in _lock_hashes(root).items():
        if not md5.endswith(".dir"):
            assert file_md5((root / path).read_bytes()) == md5, path


@pytest.mark.slow
def test_dir_md5_is_dvcs_hash_of_a_folder_listing(built_repo: Path) -> None:
    """Sorted by the relative path as a string (`a-b.txt` < `a.txt` < `a/b.txt`), JSON with
    ASCII escapes for `été.txt`, an empty file, CRLF bytes hashed as they are (DVC 3)."""
    root = built_repo / PREFIX
    hashes = _lock_hashes(root)
    for folder in ("data", "prepared", "plots/train"):
        pairs = [
            (full.relative_to(root / folder).as_posix(), file_md5(full.read_bytes()))
            for full in (root / folder).rglob("*")
            if full.is_file()
        ]
        assert dir_md5(pairs) == hashes[folder], folder
        assert dir_md5(reversed(pairs)) == hashes[folder]  # the order given does not matter


@pytest.mark.slow
def test_md5_on_disk_is_dvcs_hash_of_every_dep_and_out(built_repo: Path) -> None:
    root = built_repo / PREFIX
    for path, md5 in _lock_hashes(root).items():
        assert md5_on_disk(root / path) == md5, path
    assert md5_on_disk(root / "no-such-file") is None


@pytest.mark.slow
def test_md5_in_tree_is_dvcs_hash_of_what_git_holds(built_repo: Path) -> None:
    tree = git.Repo(built_repo).head.commit.tree
    for path, md5 in _lock_hashes(built_repo / PREFIX).items():
        expected = None if path in CACHED else md5
        assert md5_in_tree(tree, f"{PREFIX}/{path}") == expected, path


@pytest.fixture
def twin_repo(tmp_path: Path) -> git.Repo:
    """A folder holding the same bytes twice, next to a copy of it: four paths, one content."""
    for rel in ("d/x.txt", "d/y.txt", "e/x.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"same\n")
    repo = git.Repo.init(tmp_path)
    repo.index.add(["d/x.txt", "d/y.txt", "e/x.txt"])
    author = git.Actor("t", "t@example.com")
    repo.index.commit("twins", author=author, committer=author)
    return repo


def test_md5_in_tree_reads_each_blob_once_with_a_cache(twin_repo: git.Repo, monkeypatch) -> None:
    reads: list[int] = []
    real = dvchash.file_md5
    monkeypatch.setattr(dvchash, "file_md5", lambda data: reads.append(len(data)) or real(data))
    tree = twin_repo.head.commit.tree
    cache: dict[bytes, str] = {}
    folder = md5_in_tree(tree, "d", cache)
    assert md5_in_tree(tree, "d/x.txt", cache) == real(b"same\n")
    assert md5_in_tree(tree, "e", cache) is not None
    assert reads.count(len(b"same\n")) == 1  # one blob read; the rest come from the memo
    assert folder == md5_in_tree(tree, "d")  # the same hash without a cache


def test_md5_on_disk_reads_each_file_once_with_a_cache(twin_repo: git.Repo, monkeypatch) -> None:
    root = Path(twin_repo.working_tree_dir)
    opened: list[str] = []
    real = dvchash._file_md5
    monkeypatch.setattr(dvchash, "_file_md5", lambda path: opened.append(str(path)) or real(path))
    cache: dict[str, str] = {}
    folder = md5_on_disk(root / "d", cache)
    md5_on_disk(root / "d" / "x.txt", cache)
    md5_on_disk(root / "d", cache)
    assert sorted(os.path.basename(p) for p in opened) == ["x.txt", "y.txt"]
    assert folder == md5_on_disk(root / "d")
