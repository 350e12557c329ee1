"""The install name is ours: `llmops` on the package index is someone else's empty 0.1.0."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import llmops
from llmops.compiler.emit.workflows import llmops_requirement
from llmops.compiler.kinds import Project

REPO = Path(__file__).resolve().parents[1]


def test_the_distribution_name_is_ours_and_said_once():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == llmops.DISTRIBUTION == "llmops-gitops"
    assert metadata.version(llmops.DISTRIBUTION) == llmops.__version__
    own_extras = [r for extra in project["optional-dependencies"].values() for r in extra if "llmops" in r]
    assert own_extras and all(r.startswith("llmops-gitops[") for r in own_extras)


def test_generated_ci_installs_this_project_by_default():
    project = Project.model_validate({"kind": "Project", "name": "p"})
    assert llmops_requirement(project) == f"llmops-gitops=={llmops.__version__}"


def test_the_readme_installs_this_project():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "pip install llmops-gitops" in readme
    assert "pip install llmops\n" not in readme
