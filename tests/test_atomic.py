"""write_many: many files replaced atomically with one flush pass, never a half-written file."""

from __future__ import annotations

import os
import stat

import pytest

from llmops import atomic


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_writes_new_and_existing_files_keeping_their_mode(tmp_path):
    (tmp_path / "old.txt").write_bytes(b"old")
    (tmp_path / "old.txt").chmod(0o600)
    atomic.write_many(
        {tmp_path / "old.txt": b"new", tmp_path / "a/b/c.json": b"{}", tmp_path / "a/d.json": b"[]"}
    )
    assert _tree(tmp_path) == {"old.txt": b"new", "a/b/c.json": b"{}", "a/d.json": b"[]"}
    assert stat.S_IMODE((tmp_path / "old.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a/b/c.json").stat().st_mode) == 0o644


def test_one_flush_per_file_and_per_folder(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real(fd))
    atomic.write_many({tmp_path / f"s/{i}.json": b"x" * i for i in range(20)})
    # 20 files, their folder, and the folder in which that folder was created
    assert len(calls) == 22
    assert len(_tree(tmp_path)) == 20


def test_interrupted_renames_leave_old_or_new_files_and_no_temporary_ones(tmp_path, monkeypatch):
    files = {tmp_path / f"{i}.txt": f"new {i}".encode() for i in range(6)}
    for path in files:
        path.write_bytes(b"old")
    real = os.replace
    done = []

    def crash_on_third(src, dst):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_many(files)
    after = _tree(tmp_path)
    assert sorted(after) == sorted(p.name for p in files)  # no temporary file left
    assert [after[f"{i}.txt"] for i in range(6)] == [b"new 0", b"new 1"] + [b"old"] * 4


def test_a_failed_flush_changes_nothing(tmp_path, monkeypatch):
    files = {tmp_path / f"{i}.txt": b"new" for i in range(8)}
    for path in files:
        path.write_bytes(b"old")

    def broken(fd):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="I/O error"):
        atomic.write_many(files)
    assert _tree(tmp_path) == {p.name: b"old" for p in files}


def test_nothing_to_write(tmp_path):
    atomic.write_many({})
    assert list(tmp_path.iterdir()) == []
