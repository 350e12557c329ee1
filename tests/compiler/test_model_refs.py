"""A model is named by what llmops can load (finetune, base_of, path, hub), never by a Deployment:
`validate` refuses `{deployment: NAME}` in an EvalSuite or a Policy rule at its line, naming the
field and the fix, instead of the eval or the gate failing at run time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from llmops.cli.main import main
from llmops.compiler.kinds.common import ModelRef

REPO = Path(__file__).resolve().parents[2]
FIX = "`{finetune: NAME}` with the FineTune Deployment 'prod' serves, or base_of:, path: or hub:"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_deployment_names_no_model():
    with pytest.raises(ValidationError, match="a model cannot be named by a Deployment"):
        ModelRef.model_validate({"deployment": "prod"})
    assert ModelRef.model_validate({"finetune": "tiny"}).label == "finetune:tiny"
    assert "deployment" not in ModelRef.model_json_schema()["properties"]


def test_an_evalsuite_baseline_of_a_deployment_is_refused_at_its_line(fixture_project, capsys):
    root = fixture_project("full")
    _edit(
        root / "specs/evals/quality.yaml",
        "baselines: [{base_of: tiny}]",
        "baselines: [{base_of: tiny}, {deployment: prod}]",
    )
    assert main(["-C", str(root), "validate"]) == 2
    err = capsys.readouterr().err
    assert (
        "specs/evals/quality.yaml:4:43: baselines[1].deployment: a model cannot be named by a Deployment"
        in err
    )
    assert FIX in err


def test_an_evalsuite_model_of_a_deployment_is_refused(fixture_project, capsys):
    root = fixture_project("full")
    _edit(root / "specs/evals/quality.yaml", "models: [{finetune: tiny},", "models: [{deployment: prod},")
    assert main(["-C", str(root), "validate"]) == 2
    assert "specs/evals/quality.yaml:3:23: models[0].deployment:" in capsys.readouterr().err


def test_a_policy_regression_baseline_of_a_deployment_is_refused(fixture_project, capsys):
    root = fixture_project("full")
    _edit(root / "specs/policies/release.yaml", "baseline: {base_of: tiny}", "baseline: {deployment: prod}")
    assert main(["-C", str(root), "validate"]) == 2
    err = capsys.readouterr().err
    assert "specs/policies/release.yaml:12:28: rules[1].baseline.deployment: a model cannot be named" in err
    assert FIX in err
    assert main(["-C", str(root), "compile"]) == 2


def test_a_deployment_serving_a_deployment_is_refused(fixture_project, capsys):
    root = fixture_project("full")
    prod = root / "specs/deploy/prod.yaml"
    _edit(prod, "model: {finetune: tiny}", "model: {deployment: old}")
    assert main(["-C", str(root), "validate"]) == 2
    assert "model.deployment: a model cannot be named by a Deployment ('old')" in capsys.readouterr().err


def test_no_example_names_a_deployment_as_a_model():
    """The README, the docs and the example specs show only model references `validate` takes."""
    pattern = re.compile(r"(?:baselines?|models?|model)\s*:\s*\[?[^\n]*\{\s*deployment\s*:")
    paths = [REPO / "README.md", *(REPO / "docs").rglob("*.md"), *(REPO / "specs").rglob("*.yaml")]
    paths += (REPO / "tests/fixtures/projects").glob("*/specs/**/*.yaml")
    found = [
        str(p.relative_to(REPO)) for p in paths if pattern.search(p.read_text()) and "broken" not in p.parts
    ]
    assert found == []
