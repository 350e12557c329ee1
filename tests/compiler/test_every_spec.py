"""Every spec this repository ships is valid, by the compiler and by the exported JSON Schema
that editors use, so the two can never disagree on a shipped example."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from llmops.compiler.compile import plan_graph
from llmops.compiler.parse import load_project
from llmops.compiler.schema import spec_schema

REPO = Path(__file__).resolve().parents[2]
INVALID_ON_PURPOSE = {"broken", "cycle"}
STARTERS = REPO / "llmops" / "cli" / "starters"
PROJECTS = (
    [REPO]
    + sorted(p for p in STARTERS.iterdir() if (p / "llmops.yaml").is_file())
    + sorted(
        p for p in (REPO / "tests" / "fixtures" / "projects").iterdir() if p.name not in INVALID_ON_PURPOSE
    )
)


@pytest.mark.parametrize("root", PROJECTS, ids=lambda p: p.relative_to(REPO).as_posix() or "repo")
def test_project_validates(root):
    _, graph = plan_graph(load_project(root))
    assert graph.order


@pytest.mark.parametrize("root", PROJECTS, ids=lambda p: p.relative_to(REPO).as_posix() or "repo")
def test_specs_match_the_json_schema(root):
    validator = jsonschema.Draft202012Validator(spec_schema())
    parsed = load_project(root)
    for sf in (parsed.project_file, *parsed.specs):
        text = (root / sf.path).read_text()
        errors = list(validator.iter_errors(yaml.load(text, Loader=yaml.CSafeLoader)))
        assert errors == [], (sf.path, [e.message for e in errors])


def test_schema_rejects_what_the_compiler_rejects():
    validator = jsonschema.Draft202012Validator(spec_schema())
    assert list(validator.iter_errors({"kind": "Dataset", "name": "Bad Name", "sources": [{"path": "x"}]}))
    assert list(validator.iter_errors({"kind": "Dataset", "name": "ok", "sources": [], "extra": 1}))
