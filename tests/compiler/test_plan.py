"""`llmops plan --base REF` against real git history."""

from __future__ import annotations

import json
import subprocess

from llmops.cli.main import main


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _repo(fixture_project):
    root = fixture_project("full")
    _git(root, "init", "-q", "-b", "main")
    assert main(["-C", str(root), "compile"]) == 0
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    return root


def _plan(root, capsys, fmt="json"):
    capsys.readouterr()
    assert main(["-C", str(root), "plan", "--base", "main", "--format", fmt]) == 0
    out = capsys.readouterr().out
    return json.loads(out) if fmt == "json" else out


def test_nothing_changed(fixture_project, capsys):
    root = _repo(fixture_project)
    plan = _plan(root, capsys)
    assert plan["rerun"] == [] and plan["changed_specs"] == []


def test_description_change_reruns_nothing(fixture_project, capsys):
    root = _repo(fixture_project)
    spec = root / "specs/models/tiny-base.yaml"
    spec.write_text(spec.read_text().replace("description: LoRA", "description: A LoRA"))
    plan = _plan(root, capsys)
    assert plan["changed_specs"] == [{"path": "specs/models/tiny-base.yaml", "change": "modified"}]
    assert plan["rerun"] == []


def test_hyperparameter_change_reruns_the_stage_and_what_follows(fixture_project, capsys):
    root = _repo(fixture_project)
    spec = root / "specs/models/tiny-base.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.001", "lr: 0.002"))
    plan = _plan(root, capsys)
    stages = {s["stage"]: s["reasons"] for s in plan["rerun"]}
    assert stages["tune-tiny"] == ["config changed: training.lr"]
    assert set(stages) == {
        "tune-tiny",
        "eval-quality",
        "review-release",
        "gate-release",
        "deploy-prod",
        "monitor-prod",
    }
    assert stages["eval-quality"] == ["after tune-tiny"]


def test_data_change_reruns_from_the_data_stage(fixture_project, capsys):
    root = _repo(fixture_project)
    (root / "data/raw").mkdir(parents=True, exist_ok=True)
    (root / "data/raw/tickets-2.jsonl").write_text('{"body": "x"}\n')
    plan = _plan(root, capsys)
    stages = {s["stage"]: s["reasons"] for s in plan["rerun"]}
    assert stages["data-tickets"] == ["input changed: data/raw/tickets-2.jsonl"]
    assert "tune-big" in stages and "data-pretrain" in stages


def test_new_and_removed_stages_and_markdown(fixture_project, capsys):
    root = _repo(fixture_project)
    (root / "specs/data/more.yaml").write_text("kind: Dataset\nname: more\nsources: [{path: more.txt}]\n")
    prod = root / "specs/deploy/prod.yaml"
    prod.write_text(prod.read_text().replace('monitoring: {schedule: "0 6 * * *"}\n', ""))
    plan = _plan(root, capsys)
    assert {"stage": "data-more", "spec": "Dataset more", "reasons": ["new stage"]} in plan["rerun"]
    assert plan["removed"] == ["monitor-prod"]
    md = _plan(root, capsys, "markdown")
    assert "| `data-more` | Dataset more | new stage |" in md
    assert "**Stages removed:** `monitor-prod`" in md


def test_unknown_ref_is_usage_error(fixture_project, capsys):
    root = _repo(fixture_project)
    assert main(["-C", str(root), "plan", "--base", "nope"]) == 2
    assert "unknown git ref 'nope'" in capsys.readouterr().err


def test_base_without_project(fixture_project, capsys, tmp_path):
    root = fixture_project("full")
    _git(root, "init", "-q", "-b", "main")
    (root / "README").write_text("x")
    _git(root, "add", "README")
    _git(root, "commit", "-qm", "empty")
    plan = _plan(root, capsys)
    assert plan["notes"] and all(s["reasons"][0] == "new stage" for s in plan["rerun"][:1])
