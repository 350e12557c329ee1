"""Real DVC on generated pipelines: a stage reruns exactly when something that matters to it
changed, and `dvc dag` / `dvc repro --dry` accept every generated dvc.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from llmops.cli.main import main

pytestmark = pytest.mark.slow


def _sh(cwd: Path, *args: str) -> str:
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
    return out.stdout


def _status(root: Path) -> dict:
    return json.loads(_sh(root, "dvc", "status", "--json") or "{}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    assert main(["init", str(root)]) == 0
    _sh(root, "git", "init", "-q")
    assert main(["-C", str(root), "compile"]) == 0
    _sh(root, "dvc", "repro")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_repro_runs_the_example_and_is_then_up_to_date(project):
    splits = project / "artifacts/datasets/faq"
    assert {p.name for p in splits.iterdir()} >= {"train.jsonl", "validation.jsonl", "test.jsonl"}
    metrics = json.loads((project / "metrics/data-faq.json").read_text())
    assert metrics
    assert _status(project) == {}
    assert "data-faq" in _sh(project, "dvc", "metrics", "show")


def test_description_change_reruns_nothing(project):
    _edit(project / "specs/datasets/faq.yaml", "description: Questions", "description: All questions")
    assert main(["-C", str(project), "compile"]) == 0
    assert _status(project) == {}


def test_spec_field_change_reruns_the_stage(project):
    _edit(project / "specs/datasets/faq.yaml", "train: 0.7, validation: 0.15", "train: 0.6, validation: 0.25")
    assert main(["-C", str(project), "compile"]) == 0
    status = _status(project)
    assert list(status) == ["data-faq"]
    assert "changed deps" in json.dumps(status) or "params" in json.dumps(status)
    before = (project / "artifacts/datasets/faq/train.jsonl").read_text()
    _sh(project, "dvc", "repro")
    assert (project / "artifacts/datasets/faq/train.jsonl").read_text() != before
    assert _status(project) == {}


def test_data_change_reruns_the_stage(project):
    with (project / "data/raw/faq.jsonl").open("a") as f:
        f.write(
            json.dumps(
                {"question": "Is there an API?", "answer": "Yes, see Settings, API.", "area": "features"}
            )
            + "\n"
        )
    assert list(_status(project)) == ["data-faq"]


def test_runner_version_change_reruns_the_stage(project, monkeypatch):
    from llmops.runners.versions import RUNNER_VERSIONS

    monkeypatch.setitem(RUNNER_VERSIONS, "data", RUNNER_VERSIONS["data"] + 1)
    assert main(["-C", str(project), "compile"]) == 0
    assert list(_status(project)) == ["data-faq"]


def test_dag_and_dry_run_accept_the_full_fixture(fixture_project):
    root = fixture_project("full")
    _sh(root, "git", "init", "-q")
    _sh(root, "dvc", "init", "-q")
    assert main(["-C", str(root), "compile"]) == 0
    for dep in ("data/raw/extra.csv", "data/raw/corpus.txt"):
        (root / dep).parent.mkdir(parents=True, exist_ok=True)
        (root / dep).write_text("x\n")
    dag = _sh(root, "dvc", "dag", "--md")
    assert "tune-tiny" in dag and "gate-release" in dag
    # --force: a dry run cannot hash the outputs of stages it did not run
    dry = _sh(root, "dvc", "repro", "--dry", "--force")
    assert "Running stage 'data-tickets'" in dry and "Running stage 'gate-release'" in dry


def test_the_repos_own_example_runs(tmp_path):
    """The example Dataset in this repository's specs/ runs for real through dvc repro."""
    repo = Path(__file__).resolve().parents[2]
    root = tmp_path / "repo"
    root.mkdir()
    for rel in ("llmops.yaml", "specs", "data", ".dvc/config", ".dvcignore"):
        src = repo / rel
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    _sh(root, "git", "init", "-q")
    assert main(["-C", str(root), "compile"]) == 0
    _sh(root, "dvc", "repro")
    metrics = json.loads((root / "metrics/data-support.json").read_text())
    manifest = json.loads((root / "artifacts/datasets/support/manifest.json").read_text())
    assert manifest["rows"] == metrics["rows"] == sum(metrics["splits"].values()) > 100
    assert _status(root) == {}


def test_a_failed_run_leaves_the_previous_outputs(project):
    """DVC deletes outputs before a stage runs unless they persist; ours do, and the runner
    swaps its output folder in whole, so a failure keeps the last good data in place."""
    out = project / "artifacts/datasets/faq"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    metrics_before = (project / "metrics/data-faq.json").read_bytes()
    with (project / "data/raw/faq.jsonl").open("a") as f:
        f.write("{not json\n")
    done = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "faq.jsonl" in done.stdout + done.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert (project / "metrics/data-faq.json").read_bytes() == metrics_before
