"""Shared test set-up: the venv's tools on PATH, a git identity, no DVC analytics."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed set of examples so a red run can be reproduced;
# locally each run explores new ones (HYPOTHESIS_PROFILE=explore runs many more).
settings.register_profile("default", max_examples=150)
settings.register_profile("ci", max_examples=150, derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.gpu` tests run only where CUDA is (torch is imported only if one is marked)."""
    marked = [item for item in items if item.get_closest_marker("gpu")]
    if not marked:
        return
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in marked:
            item.add_marker(skip)
