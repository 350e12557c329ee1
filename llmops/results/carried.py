"""What a pull request carries of the results, against what CI computed: the difference between
the commit checked out (HEAD) and the result files in the working folder, as a git patch.

dvc.lock is compared by content, not by text: DVC and llmops may order or wrap the same entries
differently, and a contributor whose results equal CI's must find CI changing nothing. When only
the text differs, the committed text is put back so the patch leaves dvc.lock alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from llmops.atomic import write_text
from llmops.errors import UsageError
from llmops.gitrepo import blob_text, open_repo
from llmops.results.pipeline import LOCK_FILE, PipelineStage, read_lock, result_paths


def carried_difference(root: Path, stages: list[PipelineStage]) -> tuple[list[str], bytes]:
    """(changed result paths, binary git patch from HEAD to the working folder)."""
    head = _head_tree(root)
    _settle_lock(root, head)
    paths = [p for p in result_paths(stages) if (root / p).exists() or _in_tree(head, p)]
    if not paths:
        return [], b""
    present = [p for p in paths if (root / p).exists()]
    if present:
        _git(root, "add", "--intent-to-add", "--", *present)
    names = _git(root, "diff", "--name-only", "HEAD", "--", *paths).decode("utf-8").split("\n")
    patch = _git(root, "diff", "--binary", "HEAD", "--", *paths)
    return [n for n in names if n], patch


def _settle_lock(root: Path, head: tuple[Any, str]) -> None:
    """Put the committed dvc.lock text back when its content equals the working one."""
    tree, prefix = head
    committed = blob_text(tree, prefix + LOCK_FILE)
    path = root / LOCK_FILE
    if committed is None or not path.is_file():
        return
    work = path.read_text(encoding="utf-8")
    if work != committed and read_lock(work) == read_lock(committed):
        write_text(path, committed)


def _head_tree(root: Path) -> tuple[Any, str]:
    """(HEAD's tree, the project's folder in it): what the commit checked out carries."""
    repo, prefix = open_repo(root, "results are compared with the commit checked out")
    try:
        return repo.head.commit.tree, prefix
    except ValueError as exc:  # no commit yet
        raise UsageError(f"{root}: the repository has no commit to compare the results with") from exc


def _in_tree(head: tuple[Any, str], rel: str) -> bool:
    tree, prefix = head
    try:
        tree / (prefix + rel)
    except KeyError:
        return False
    return True


def _git(root: Path, *args: str) -> bytes:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    if proc.returncode != 0:
        raise UsageError(f"git {args[0]} failed in {root}: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout
