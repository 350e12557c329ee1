"""`llmops audit`: the approval record rebuilt from a real git history built in tmp_path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import git
import pytest

from llmops.audit import history
from llmops.cli.audit_cmd import build_report
from llmops.cli.main import main
from llmops.github import GitHub
from tests.fakes.github_api import FakeGitHub

PROJECT = "kind: Project\nname: demo\n"
TUNE = """kind: FineTune
name: tiny
base_model: {{hub: org/base, revision: 0123456789abcdef0123456789abcdef01234567}}
dataset: tickets
prompt: answer
method: {{type: lora, r: {r}}}
training: {{lr: {lr}, epochs: {epochs}}}
"""
DEPLOY = """kind: Deployment
name: prod
model: {{finetune: tiny}}
environment: production
policies: [release]
status: {status}
"""
POLICY = """kind: Policy
name: release
applies_to: {finetunes: [tiny], deployments: [prod]}
rules:
  - {type: threshold, suite: quality, metric: rougeL, min: 0.2}
"""
DATASET = "kind: Dataset\nname: tickets\nsources: [{path: t.jsonl, format: jsonl}]\n"

CAROL = git.Actor("Carol Coder", "carol@example.com")
MERGER = git.Actor("GitHub", "noreply@github.com")
EVE = git.Actor("Eve Pusher", "eve@example.com")


class History:
    """Writes files and commits them with fixed dates, so every row is predictable."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = git.Repo.init(root, initial_branch="main")
        self.day = 0

    def write(self, files: dict[str, str | None]) -> None:
        for path, text in files.items():
            target = self.root / path
            if text is None:
                target.unlink()
                self.repo.index.remove([path])
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.repo.index.add([path])

    def commit(
        self,
        message: str,
        files: dict[str, str | None],
        *,
        author=EVE,
        committer=None,
        parents=None,
        head: bool = True,
    ) -> git.Commit:
        self.write(files)
        self.day += 1
        when = datetime(2026, 1, self.day, 10, 0, tzinfo=UTC)
        return self.repo.index.commit(
            message,
            author=author,
            committer=committer or author,
            author_date=when,
            commit_date=when,
            parent_commits=parents,
            head=head,
        )


