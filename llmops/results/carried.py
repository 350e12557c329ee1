"""What a pull request carries of the results, against what CI computed: the difference between
the commit checked out (HEAD) and the result files in the working folder, as a git patch.

dvc.lock is compared by content, not by text: DVC and llmops may order or wrap the same entries
differently, and a contributor whose results equal CI's must find CI changing nothing. When only
the text differs, the committed text is put back so the patch leaves dvc.lock alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from llmops.errors import UsageError
from llmops.results.pipeline import LOCK_FILE, PipelineStage, read_lock, result_paths


def carried_difference(root: Path, stages: list[PipelineStage]) -> tuple[list[str], bytes]:
    """(changed result paths, binary git patch from HEAD to the working folder)."""
    _settle_lock(root)
    paths = [p for p in result_paths(stages) if (root / p).exists() or _in_head(root, p)]
    if not paths:
        return [], b""
    present = [p for p in paths if (root / p).exists()]
    if present:
        _git(root, "add", "--intent-to-add", "--", *present)
    names = _git(root, "diff", "--name-only", "HEAD", "--", *paths).decode("utf-8").split("\n")
    patch = _git(root, "diff", "--binary", "HEAD", "--", *paths)
    return [n for n in names if n], patch


def _settle_lock(root: Path) -> None:
    """Put the committed dvc.lock text back when its content equals the working one."""
    head = _head_text(root, LOCK_FILE)
    path = root / LOCK_FILE
    if head is None or not path.is_file():
        return
    work = path.read_text(encoding="utf-8")
    if work != head and read_lock(work) == read_lock(head):
        from llmops.atomic import write_text

        write_text(path, head)


def _head_text(root: Path, rel: str) -> str | None:
    proc = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=root, capture_output=True, check=False)
    return proc.stdout.decode("utf-8") if proc.returncode == 0 else None


def _in_head(root: Path, rel: str) -> bool:
    proc = subprocess.run(
        ["git", "cat-file", "-e", f"HEAD:{rel}"], cwd=root, capture_output=True, check=False
    )
    return proc.returncode == 0


def _git(root: Path, *args: str) -> bytes:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    if proc.returncode != 0:
        raise UsageError(f"git {args[0]} failed in {root}: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout
