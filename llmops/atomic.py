"""Atomic file and folder replacement, so an interrupted write never leaves half a file behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over the target."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_many(files: Mapping[Path, bytes]) -> None:
    """Replace many files, each atomically, for the price of far fewer disk flushes.

    Every file is written to a temporary file in its folder first; then all of them are
    flushed to disk (in parallel, which lets the file system commit them together), renamed
    over their targets in the given order, and each folder is flushed once. After a crash at
    any point each target holds its old content or its new one, never a part; an exception
    (an interrupt included) removes the temporary files not yet renamed, leaving the targets
    renamed so far new and the others as they were.
    """
    staged: list[tuple[str, Path]] = []  # (temporary file, target) in the order given
    handles: list[int] = []
    folders: dict[Path, None] = {}
    done = 0
    try:
        for path, data in files.items():
            folder = path.parent
            if folder not in folders:
                folders.update(dict.fromkeys(_make_dirs(folder)))
                folders[folder] = None
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
            handles.append(fd)
            staged.append((tmp, path))
            try:
                mode = stat.S_IMODE(os.stat(path).st_mode)
            except FileNotFoundError:
                mode = 0o644
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        _fsync_all(handles)
        for fd in handles:
            os.close(fd)
        handles.clear()
        for tmp, path in staged:
            os.replace(tmp, path)
            done += 1
    except BaseException:
        for fd in handles:
            with contextlib.suppress(OSError):
                os.close(fd)
        for tmp, _ in staged[done:]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    for folder in folders:
        _fsync_dir(folder)


def _make_dirs(folder: Path) -> list[Path]:
    """Create folder and its missing parents; returns the parents whose entries changed."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return [path.parent for path in reversed(missing)]


def _fsync_all(handles: list[int]) -> None:
    """fsync every file; a few threads at a time, so their journal commits are shared."""
    if len(handles) < 4:
        for fd in handles:
            os.fsync(fd)
        return
    todo = list(reversed(handles))
    failed: list[BaseException] = []

    def work() -> None:
        try:
            while todo:
                os.fsync(todo.pop())
        except IndexError:
            pass
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(16, len(handles)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise failed[0]


@contextlib.contextmanager
def replace_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh sibling folder to fill; on success it takes the target's place.

    On any exception the half-filled folder is removed and the previous target stays as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staging.chmod(0o755)
    try:
        yield staging
        for root, _dirs, files in os.walk(staging):
            for name in files:
                with open(os.path.join(root, name), "rb") as handle:
                    os.fsync(handle.fileno())
        old = None
        if target.exists() or target.is_symlink():
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                _remove(old)
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            _remove(old)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
