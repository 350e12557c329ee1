"""`llmops loop open-pr`'s decisions against a real git origin and a fake GitHub: it waits for an
open loop pull request, opens none for too little feedback, and otherwise pushes exactly what the
export changed on a new branch and opens the pull request."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from llmops.compiler.kinds.deployment import Loop
from llmops.loop import pull_request
from llmops.loop.export import ExportSummary
from llmops.loop.target import LoopTarget
from tests.loop.fake_pulls import FakePulls

REPO = "org/repo"
TODAY = dt.date(2026, 3, 4)


def git(cwd: Path, *args: str) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    return subprocess.run(["git", *ident, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    root = tmp_path / "work"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "specs").mkdir()
    (root / "specs" / "support.yaml").write_text("kind: Dataset\nsources: []\n")
    (root / "metrics").mkdir()
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    git(root, "remote", "add", "origin", str(origin))
    git(root, "push", "-q", "origin", "main")
    # what the monitor step leaves behind: its metrics file (not to be committed by the loop)
    (root / "metrics" / "monitor-faq.json").write_text(json.dumps({"checks": [], "requests": {"count": 9}}))
    return root


def target(**loop: object) -> LoopTarget:
    return LoopTarget(
        deployment="faq",
        spec_path="specs/deployments/faq.yaml",
        spec_line=3,
        metrics_path="metrics/monitor-faq.json",
        main_branch="main",
        loop=Loop.model_validate({"license": "LicenseRef-feedback", "min_new_feedback": 2, **loop}),
        dataset="support",
        webhook_env=None,
    )


def fake_export(rows: int):
    def export(root: Path, t: LoopTarget, min_new: int) -> ExportSummary:
        export.min_new = min_new  # type: ignore[attr-defined]
        if rows < min_new:
            return ExportSummary(rows, output=f"only {rows} new rows (< {min_new})")
        (root / "data" / "feedback").mkdir(parents=True, exist_ok=True)
        (root / "data" / "feedback" / "faq.jsonl").write_text("".join(f'{{"n": {i}}}\n' for i in range(rows)))
        (root / "specs" / "support.yaml").write_text("kind: Dataset\nsources: [data/feedback/faq.jsonl]\n")
        return ExportSummary(rows, {"sft_rows": rows, "new_rows": rows}, "exported")

    return export


def run(root: Path, api: FakePulls, rows: int, monkeypatch: pytest.MonkeyPatch, **loop: object):
    monkeypatch.setenv("GITHUB_API_URL", api.url)
    monkeypatch.setattr(pull_request, "_compile", lambda root: None)
    export = fake_export(rows)
    outcome = pull_request.open_pr(
        root, target(**loop), repo=REPO, token=api.token, today=TODAY, export=export
    )
    return outcome, export


def test_opens_a_pull_request_with_only_the_exported_files(repo: Path, monkeypatch) -> None:
    with FakePulls(repo=REPO) as api:
        outcome, _ = run(repo, api, 3, monkeypatch)
    assert outcome.action == "opened" and outcome.branch == "llmops/feedback-faq-20260304"
    [created] = api.created
    assert created["head"] == "llmops/feedback-faq-20260304" and created["base"] == "main"
    assert created["title"] == "Feedback from faq: 3 new row(s) for support"
    assert "new rows: **3**" in created["body"] and "| requests | 9 |" in created["body"]
    files = git(repo, "show", "--name-only", "--format=%an", "origin/" + outcome.branch).split()
    # the bot's commit holds the export and the spec edit, not the monitor's metrics
    assert files == ["github-actions[bot]", "data/feedback/faq.jsonl", "specs/support.yaml"]


def test_waits_for_an_open_loop_pull_request(repo: Path, monkeypatch) -> None:
    with FakePulls(repo=REPO) as api:
        api.open_pull(8, head_ref="feature/other")
        api.open_pull(9, head_ref="llmops/feedback-faq-v2-20260301")  # another deployment's
        fork = api.open_pull(10, head_ref="llmops/feedback-faq-20260302")
        fork["head"]["repo"] = {"full_name": "mallory/repo"}
        outcome, _ = run(repo, api, 0, monkeypatch)
        assert outcome.action == "nothing"  # none of them stalls the loop
        api.open_pull(7, head_ref="llmops/feedback-faq-20260301")
        outcome, _ = run(repo, api, 50, monkeypatch)
    assert outcome.action == "waiting" and "#7" in outcome.message
    assert api.created == [] and not (repo / "data").exists()


def test_too_little_feedback_opens_nothing_unless_a_threshold_crossed(repo: Path, monkeypatch) -> None:
    with FakePulls(repo=REPO) as api:
        outcome, export = run(repo, api, 1, monkeypatch)
        assert outcome.action == "nothing" and export.min_new == 2 and api.created == []
        crossed = {"checks": [{"policy": "p", "threshold": "min_rating", "limit": 4, "status": "crossed"}]}
        (repo / "metrics" / "monitor-faq.json").write_text(json.dumps(crossed))
        outcome, export = run(repo, api, 1, monkeypatch)
    assert outcome.action == "opened" and export.min_new == 1
    assert api.created[0]["title"].endswith("(monitoring thresholds crossed)")
    assert "min_rating" in api.created[0]["body"]


def test_a_taken_branch_name_gets_a_suffix(repo: Path, monkeypatch) -> None:
    git(repo, "push", "-q", "origin", "main:refs/heads/llmops/feedback-faq-20260304")
    with FakePulls(repo=REPO) as api:
        outcome, _ = run(repo, api, 2, monkeypatch)
    assert outcome.branch == "llmops/feedback-faq-20260304-2"


def test_the_export_command_line() -> None:
    from llmops.loop.export import export_argv

    argv = export_argv(target(preference_dataset="support-prefs"), 5)
    assert argv[3:] == [
        "feedback", "export", "faq", "--license", "LicenseRef-feedback", "--add-to", "support",
        "--preferences", "--add-preferences-to", "support-prefs", "--min-new", "5", "--json",
    ]  # fmt: skip


def test_a_code_fence_is_longer_than_any_backtick_run_in_its_text() -> None:
    """Export output quotes feedback text: a ``` in it must not close the block it is shown in."""
    from llmops.loop.pull_request import _fence

    assert _fence("plain") == "```"
    assert _fence("a ``` b ```` c") == "`````"
