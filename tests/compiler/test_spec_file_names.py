"""A spec file's name and the pip requirement are spec values like any other: a name with a
newline and `---` must not add YAML documents to a generated manifest, and a requirement must
not become a pip option. Both are refused with exit 2, naming the file (and line)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from llmops.cli.main import main
from llmops.compiler.parse import parse_files, parse_project_file, parse_specs, spec_path_problem

FULL = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "full"
HOSTILE_NAME = "prod\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: evil}\n---\nx.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(FULL, root, ignore=shutil.ignore_patterns("expected", "GOLDEN"))
    return root


@pytest.mark.parametrize("command", [["validate"], ["compile"], ["compile", "--check"]])
def test_a_spec_file_name_with_a_newline_and_dashes_is_refused(project, capsys, command):
    (project / "specs" / "deploy" / "prod.yaml").rename(project / "specs" / "deploy" / HOSTILE_NAME)
    assert main(["-C", str(project), *command]) == 2
    err = capsys.readouterr().err
    assert "specs/deploy/prod\\n---\\napiVersion" in err  # shown escaped, on one line
    assert "not a spec file name llmops accepts" in err and "rename the file" in err
    assert not (project / "deploy").exists() and not (project / "dvc.yaml").exists()


@pytest.mark.parametrize(
    "name",
    ["a b.yaml", "a'b.yaml", 'a"b.yaml', "a$(id).yaml", "a`b`.yaml", "a\tb.yaml", "ünï.yaml", "a#b.yaml"],
)
def test_names_outside_the_safe_set_are_refused(name):
    problem = spec_path_problem(f"specs/{name}")
    assert problem is not None and "\n" not in str(problem)


@pytest.mark.parametrize("name", ["specs/a.yaml", "specs/sub/a-b_c.v2.yaml", "specs/x+y@z=1.yml"])
def test_ordinary_names_pass(name):
    assert spec_path_problem(name) is None


def test_the_refused_file_is_not_reported_again_as_unknown(project):
    """A spec in a badly named file counts as broken: references to it are not also 'unknown'."""
    project_file, _ = parse_project_file((project / "llmops.yaml").read_text())
    sources = {"specs/a b.yaml": "kind: Prompt\nname: answer\ntemplate: 'x'\n"}
    parsed = parse_specs(project_file, sources)
    assert [d.file for d in parsed.errors] == ["specs/a b.yaml"]
    assert ("Prompt", "answer") in parsed.broken and parsed.specs == ()


def test_llmops_run_freshness_check_does_not_read_a_badly_named_file(project):
    (project / "specs" / "a b.yaml").write_text("kind: Prompt\nname: answer\ntemplate: 'x'\n")
    assert parse_files(project, ["specs/a b.yaml"]) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("-rPWN.txt", "starts with '-'"),
        ("--index-url=https://evil.example/simple", "starts with '-'"),
        ("-e.", "starts with '-'"),
        ("git+https://github.com/evil/llmops", "is a URL"),
        ("llmops-gitops @ https://evil.example/x.whl", "is a URL"),
        ("../evil", "is a path"),
        ("evil.whl", "archive"),
        ("llmops-gitops==0.1; os_name=='posix'", "not a distribution name"),
        ("llmops-gitops\n---", "not a distribution name"),
    ],
)
def test_option_like_requirements_are_refused_with_file_and_line(project, capsys, value, why):
    text = (project / "llmops.yaml").read_text()
    quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    (project / "llmops.yaml").write_text(
        text.replace("llmops_requirement: llmops-gitops==0.1.0", f'llmops_requirement: "{quoted}"')
    )
    line = text.splitlines().index("  llmops_requirement: llmops-gitops==0.1.0") + 1
    assert main(["-C", str(project), "validate"]) == 2
    err = capsys.readouterr().err
    assert f"llmops.yaml:{line}:" in err and "ci.llmops_requirement" in err
    assert why in err


@pytest.mark.parametrize(
    "value", ["llmops-gitops==0.1.0", ".", ".[train,gpu]", "llmops-gitops[train]>=0.2,<0.3", "llmops-gitops"]
)
def test_ordinary_requirements_pass(value):
    text = (FULL / "llmops.yaml").read_text().replace("llmops-gitops==0.1.0", f'"{value}"')
    project_file, errors = parse_project_file(text)
    assert errors == [] and project_file is not None
    assert project_file.spec.ci.llmops_requirement == value
