"""Fixtures for tests that drive real external tools (act, dvc) from the project's venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[2]


def _tool_path() -> str:
    """PATH with the venv's bin first, so tools find each other (act -> llmops, actionlint -> shellcheck)."""
    return os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])


@pytest.fixture(scope="session")
def venv_tool() -> Callable[[str], str]:
    """Absolute path of a dev tool; a missing one fails the test, since a skip would read as a pass."""

    def find(name: str) -> str:
        found = shutil.which(name, path=_tool_path())
        if found is None:
            pytest.fail(f"{name} is not installed (expected in {VENV_BIN}); install the dev extra")
        return found

    return find


@pytest.fixture(scope="session")
def tool_env() -> dict[str, str]:
    """The environment for a tool run: ours, with the venv's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = _tool_path()
    return env


def copy_worktree(dest: Path, prefixes: tuple[str, ...] = ()) -> Path:
    """The repository as a clone of the working tree would be (tracked plus untracked-not-ignored
    files), or only the files under `prefixes`."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in sorted(p for p in listed.split("\0") if p):
        if prefixes and not rel.startswith(prefixes):
            continue
        src = REPO_ROOT / rel
        if src.is_symlink() or not src.is_file():  # a link, or deleted in the working tree
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


@pytest.fixture(scope="session")
def worktree_copy() -> Callable[..., Path]:
    return copy_worktree
