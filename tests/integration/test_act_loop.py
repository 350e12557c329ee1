"""The whole GitOps loop under act, as GitHub runs it: every job in its own workspace, sharing
only git (a bare repository standing in for GitHub) and a shared-folder DVC remote.

A new project (`llmops init --starter lifecycle`: Dataset, Prompt, a FineTune of a tiny base,
EvalSuite, Policy, Deployment) opens a pull request that trains for more epochs:

1. the pull-request workflow runs each stage exactly once, each in its own job (the eval job
   pulls the adapter, it does not train); the `llmops results` job gathers CI's results and,
   since the branch does not carry them, the commit job pushes them to the branch as the bot;
2. run again on that results commit, nothing runs and the results job passes;
3. merged, the main workflow's enforce passes against a GitHub API on loopback (the PR merged as
   this commit, approved on its head, `llmops results` green there) and the deploy job pulls the
   approved weights from the remote, checks their hash against dvc.lock and serves them.

The runners have llmops preinstalled (`ci.install: preinstalled`): pip-installing torch into a
fresh environment per job would cost minutes and test pip, not llmops.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import git as gitpython
import pytest

from tests.fakes.github_api import FakeGitHub

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
REPO = "org/repo"
URL = f"https://github.com/{REPO}.git"
PR_WORKFLOW = ".github/workflows/llmops-pr.yml"
MAIN_WORKFLOW = ".github/workflows/llmops-main.yml"
BOT = "github-actions[bot]"


def sh(cwd: Path, env: dict[str, str], *cmd: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if ok:
        assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def git(cwd: Path, env: dict[str, str], *args: str, who: str = "alice") -> str:
    ident = ["-c", f"user.name={who}", "-c", f"user.email={who}@example.com"]
    return sh(cwd, env, "git", *ident, *args).stdout.strip()


class Act:
    """`act` on the host (no Docker here), one event at a time, in the working clone."""

    def __init__(self, repo: Path, tmp: Path, env: dict[str, str], act: str) -> None:
        self.repo, self.tmp, self.env, self.act = repo, tmp, env, act

    def run(
        self,
        event_name: str,
        event: dict,
        workflow: str,
        extra_env: dict[str, str] | None = None,
        token: str = "test-token",
    ):
        path = self.tmp / f"event-{event_name}.json"
        path.write_text(json.dumps(event))
        cmd = [self.act, event_name, "-W", workflow, "--eventpath", str(path)]
        cmd += ["-P", "ubuntu-latest=-self-hosted", "--no-cache-server", "--action-offline-mode"]
        cmd += ["--env", f"GITHUB_REPOSITORY={REPO}", "-s", f"GITHUB_TOKEN={token}"]
        for key, value in (extra_env or {}).items():
            cmd += ["--env", f"{key}={value}"]
        proc = subprocess.run(cmd, cwd=self.repo, env=self.env, capture_output=True, text=True, timeout=1500)
        log = ANSI.sub("", proc.stdout + proc.stderr)
        self.runs = getattr(self, "runs", 0) + 1
        (self.tmp / f"act-{self.runs}.log").write_text(log)
        return proc.returncode, log


def job_log(log: str, job: str) -> str:
    """The lines of one job (act prefixes each with `[<workflow>/<job name>   ]`)."""
    prefix = re.compile(rf"^\[[^/\]]*/{re.escape(job)}\s*\]")
    return "\n".join(line for line in log.splitlines() if prefix.match(line))


@pytest.fixture
def project(tmp_path: Path, venv_tool: Callable[[str], str], tool_env: dict[str, str]) -> Path:
    origin = tmp_path / "origin.git"
    sh(tmp_path, tool_env, "git", "init", "-q", "--bare", str(origin))
    repo = tmp_path / "repo"
    remote = tmp_path / "dvc-remote"
    sh(
        tmp_path,
        tool_env,
        venv_tool("llmops"),
        "init",
        "--starter",
        "lifecycle",
        "--remote",
        str(remote),
        str(repo),
    )
    config = repo / "llmops.yaml"
    config.write_text(config.read_text() + "ci:\n  install: preinstalled\n")
    # this test is about the loop, not the tiny model's quality: a floor it always clears
    policy = repo / "specs" / "policies" / "release.yaml"
    policy.write_text(re.sub(r"metric: rougeL, min: [0-9.]+", "metric: rougeL, min: 0.0", policy.read_text()))
    sh(repo, tool_env, venv_tool("llmops"), "compile")
    git(repo, tool_env, "init", "-q", "-b", "main")
    git(repo, tool_env, "config", f"url.{origin}.insteadOf", URL)
    git(repo, tool_env, "remote", "add", "origin", URL)
    git(repo, tool_env, "add", "-A")
    git(repo, tool_env, "commit", "-qm", "A new project")
    git(repo, tool_env, "push", "-q", "origin", "main")
    return repo


@pytest.mark.slow
def test_the_whole_loop_under_act(
    project: Path, tmp_path: Path, venv_tool: Callable[[str], str], tool_env: dict[str, str]
) -> None:
    repo, env = project, tool_env
    act = Act(repo, tmp_path, env, venv_tool("act"))
    base = git(repo, env, "rev-parse", "HEAD")

    # -- a pull request that changes a training setting ----------------------------------------
    git(repo, env, "checkout", "-q", "-b", "feature")
    spec = repo / "specs" / "finetunes" / "faq-tiny.yaml"
    text = spec.read_text()
    epochs = int(re.search(r"epochs: (\d+)", text).group(1))
    spec.write_text(text.replace(f"epochs: {epochs}", f"epochs: {epochs + 2}"))
    sh(repo, env, venv_tool("llmops"), "compile")
    git(repo, env, "commit", "-qam", "Train for two more epochs")
    git(repo, env, "push", "-q", "origin", "feature")
    head = git(repo, env, "rev-parse", "HEAD")

    def pr_event(sha: str) -> dict:
        return {
            "pull_request": {
                "number": 1,
                "head": {"sha": sha, "ref": "feature", "repo": {"full_name": REPO}},
                "base": {"sha": base, "ref": "main", "repo": {"full_name": REPO}},
            },
            "repository": {"full_name": REPO},
        }

    code, log = act.run("pull_request", pr_event(head), PR_WORKFLOW)
    # the results job fails on purpose: the branch does not carry CI's results yet
    assert code != 0, log[-6000:]
    validate = job_log(log, "Validate specs and generated files")
    checks = ("Validate the specs", "Check the generated files are up to date")
    for step in (*checks, "Plan what this pull request reruns"):
        assert re.search(rf"Success - Main {re.escape(step)} \[", validate), validate[-4000:]
    assert "Summary - " in validate  # the plan wrote its markdown to the step summary
    stages = re.findall(r"Running stage '([^']+)'", log)
    assert sorted(stages) == sorted(set(stages)) and len(stages) >= 6, stages  # each stage once
    eval_job = job_log(log, "Stage eval-faq-quality")
    assert "Running stage 'eval-faq-quality'" in eval_job
    assert "Running stage 'tune-" not in eval_job and "RAN" not in eval_job
    assert "inputs restored from the remote" in eval_job
    results = job_log(log, "llmops results")
    assert re.search(r"collected the results of (\d+) of \1 stages", results), results[-4000:]
    assert "does not carry these results" in log
    assert "Success - Main Commit CI's results to the pull request's branch" in log, log[-6000:]

    # the branch now ends with the bot's commit of CI's results
    git(repo, env, "fetch", "-q", "origin", "feature")
    results_sha = git(repo, env, "rev-parse", "origin/feature")
    assert results_sha != head
    assert git(repo, env, "log", "-1", "--format=%an", results_sha) == BOT
    changed = git(repo, env, "diff", "--name-only", head, results_sha).split()
    assert "dvc.lock" in changed and any(p.startswith("metrics/") for p in changed)
    git(repo, env, "merge", "-q", "--ff-only", "origin/feature")

    # -- CI on the results commit changes nothing ---------------------------------------------
    code, log = act.run("pull_request", pr_event(results_sha), PR_WORKFLOW)
    assert code == 0, log[-6000:]
    assert "Running stage" not in log
    assert "the commit carries exactly these results" in log
    assert "Main Commit CI's results to the pull request's branch" not in log  # nothing to commit
    diff = job_log(log, "llmops results")
    assert "Metrics diff" in diff

    # -- merged: the main workflow enforces, then deploys exactly the approved weights ---------
    git(repo, env, "checkout", "-q", "main")
    git(repo, env, "merge", "-q", "--no-ff", "feature", "-m", "Merge pull request #1 from org/feature")
    git(repo, env, "push", "-q", "origin", "main")
    merge = git(repo, env, "rev-parse", "HEAD")
    push = {"ref": "refs/heads/main", "before": base, "after": merge, "repository": {"full_name": REPO}}
    with FakeGitHub(repo=REPO) as api:
        api.merged_pull(1, head=results_sha, merge_commit=merge, base_sha=base, author="alice")
        api.review(1, "bob")  # on the head: the bot's results commit
        api.results_check(results_sha)
        api.tree_of(gitpython.Repo(repo).commit(results_sha))
        code, log = act.run("push", push, MAIN_WORKFLOW, {"GITHUB_API_URL": api.url}, token=api.token)
    pids = [int(p) for p in re.findall(r"is live on \S+ at \S+ \(pid (\d+)\)", log)]
    try:
        assert code == 0, log[-8000:]
        validate = job_log(log, "Validate specs and generated files")
        assert "allowed for the main branch" in validate, validate[-4000:]
        deploy = job_log(log, "Deploy faq to production")
        assert "holds the weights the committed dvc.lock approves" in deploy, deploy[-4000:]
        assert "approved by bob" in deploy and pids, deploy[-4000:]
    finally:
        for pid in pids:  # the engine the deploy left serving
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
