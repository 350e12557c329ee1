"""Golden projects: compiling each fixture gives exactly its committed expected files.

Regenerate after an intended change with `LLMOPS_UPDATE_GOLDEN=1 pytest tests/compiler/test_golden.py`
and review the diff like any other change.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from llmops.compiler.compile import compile_project
from llmops.compiler.parse import load_project
from llmops.compiler.schema import SCHEMA_PATH

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected").is_dir() or (p / "GOLDEN").exists())


def _expected(case: str) -> dict[str, str]:
    root = FIXTURES / case / "expected"
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("case", CASES)
def test_golden_project(case):
    files = compile_project(load_project(FIXTURES / case)).files
    files = {k: v for k, v in files.items() if k != SCHEMA_PATH}
    if os.environ.get("LLMOPS_UPDATE_GOLDEN"):
        shutil.rmtree(FIXTURES / case / "expected", ignore_errors=True)
        for rel, text in files.items():
            target = FIXTURES / case / "expected" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    assert files == _expected(case)


def test_golden_cases_cover_every_kind():
    kinds = set()
    for case in CASES:
        kinds |= {sf.kind for sf in load_project(FIXTURES / case).specs}
    assert kinds == {"Dataset", "KnowledgeIndex", "Prompt", "FineTune", "EvalSuite", "Policy", "Deployment"}


def test_compile_is_deterministic_across_runs():
    first = compile_project(load_project(FIXTURES / "full")).files
    second = compile_project(load_project(FIXTURES / "full")).files
    assert first == second
