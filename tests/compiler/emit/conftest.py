"""The compiled demo project, shared by the workflow test modules (compiled once per module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmops.compiler.compile import Compiled
from tests.compiler.emit.workflow_project import compile_at, load_docs, write_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def compiled(project: Path) -> Compiled:
    return compile_at(project)


@pytest.fixture(scope="module")
def docs(compiled: Compiled) -> dict[str, dict[str, Any]]:
    return load_docs(compiled)
