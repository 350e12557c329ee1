"""Shared test set-up: the venv's tools on PATH, a git identity, no DVC analytics."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "projects"
BIN = Path(sys.executable).parent

os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
for key, value in {
    "GIT_AUTHOR_NAME": "llmops tests",
    "GIT_AUTHOR_EMAIL": "tests@llmops.invalid",
    "GIT_COMMITTER_NAME": "llmops tests",
    "GIT_COMMITTER_EMAIL": "tests@llmops.invalid",
}.items():
    os.environ.setdefault(key, value)


@pytest.fixture
def fixture_project(tmp_path: Path):
    """Copy a golden project into a temporary folder and return its path."""

    def copy(case: str) -> Path:
        target = tmp_path / case
        shutil.copytree(
            FIXTURES / case, target, ignore=shutil.ignore_patterns("expected", "expected_errors.txt")
        )
        return target

    return copy
