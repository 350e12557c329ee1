"""The hooks this repo offers to others, and the ones it runs on itself."""

import os
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _pre_commit(*args, cwd=REPO, env=None):
    return subprocess.run(
        ["pre-commit", *args], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )


def test_manifest_and_config_are_valid():
    assert _pre_commit("validate-manifest", ".pre-commit-hooks.yaml").returncode == 0
    assert _pre_commit("validate-config", ".pre-commit-config.yaml").returncode == 0


def test_offered_hooks_match_the_ones_used_here():
    offered = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    used = {
        h["id"]: h
        for r in yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"]
        for h in r["hooks"]
    }
    assert set(offered) == {"llmops-validate", "llmops-compile-check"}
    for hook_id, hook in offered.items():
        assert used[hook_id]["entry"] == hook["entry"]


def test_hooks_run_in_a_new_project(tmp_path):
    from llmops.cli.main import main

    project = tmp_path / "p"
    assert main(["init", str(project)]) == 0
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    run = _pre_commit("run", "--all-files", cwd=project, env=env)
    # the starter's generated files are not compiled yet: compile --check must fail, then pass
    assert run.returncode == 1 and "llmops compile --check" in run.stdout
    assert main(["-C", str(project), "compile"]) == 0
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    run = _pre_commit("run", "--all-files", cwd=project, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
