"""The project's git repository: open it from any folder inside it, and name a commit.

`llmops audit`, `register`, `enforce`, `plan` and `run deploy-*` all read git, and a project may
sit in a subfolder of its repository (a monorepo), so each needs the repository and the
project's path prefix inside it, and the same usage errors (exit 2) when either is missing.
gitpython is imported when a function runs: `llmops --help` must not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops.errors import UsageError


def open_repo(project: str | Path, purpose: str) -> tuple[Any, str]:
    """(repo, prefix): the repository holding `project` and the project's folder inside it
    ("" at the top, else "sub/dir/"). `purpose` ends the error for a folder outside git, e.g.
    "plan compares against a git ref"."""
    import git

    root = Path(project).resolve()
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(f"{root} is not inside a git repository; {purpose}") from None
    if repo.bare:
        raise UsageError(f"{root} is a bare repository")
    prefix = root.relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
    return repo, ("" if prefix == "." else prefix + "/")


def find_commit(repo: Any, ref: str, noun: str = "git ref") -> Any:
    """The commit `ref` names; a usage error "unknown <noun> '<ref>'" when it names none."""
    import git

    try:
        return repo.commit(ref)
    except (git.BadName, ValueError, git.GitCommandError):
        raise UsageError(f"unknown {noun} '{ref}'") from None


def blob_bytes(tree: Any, path: str) -> bytes | None:
    """A file's bytes in a commit's tree; None when there is no such file."""
    try:
        blob = tree / path
    except KeyError:
        return None
    return blob.data_stream.read() if blob.type == "blob" else None  # type: ignore[no-any-return]


def blob_text(tree: Any, path: str, *, errors: str = "replace") -> str | None:
    """A file's text in a commit's tree; None when there is no such file. With
    `errors="strict"` a file that is not UTF-8 raises UnicodeDecodeError."""
    data = blob_bytes(tree, path)
    return data.decode("utf-8", errors) if data is not None else None
