"""The git side of `llmops loop open-pr`: what the export changed, a commit as the Actions bot,
and a push whose token travels only in the environment (never in argv, a URL or the log)."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from pathlib import Path

from llmops.compiler.layout import RESULTS_AUTHOR, RESULTS_EMAIL
from llmops.errors import StageFailed

Snapshot = dict[str, str | None]  # path -> sha256 of the working file (None: deleted)


def git(root: Path, *args: str, token: str | None = None, extra_env: dict[str, str] | None = None) -> str:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", **(extra_env or {}))
    if token:
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        auth = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0=f"http.{server}/.extraheader",
            GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {auth}",
        )
    proc = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().replace(token or "\0", "***")[-2000:]
        raise StageFailed(f"git {args[0]} failed ({proc.returncode}): {detail}")
    return proc.stdout


def snapshot(root: Path) -> Snapshot:
    """Every path git sees as changed or untracked, with its content's hash."""
    out = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    entries = out.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":  # a rename or copy: the next entry is the old path
            i += 1
    return {p: _digest(root / p) for p in paths}


def changed_since(root: Path, before: Snapshot) -> list[str]:
    """Paths whose content differs from what `before` recorded: what happened in between."""
    now = snapshot(root)
    return sorted(p for p, digest in now.items() if p not in before or before[p] != digest)


def commit_on_branch(root: Path, branch: str, paths: list[str], message: str) -> str:
    """A new branch at HEAD with one commit of `paths`, authored as the Actions bot; its SHA."""
    git(root, "checkout", "--quiet", "-b", branch)
    git(root, "add", "--all", "--", *paths)
    who = {
        "GIT_AUTHOR_NAME": RESULTS_AUTHOR,
        "GIT_AUTHOR_EMAIL": RESULTS_EMAIL,
        "GIT_COMMITTER_NAME": RESULTS_AUTHOR,
        "GIT_COMMITTER_EMAIL": RESULTS_EMAIL,
    }
    git(root, "commit", "--quiet", "--no-verify", "-m", message, extra_env=who)
    return git(root, "rev-parse", "HEAD").strip()


def remote_has_branch(root: Path, remote: str, branch: str, token: str | None) -> bool:
    return bool(git(root, "ls-remote", "--heads", remote, f"refs/heads/{branch}", token=token).strip())


def push(root: Path, remote: str, branch: str, token: str | None) -> None:
    git(root, "push", "--quiet", "--no-verify", remote, f"HEAD:refs/heads/{branch}", token=token)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    except OSError:
        return None
