"""Paths a spec names stay inside the project, after following symlinks.

A spec names files by paths relative to the project root (the folder of llmops.yaml), and the
compiler refuses absolute paths and `..` (`RelPath`). A symlink can still lead out: a source
`data/a.jsonl` that links to `~/.ssh/id_rsa` would be read into the splits and into the
git-tracked data report, and an `artifacts/` that links elsewhere would make a stage write
there. So everything that reads a file a spec names (sources, templates, custom metric modules)
or writes a stage's outputs asks `inside()` first: the path is resolved, symlinks followed,
and refused unless it is still under the resolved project root. The refusal names the path,
where it leads and the fix; it is exit 2 (bad input), and nothing has been read or written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from llmops.errors import LlmopsError


class PathOutsideProject(LlmopsError):
    """A path a spec names leads outside the project, through a symlink or otherwise."""

    exit_code = 2


READ_FIX = "replace it with a copy of what it points to (a DVC-tracked folder keeps large data out of git)"
WRITE_FIX = (
    "remove the symlink and let the stage make the folder; DVC's cache and remote keep large "
    "outputs out of git"
)


def inside(root: Path, rel: str | Path, what: str, fix: str = READ_FIX) -> Path:
    """`root / rel`, refused unless it resolves (symlinks followed) to a place under `root`.

    `rel` need not exist (an output about to be written): its existing part is resolved, so a
    symlinked parent folder counts. `what` names the path in the error, as the spec calls it
    (`source`, `template_file`, `output`). Returns the unresolved path, so messages and
    relative names built from it stay as the user wrote them.
    """
    path = Path(root) / rel
    base = Path(root).resolve()
    if Path(rel).is_absolute():
        raise PathOutsideProject(
            f"{what}: {rel} is an absolute path; name it relative to the project root {base}"
        )
    target = path.resolve()
    if not target.is_relative_to(base):
        raise PathOutsideProject(
            f"{what} leads outside the project: {Path(rel).as_posix()} resolves to {target}, "
            f"which is not under {base}; "
            f"{_link(Path(root), path, base)}{fix}"
        )
    return path


def inside_tree(root: Path, folder: Path, what: str) -> None:
    """Refuse a folder with any file or folder in it that leads outside the project (a library
    such as `datasets` reads a whole folder, following the symlinks in it)."""
    inside(root, _rel(root, folder), what)
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in (*dirnames, *filenames):
            entry = Path(dirpath) / name
            if entry.is_symlink():
                inside(root, _rel(root, entry), what)


def inside_all(root: Path, paths: Iterable[str], what: str, fix: str = WRITE_FIX) -> None:
    """`inside()` for each path; what a stage calls on its outputs before it writes any."""
    for rel in paths:
        inside(root, rel, what, fix)


def _rel(root: Path, path: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _link(root: Path, path: Path, base: Path) -> str:
    """Which link leads out (the outermost one), when one is the cause."""
    below = [p for p in (path, *path.parents) if p != root and p.is_relative_to(root)]
    links = [p for p in reversed(below) if p.is_symlink() and not p.resolve().is_relative_to(base)]
    return f"the symlink {_rel(root, links[0])} points out of it; " if links else ""