def metrics(eval_loss: float, rouge: float, passed: bool) -> dict[str, str]:
    return {
        "metrics/tune-tiny.json": json.dumps({"eval_loss": eval_loss, "train_loss": 0.5, "steps": 10}),
        "metrics/eval-quality.json": json.dumps(
            {"models": {"finetune:tiny": {"rougeL": rouge, "rougeL_ci_low": 0.1, "n": 15}}, "baselines": {}}
        ),
        "metrics/gate-release.json": json.dumps(
            {"passed": passed, "failed": 0 if passed else 1, "rules": []}
        ),
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("audit") / "repo"
    root.mkdir()
    h = History(root)
    shas: dict[str, str] = {}
    shas["init"] = h.commit(
        "Initial project",
        {
            "llmops.yaml": PROJECT,
            "specs/models/tiny.yaml": TUNE.format(r=8, lr=0.001, epochs=2),
            "specs/deploy/prod.yaml": DEPLOY.format(status="active"),
            "specs/policies/release.yaml": POLICY,
            "specs/data/tickets.yaml": DATASET,
        },
    ).hexsha
    # A pull request from a branch, merged with GitHub's merge commit.
    main_head = h.repo.head.commit
    branch = h.commit(
        "Raise the learning rate",
        {"specs/models/tiny.yaml": TUNE.format(r=8, lr=0.003, epochs=2), **metrics(1.5, 0.31, True)},
        author=CAROL,
        parents=[main_head],
        head=False,
    )
    h.repo.create_head("lr", branch)
    shas["merge"] = h.commit(
        "Merge pull request #12 from org/lr\n\nRaise the learning rate\n\n"
        "Approved-by: Alice Lead <alice@example.com>\nApproved-by: Bob Lead <bob@example.com>\n",
        {},
        author=MERGER,
        parents=[main_head, branch],
    ).hexsha
    # A squash merge, with a reviewer trailer; its gate fails.
    shas["squash"] = h.commit(
        "Tune rank (#13)\n\n* rank 16\n\nReviewed-by: Dave Review <dave@example.com>\n",
        {"specs/models/tiny.yaml": TUNE.format(r=16, lr=0.003, epochs=2), **metrics(1.4, 0.18, False)},
        author=CAROL,
        committer=MERGER,
    ).hexsha
    # A direct push, then its revert; a dataset change that the audit ignores.
    shas["direct"] = h.commit(
        "hotfix epochs",
        {
            "specs/models/tiny.yaml": TUNE.format(r=16, lr=0.003, epochs=9),
            "specs/data/tickets.yaml": DATASET + "#\n",
        },
    ).hexsha
    shas["revert"] = h.commit(
        f'Revert "hotfix epochs"\n\nThis reverts commit {shas["direct"]}.\n',
        {"specs/models/tiny.yaml": TUNE.format(r=16, lr=0.003, epochs=2)},
    ).hexsha
    # The file moves: still the same spec.
    shas["rename"] = h.commit(
        "Move the spec (#14)",
        {
            "specs/models/tiny.yaml": None,
            "specs/models/tiny-lora.yaml": TUNE.format(r=16, lr=0.003, epochs=2),
        },
    ).hexsha
    # A broken spec lands, then is fixed.
    shas["broken"] = h.commit("oops", {"specs/deploy/prod.yaml": "kind: Deployment\nname: [prod\n"}).hexsha
    shas["fixed"] = h.commit(
        "Fix prod (#15)", {"specs/deploy/prod.yaml": DEPLOY.format(status="active")}
    ).hexsha
    # Retirement, through a pull request.
    shas["retire"] = h.commit(
        "Retire prod (#16)\n\nApproved-by: Alice Lead <alice@example.com>\n",
        {"specs/deploy/prod.yaml": DEPLOY.format(status="retired")},
    ).hexsha
    return root, shas


def audit_json(root: Path, capsys, *extra: str) -> dict:
    assert main(["-C", str(root), "audit", "--format", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def rows_by_commit(report: dict) -> dict[tuple[str, str], dict]:
    return {(c["commit"], c["name"]): c for c in report["changes"]}


def test_audit_rows(project, capsys):
    root, shas = project
    report = audit_json(root, capsys)
    assert report["schema"] == "llmops/audit/v1"
    assert report["branch"] == "main"
    rows = rows_by_commit(report)
    names = {c["name"] for c in report["changes"]}
    assert names == {"tiny", "prod"}, "only FineTunes and Deployments are audited"
    assert all(c["kind"] in ("FineTune", "Deployment") for c in report["changes"])

    init = rows[(shas["init"], "tiny")]
    assert init["change"] == "added" and init["merge_style"] == "direct" and init["direct"] is True
    assert init["pr"] is None and init["approval_source"] == "none"
    assert rows[(shas["init"], "prod")]["change"] == "added"

    merge = rows[(shas["merge"], "tiny")]
    assert merge["change"] == "modified"
    assert merge["pr"] == 12 and merge["merge_style"] == "merge" and merge["direct"] is False
    assert merge["approvals"] == ["Alice Lead", "Bob Lead"]
    assert merge["approval_source"] == "merge-commit"
    assert merge["author"] == "Carol Coder <carol@example.com>"
    assert merge["merged_by"] == "GitHub <noreply@github.com>"
    assert merge["gate"] == {"release": "passed"}
    assert merge["metrics"]["tune.eval_loss"] == 1.5
    assert merge["metrics"]["quality.rougeL"] == 0.31
    assert "quality.rougeL_ci_low" not in merge["metrics"] and "quality.n" not in merge["metrics"]
    assert merge["date"] == "2026-01-03T10:00:00Z"

    squash = rows[(shas["squash"], "tiny")]
    assert squash["pr"] == 13 and squash["merge_style"] == "squash"
    assert squash["approvals"] == ["Dave Review"] and squash["approval_source"] == "trailer"
    assert squash["gate"] == {"release": "failed"}
    assert squash["metrics"]["quality.rougeL"] == 0.18

    direct = rows[(shas["direct"], "tiny")]
    assert direct["merge_style"] == "direct" and direct["direct"] and direct["pr"] is None
    assert any("direct push" in n for n in direct["notes"])
    assert (shas["direct"], "tickets") not in rows

    revert = rows[(shas["revert"], "tiny")]
    assert revert["change"] == "modified" and revert["revert_of"] == shas["direct"]

    moved = rows[(shas["rename"], "tiny")]
    assert moved["change"] == "modified" and moved["pr"] == 14
    assert (
        moved["renamed_from"] == "specs/models/tiny.yaml" and moved["path"] == "specs/models/tiny-lora.yaml"
    )

    broken = rows[(shas["broken"], "prod")]
    assert broken["parseable"] is False and broken["change"] == "modified" and broken["kind"] == "Deployment"
    assert broken["environment"] == "production"  # the last readable version says where it ran
    fixed = rows[(shas["fixed"], "prod")]
    assert fixed["parseable"] is True and fixed["pr"] == 15
    assert "no approval recorded" in fixed["notes"]

    retire = rows[(shas["retire"], "prod")]
    assert retire["change"] == "retired" and retire["status"] == "retired"
    assert retire["environment"] == "production" and retire["model"] == "finetune:tiny"
    assert retire["approvals"] == ["Alice Lead"]
    assert retire["gate"] == {"release": "failed"}  # the gate record last committed, at that commit

    specs = {s["name"]: s for s in report["specs"]}
    assert specs["prod"]["state"] == "retired" and specs["prod"]["retired_at"] == retire["date"]
    assert specs["tiny"]["state"] == "active" and specs["tiny"]["path"] == "specs/models/tiny-lora.yaml"
    # oldest first, one row per spec and commit
    assert [c["date"] for c in report["changes"]] == sorted(c["date"] for c in report["changes"])


def test_name_filter_and_renderings(project, capsys):
    root, shas = project
    report = audit_json(root, capsys, "--name", "prod")
    assert {c["name"] for c in report["changes"]} == {"prod"}

    assert main(["-C", str(root), "audit"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[1].split()[:4] == ["DATE", "KIND", "NAME", "CHANGE"]
    assert "#12" in table and "Alice Lead, Bob Lead" in table and "release:failed" in table
    assert "retired" in table and "without a pull request" in table
    assert "Deployment prod: retired since 2026-01-" in table

    assert main(["-C", str(root), "audit", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("## Audit of `main`")
    assert "| Date | Kind | Name |" in md and f"`{shas['merge'][:8]}`" in md
    assert "### Specs" in md


def test_usage_errors(project, tmp_path, capsys):
    root, _ = project
    assert main(["-C", str(root), "audit", "--branch", "nope"]) == 2
    assert "unknown branch" in capsys.readouterr().err
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["-C", str(plain), "audit"]) == 2
    assert "not inside a git repository" in capsys.readouterr().err
    assert main(["-C", str(root), "audit", "--github", "not-a-repo"]) == 2


def test_other_branch(project, capsys):
    root, _ = project
    report = audit_json(root, capsys, "--branch", "lr")
    subjects = [(c["subject"], c["name"], c["merge_style"]) for c in report["changes"]]
    assert subjects == [
        ("Initial project", "prod", "direct"),
        ("Initial project", "tiny", "direct"),
        ("Raise the learning rate", "tiny", "direct"),
    ]
    assert report["changes"][-1]["author"] == "Carol Coder <carol@example.com>"


def test_github_reviews_from_a_fake_api(project, monkeypatch, capsys):
    """With --github, a row's pull request is the one GitHub says was merged as its commit, and its
    approvals the latest reviews of that pull request's head (tests/audit/test_audit_github.py
    has the replayed-number cases)."""
    root, shas = project
    repo = git.Repo(root)
    with FakeGitHub() as api:
        merge = repo.commit(shas["merge"])
        api.merged_pull(12, head=merge.parents[1].hexsha, merge_commit=shas["merge"], author="dave")
        for login, state in [
            ("alice", "APPROVED"),
            ("bob", "CHANGES_REQUESTED"),
            ("alice", "COMMENTED"),
            ("carol", "APPROVED"),
            ("carol", "APPROVED"),
        ]:
            api.review(12, login, state)
        api.merged_pull(13, head=shas["squash"], merge_commit=shas["squash"])
        monkeypatch.setenv("GITHUB_TOKEN", api.token)
        monkeypatch.setenv("GITHUB_API_URL", api.url)
        report = audit_json(root, capsys, "--github", "org/repo")
    rows = rows_by_commit(report)
    merge = rows[(shas["merge"], "tiny")]
    assert merge["approval_source"] == "github-api" and merge["approvals"] == ["alice", "carol"]
    squash = rows[(shas["squash"], "tiny")]
    assert squash["approval_source"] == "github-api" and squash["approvals"] == []
    assert rows[(shas["direct"], "tiny")]["approval_source"] == "none"  # no PR on GitHub
    assert ("reviews", "/repos/org/repo/pulls/12/reviews?per_page=100&page=1") in api.calls


def test_github_outage_falls_back_to_trailers(project):
    root, shas = project
    down = GitHub("t", api="http://127.0.0.1:9")  # the discard port: refused at once
    report = build_report(git.Repo(root), "main", github="org/repo", api=down)
    merge = rows_by_commit(report)[(shas["merge"], "tiny")]
    assert merge["approval_source"] == "merge-commit" and merge["approvals"] == ["Alice Lead", "Bob Lead"]
    assert any("GitHub reviews unavailable" in n for n in merge["notes"])


def test_a_historical_commit_that_no_longer_parses_is_reported_not_crashed(tmp_path, capsys):
    """Specs written for an older llmops: the row says what does not parse and shows what does."""
    h = History(tmp_path)
    h.commit(
        "Initial (#1)",
        {"llmops.yaml": PROJECT, "specs/prod.yaml": DEPLOY.format(status="active"), "specs/rel.yaml": POLICY},
    )
    old_deploy = DEPLOY.format(status="active").replace("production", "staging") + "replicas: 3\n"
    shas = {
        "old": h.commit(
            "Scale prod (#2)", {"specs/prod.yaml": old_deploy, "llmops.yaml": PROJECT + "x: 1\n"}
        ),
        "now": h.commit("Today's format (#3)", {"specs/prod.yaml": DEPLOY.format(status="retired")}),
    }
    report = audit_json(tmp_path, capsys)
    rows = {c["commit"]: c for c in report["changes"]}
    old = rows[shas["old"].hexsha]
    assert old["parseable"] is False and old["environment"] == "staging" and old["status"] == "active"
    assert old["gate"] == {} and old["model"] == "finetune:tiny"
    assert any(
        n.startswith("spec does not parse at this commit: specs/prod.yaml:7:1: replicas: unknown field")
        for n in old["notes"]
    )
    assert any(n.startswith("llmops.yaml does not parse with this llmops (") for n in old["notes"])
    now = rows[shas["now"].hexsha]
    assert now["parseable"] is True and now["change"] == "retired" and now["environment"] == "production"
    assert main(["-C", str(tmp_path), "audit"]) == 0
    table = capsys.readouterr().out
    assert "modified (unparseable)" in table
    assert "! 2 change(s) at commits whose specs do not parse with this llmops" in table  # llmops.yaml too


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Subject\n\nBody\n\nApproved-by: A B <a@x>\nReviewed-by: C <c@x>\nApproved-by: A B <a@x>",
            ["A B", "C"],
        ),
        ("Subject\n\nApproved-by: A <a@x>\nnot a trailer line", []),
        ("Approved-by: only a subject", []),
        ("S\n\nSigned-off-by: X <x@x>\nReviewed-by: plain-name", ["plain-name"]),
    ],
)
def test_trailers(message, expected):
    assert history.approvals_from_trailers(message) == expected
