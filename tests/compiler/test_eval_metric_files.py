"""A custom metric's Python is a dependency of its eval stage: the module file, or the package
folder when it is a package, and the parent packages' `__init__.py`; found without importing it,
and a module the project does not hold is a spec error at the metric's line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmops.cli.main import main
from llmops.compiler.compile import plan_graph
from llmops.compiler.parse import load_project, parse_specs, read_sources
from llmops.compiler.stages.eval import module_files
from llmops.errors import SpecError
from llmops.results.pipeline import read_pipeline

SUITE = "specs/evals/quality.yaml"
METRICS = "metrics: [{name: rouge}, {name: bleu}, {name: exact_match}]"


def _with_metric(root: Path, *callables: str) -> Path:
    """The full fixture's suite with these custom metrics added (on line 9 of its spec)."""
    suite = root / SUITE
    text = suite.read_text()
    assert METRICS in text
    custom = "".join(f", {{name: custom, callable: '{c}'}}" for c in callables)
    suite.write_text(text.replace(METRICS, METRICS[:-1] + custom + "]"))
    return root


def _write(root: Path, *files: str) -> None:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("def score(predictions, references):\n    return 1.0\n")


def _eval_deps(root: Path) -> tuple[str, ...]:
    _, graph = plan_graph(load_project(root))
    return graph.stage("eval-quality").deps


@pytest.mark.parametrize(
    ("module", "files", "expected"),
    [
        ("checks", {"checks.py"}, ["checks.py"]),
        ("evals.checks", {"evals/checks.py"}, ["evals/checks.py"]),
        ("evals.checks", {"evals/__init__.py", "evals/checks.py"}, ["evals/__init__.py", "evals/checks.py"]),
        # a package wins over a module of the same name, as it does for Python's import
        ("evals.checks", {"evals/checks.py", "evals/checks/__init__.py"}, ["evals/checks"]),
        (
            "a.b.c",
            {"a/__init__.py", "a/b/__init__.py", "a/b/c/__init__.py"},
            ["a/__init__.py", "a/b/__init__.py", "a/b/c"],
        ),
        ("evals.checks", {"evals/checks/helpers.py"}, None),  # a folder without __init__.py
        ("evals.checks", set(), None),
    ],
)
def test_module_files_follow_pythons_import(module, files, expected):
    assert module_files(module, files.__contains__) == expected


def test_without_the_project_files_the_module_file_is_taken():
    assert module_files("evals.checks", lambda rel: None) == ["evals/checks.py"]


def test_a_metric_module_is_a_dependency_of_the_eval_stage(fixture_project):
    root = _with_metric(fixture_project("full"), "evals.checks:score")
    _write(root, "evals/checks.py")
    assert "evals/checks.py" in _eval_deps(root)
    assert main(["-C", str(root), "compile"]) == 0
    stages = {s.name: s for s in read_pipeline((root / "dvc.yaml").read_text())}
    assert "evals/checks.py" in stages["eval-quality"].deps
    assert not any("evals" in dep for name, s in stages.items() if name != "eval-quality" for dep in s.deps)


def test_a_metric_package_is_a_dependency_with_its_parents(fixture_project):
    root = _with_metric(fixture_project("full"), "evals.checks:score", "evals.checks:score")
    _write(root, "evals/__init__.py", "evals/checks/__init__.py", "evals/checks/helpers.py")
    deps = _eval_deps(root)
    assert "evals/__init__.py" in deps and "evals/checks" in deps
    assert deps.count("evals/checks") == 1


def test_a_metric_module_the_project_lacks_is_refused_at_its_line(fixture_project, capsys):
    root = _with_metric(fixture_project("full"), "evals.checks:score", "evals.more:other")
    _write(root, "evals/checks.py")
    assert main(["-C", str(root), "validate"]) == 2
    err = capsys.readouterr().err
    line = next(n for n, text in enumerate((root / SUITE).read_text().splitlines(), 1) if "custom" in text)
    assert f"{SUITE}:{line}:" in err
    assert "metrics[4].callable: custom metric evals.more:other: the project has no module evals.more " in err
    assert "(neither evals/more.py nor evals/more/__init__.py)" in err
    assert "define `other` in evals/more.py (from the folder of llmops.yaml)" in err
    assert "evals.checks" not in err
    assert main(["-C", str(root), "compile"]) == 2


def test_specs_parsed_without_the_files_take_the_module_file(fixture_project):
    """`plan --base` and the audit parse specs from git text alone: no probe, no error."""
    root = _with_metric(fixture_project("full"), "evals.checks:score")
    parsed = parse_specs(*read_sources(root))
    assert parsed.is_file is None
    _, graph = plan_graph(parsed)
    assert "evals/checks.py" in graph.stage("eval-quality").deps
    with pytest.raises(SpecError, match=r"has no module evals\.checks"):
        plan_graph(load_project(root))


@pytest.mark.slow
def test_editing_the_metric_file_makes_dvc_report_the_eval_stage_changed(fixture_project):
    """Real DVC on the compiled stage: its lock recorded (`dvc commit`, the models stand-ins), then
    an edit of the metric's file alone makes `dvc status` name the eval stage and that file."""
    root = _with_metric(fixture_project("full"), "evals.checks:score")
    _write(root, "evals/checks.py")
    assert main(["-C", str(root), "compile"]) == 0
    stage = {s.name: s for s in read_pipeline((root / "dvc.yaml").read_text())}["eval-quality"]
    for path in (*stage.deps, *stage.out_paths()):
        target = root / path
        if not target.exists():
            if Path(path).suffix:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("{}\n")
            else:
                target.mkdir(parents=True)
                (target / "stand-in.txt").write_text(path)
    dvc = str(Path(sys.executable).parent / "dvc")

    def sh(*args: str) -> str:
        out = subprocess.run(args, cwd=root, capture_output=True, text=True, check=False)
        assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
        return out.stdout

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    sh("git", "init", "-q")
    sh(dvc, "init", "-q")
    sh(dvc, "commit", "-f", "-q", "eval-quality")
    assert json.loads(sh(dvc, "status", "--json", "eval-quality") or "{}") == {}
    (root / "evals/checks.py").write_text("def score(predictions, references):\n    return 0.5\n")
    changed = json.loads(sh(dvc, "status", "--json", "eval-quality"))
    assert list(changed) == ["eval-quality"]
    assert {"changed deps": {"evals/checks.py": "modified"}} in changed["eval-quality"]
