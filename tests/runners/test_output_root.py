"""A stage never writes outside the project: an `artifacts/` (or `metrics/`) folder symlinked
elsewhere makes `llmops run` refuse, exit 2, before the stage reads or writes anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmops.cli.main import main
from llmops.paths import PathOutsideProject
from llmops.runners.registry import run_stage

ROWS = "".join(json.dumps({"text": f"Question number {i}?"}) + "\n" for i in range(10))


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "llmops.yaml").write_text("kind: Project\nname: p\n")
    (root / "specs").mkdir()
    (root / "specs" / "d.yaml").write_text("kind: Dataset\nname: d\nsources:\n  - path: data/a.jsonl\n")
    (root / "data").mkdir()
    (root / "data" / "a.jsonl").write_text(ROWS)
    assert main(["-C", str(root), "compile"]) == 0
    return root


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outside_outputs")


@pytest.mark.parametrize("folder", ["artifacts", "metrics"])
def test_llmops_run_refuses_an_output_folder_linked_outside(tmp_path, outside, capsys, folder):
    root = _project(tmp_path / "p")
    os.symlink(outside, root / folder)
    assert main(["-C", str(root), "run", "data-d"]) == 2
    err = capsys.readouterr().err
    assert "output leads outside the project" in err and f"the symlink {folder} points out of it" in err
    assert str(outside.resolve()) in err
    assert list(outside.iterdir()) == []


def test_run_stage_refuses_before_the_runner_is_called(tmp_path, outside, monkeypatch):
    from llmops.runners import registry

    root = _project(tmp_path / "p")
    os.symlink(outside, root / "artifacts")
    config = json.loads((root / ".llmops" / "stages" / "data-d.json").read_text())
    called = []
    monkeypatch.setattr(registry, "runner_for", lambda kind: lambda c, r: called.append(kind))
    with pytest.raises(PathOutsideProject, match="artifacts/datasets/d"):
        run_stage(config, root)
    assert called == [] and list(outside.iterdir()) == []


def test_outputs_inside_the_project_run(tmp_path):
    root = _project(tmp_path / "p")
    assert main(["-C", str(root), "run", "data-d"]) == 0
    assert (root / "artifacts" / "datasets" / "d" / "train.jsonl").is_file()
