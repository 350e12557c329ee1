"""This repository's own `.github/workflows/` (its CI and its generated llmops workflows) pass
the same checks as any generated workflow, and the generated ones are current."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from llmops.cli.main import main

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted(str(p) for p in (REPO / ".github" / "workflows").glob("*.yml"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)


def test_the_generated_files_are_current(capsys):
    assert main(["-C", str(REPO), "compile", "--check"]) == 0, capsys.readouterr().err


def test_repo_has_ci_and_generated_workflows():
    names = {Path(p).name for p in WORKFLOWS}
    assert {"ci.yml", "llmops-pr.yml", "llmops-main.yml"} <= names


@pytest.mark.parametrize(
    "command",
    [
        ("zizmor", "--offline", "--no-progress"),
        ("actionlint",),
        ("check-jsonschema", "--builtin-schema", "vendor.github-workflows"),
    ],
    ids=lambda c: c[0],
)
def test_checkers_pass(command):
    done = _run(*command, *WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
