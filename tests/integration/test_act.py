"""The generated pull-request workflow, run for real by `act` on this machine.

There is no Docker here, so act runs the job on the host (`-P ubuntu-latest=-self-hosted`).
The job gets a temporary copy of this repository, installs llmops into a fresh venv with pip
(the repo's llmops.yaml installs `.`), and runs `llmops validate`, `llmops compile --check`
and `llmops plan --base origin/main`: what CI runs on every pull request. It takes about a
minute, most of it pip.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

WORKFLOW = ".github/workflows/llmops-pr.yml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
VALIDATE_STEPS = (
    "Install llmops",
    "Validate the specs",
    "Check the generated files are up to date",
    "Plan what this pull request reruns",
)


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=llmops-test", "-c", "user.email=test@llmops.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"git {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def pr_repo(tmp_path: Path, venv_tool: Callable[[str], str], tool_env: dict[str, str], worktree_copy) -> Path:
    """A git repo copied from this one, compiled and committed, with `origin/main` to plan against."""
    repo = worktree_copy(tmp_path / "repo")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", "base")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    compiled = subprocess.run(
        [venv_tool("llmops"), "compile"], cwd=repo, capture_output=True, text=True, env=tool_env
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    assert (repo / WORKFLOW).is_file()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "--allow-empty", "-m", "compile")
    return repo


@pytest.mark.slow
def test_act_runs_the_validate_job(
    pr_repo: Path, tmp_path: Path, venv_tool: Callable[[str], str], tool_env: dict[str, str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"pull_request": {"number": 1, "base": {"ref": "main"}, "head": {"ref": "feature"}}})
    )
    proc = subprocess.run(
        [
            venv_tool("act"),
            "pull_request",
            "-j",
            "validate",
            "-P",
            "ubuntu-latest=-self-hosted",
            "--eventpath",
            str(event),
            "-W",
            WORKFLOW,
            "--no-cache-server",
            "--action-offline-mode",
        ],
        cwd=pr_repo,
        capture_output=True,
        text=True,
        env=tool_env,
        timeout=900,
    )
    log = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, log[-8000:]
    for step in VALIDATE_STEPS:
        assert re.search(rf"Success - Main {re.escape(step)} \[", log), (
            f"step {step!r} did not succeed:\n{log[-8000:]}"
        )
    assert "Job succeeded" in log
    assert "Summary - " in log  # the plan wrote its markdown to the step summary
