"""The scheduled monitor workflow closes the loop under act: a Deployment with `monitoring.loop`
and a gateway store holding corrections and ratings; the monitor job runs the monitor, exports
the feedback, pushes it with the Dataset spec edit on a new branch (a bare repository stands in
for GitHub's git) and opens the pull request through a fake GitHub API on loopback.

Run on the host (no Docker), with llmops preinstalled as in tests/integration/test_act_loop.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.test_act_loop import ANSI, REPO, URL, git, job_log, sh
from tests.loop.fake_pulls import FakePulls

MONITOR_WORKFLOW = ".github/workflows/llmops-monitor.yml"
LOOP = 'monitoring:\n  schedule: "0 6 * * *"\n  loop: {license: LicenseRef-feedback, min_new_feedback: 2}\n'


def fill_store(url: str, gateway_rows) -> None:
    rows = gateway_rows(url, "faq")
    now = time.time() - 3600  # inside the monitor's window

    def ask(question: str, answer: str) -> str:
        return rows.request(
            created_at=now + rows.count, text=f"Question: {question}\nAnswer:\n", response=answer
        )

    a = ask("How do I export my notes?", "You cannot.")
    b = ask("Can I share a notebook?", "Yes, from the share menu.")
    c = ask("Is there a dark mode?", "Maybe.")
    rows.feedback(a, created_at=now + 100, rating=1, correction="Use File > Export and pick Markdown.")
    rows.feedback(b, created_at=now + 101, rating=5)
    rows.feedback(c, created_at=now + 102, thumbs=-1)


@pytest.mark.slow
def test_monitor_job_opens_the_feedback_pull_request(
    tmp_path: Path, venv_tool: Callable[[str], str], tool_env: dict[str, str], gateway_rows
) -> None:
    env = tool_env
    origin = tmp_path / "origin.git"
    sh(tmp_path, env, "git", "init", "-q", "--bare", str(origin))
    repo = tmp_path / "repo"
    llmops = venv_tool("llmops")
    sh(
        tmp_path,
        env,
        llmops,
        "init",
        "--starter",
        "lifecycle",
        "--remote",
        str(tmp_path / "dvc-remote"),
        str(repo),
    )
    (repo / "llmops.yaml").write_text((repo / "llmops.yaml").read_text() + "ci:\n  install: preinstalled\n")
    spec = repo / "specs" / "deployments" / "faq.yaml"
    spec.write_text(spec.read_text() + LOOP)
    sh(repo, env, llmops, "compile")
    git(repo, env, "init", "-q", "-b", "main")
    git(repo, env, "config", f"url.{origin}.insteadOf", URL)
    git(repo, env, "remote", "add", "origin", URL)
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-qm", "A project whose monitor closes the loop")
    git(repo, env, "push", "-q", "origin", "main")
    base = git(repo, env, "rev-parse", "HEAD")
    db = f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    fill_store(db, gateway_rows)

    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"full_name": REPO}}))
    with FakePulls(repo=REPO) as api:
        cmd = [venv_tool("act"), "workflow_dispatch", "-W", MONITOR_WORKFLOW, "--eventpath", str(event)]
        cmd += ["-P", "ubuntu-latest=-self-hosted", "--no-cache-server", "--action-offline-mode"]
        cmd += ["--env", f"GITHUB_REPOSITORY={REPO}", "--env", f"GITHUB_API_URL={api.url}"]
        cmd += ["-s", f"GITHUB_TOKEN={api.token}", "-s", f"LLMOPS_FEEDBACK_DB_URL={db}"]
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    log = ANSI.sub("", proc.stdout + proc.stderr)
    (tmp_path / "act.log").write_text(log)
    job = job_log(log, "Monitor faq")
    assert proc.returncode == 0, job[-8000:] or log[-8000:]
    assert "Success - Main Monitor" in job
    assert "Success - Main Propose the new feedback as a pull request" in job, job[-6000:]

    # the pull request GitHub was asked to open
    [created] = api.created
    (tmp_path / "pr-body.md").write_text(created["body"])
    branch = created["head"]
    assert re.fullmatch(r"llmops/feedback-faq-\d{8}", branch) and created["base"] == "main"
    assert created["title"] == "Feedback from faq: 2 new row(s) for faq"
    assert "opened pull request #1" in job
    assert "new rows: **2**" in created["body"] and "LicenseRef-feedback" in created["body"]

    # the pushed branch: one bot commit on main with the export and the Dataset spec edit
    git(repo, env, "fetch", "-q", "origin", branch)
    head = git(repo, env, "rev-parse", "FETCH_HEAD")
    assert git(repo, env, "rev-parse", f"{head}^") == base
    assert git(repo, env, "log", "-1", "--format=%an", head) == "github-actions[bot]"
    changed = set(git(repo, env, "diff", "--name-only", base, head).split())
    assert {
        "data/feedback/faq.jsonl",
        "data/feedback/faq.provenance.json",
        "specs/datasets/faq.yaml",
    } <= changed
    assert not any(p.startswith(("metrics/", "plots/")) for p in changed)
    rows = [json.loads(x) for x in git(repo, env, "show", f"{head}:data/feedback/faq.jsonl").splitlines()]
    assert {r["answer"] for r in rows} == {
        "Use File > Export and pick Markdown.",
        "Yes, from the share menu.",
    }
    dataset = git(repo, env, "show", f"{head}:specs/datasets/faq.yaml")
    assert "data/feedback/faq.jsonl" in dataset and "LicenseRef-feedback" in dataset
    # the branch is compiled: CI's `llmops compile --check` passes on it
    git(repo, env, "checkout", "-q", head)
    sh(repo, env, llmops, "compile", "--check")
