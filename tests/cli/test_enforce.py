"""`llmops enforce` and the deploy check of `llmops run`: only a commit that reached main through
an approved pull request whose gates passed may act. Real git histories built with gitpython,
a real compiled project (its gate stage config), results files recorded in dvc.lock."""

from __future__ import annotations

import json

import pytest

from llmops.audit import codeowners, enforce
from llmops.cli.main import main
from llmops.github import GitHub
from tests.audit.gitproject import (
    ALICE,
    BOB,
    DEPLOY,
    GITHUB,
    PROJECT,
    TUNE,
    Repo,
    api_source,
    clear_ci_environment,
    failed,
    on_github,
    policy,
    start,
)
from tests.fakes.github_api import FakeGitHub


@pytest.fixture(autouse=True)
def _no_ci_environment(monkeypatch):
    clear_ci_environment(monkeypatch)


def verdict(r: Repo, ref: str = "HEAD", **kw) -> enforce.Verdict:
    """Trailer mode unless a source is given: these tests are about the rules, not the source."""
    kw.setdefault("source", enforce.Source(trailers=True))
    return enforce.check(r.repo, ref, **kw)


def test_an_approved_merge_whose_gate_passed_is_allowed(tmp_path):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB])
    v = verdict(r, sha)
    assert v.allowed, failed(v)
    assert (v.pr, v.merge_style, v.policies, v.required_approvals) == (2, "merge", ["release"], 2)
    assert v.approvals == ["Alice Lead", "Bob Lead"]
    assert [c.name for c in v.checks] == [
        "on branch",
        "pull request",
        "rules",
        "approvals",
        "gate release",
        "results fresh",
    ]
    assert v.approval_source == "merge-commit"
    assert any(n.startswith("trailer mode (--trailers)") for n in v.notes)


def test_a_direct_push_is_refused(tmp_path):
    r = start(tmp_path / "repo")
    r.write({"specs/tiny.yaml": TUNE.format(r=32)})
    r.commit("hotfix rank\n\n" + ALICE + "\n" + BOB + "\n")
    v = verdict(r)
    assert not v.allowed
    assert "did not arrive through a pull request (direct push: no pull request)" in failed(v)["pull request"]


def test_too_few_approvals_are_refused_with_the_count_and_why(tmp_path):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE])
    reasons = failed(verdict(r, sha))
    assert list(reasons) == ["approvals"]
    assert reasons["approvals"] == (
        "pull request #2 has 1 approval (Alice Lead); 2 needed "
        "(policy release: 2; protected environment production: 1)"
    )


def test_the_authors_own_approval_does_not_count(tmp_path):
    r = start(tmp_path / "repo")
    own = "Approved-by: Carol <carol@example.com>"
    sha = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, own])
    assert "has 1 approval (Alice Lead)" in failed(verdict(r, sha))["approvals"]


def test_a_failed_gate_is_refused_with_the_rule(tmp_path):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB], rouge=0.12)
    reasons = failed(verdict(r, sha))
    assert list(reasons) == ["gate release"]
    assert reasons["gate release"].startswith("gate release did not pass at this commit: rouge-floor:")
    assert "0.12" in reasons["gate release"]


def test_a_hand_edited_results_file_is_refused(tmp_path):
    r = start(tmp_path / "repo")
    base = r.repo.head.commit
    r.results(0.12)  # dvc.lock says 0.12 ...
    r.write({"metrics/eval-quality.json": json.dumps({"models": {"finetune:tiny": {"rougeL": 0.9}}})})
    branch = r.commit("edit results", parents=[base], head=False)
    r.repo.index.reset(branch)
    message = f"Merge pull request #3 from org/x\n\n{ALICE}\n{BOB}\n"
    sha = r.commit(message, author=GITHUB, parents=[base, branch])
    reasons = failed(verdict(r, sha.hexsha))
    assert "metrics/eval-quality.json is not what the pipeline wrote" in reasons["gate release"]


def test_a_policy_change_is_governed_by_that_policy(tmp_path):
    """Loosening a policy needs the approvals of the policy being loosened."""
    r = start(tmp_path / "repo")
    loosened = policy().replace("min: 0.2", "min: 0.0")
    sha = r.pull_request(2, {"specs/release.yaml": loosened}, [ALICE])
    assert "2 needed" in failed(verdict(r, sha))["approvals"]


def test_a_change_outside_every_policy_needs_only_a_pull_request(tmp_path):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, {"README.md": "docs\n"}, [])
    v = verdict(r, sha)
    # The release policy names tiny and prod, which this change does not touch; its gate is not read.
    assert v.allowed, failed(v)
    assert (v.required_approvals, v.policies) == (0, [])


def test_required_reviewers(tmp_path):
    r = start(tmp_path / "repo", reviewers='["@alice"]')
    ok = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB])
    assert verdict(r, ok).allowed
    missing = r.pull_request(
        3, {"specs/tiny.yaml": TUNE.format(r=4)}, [BOB, "Approved-by: Dan <dan@example.com>"]
    )
    assert failed(verdict(r, missing)) == {"required reviewers": "required reviewer @alice did not approve"}


def test_team_reviewers_need_the_api(tmp_path):
    r = start(tmp_path / "repo", reviewers='["@org/ml-leads"]')
    sha = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB])
    assert "cannot be read from git" in failed(verdict(r, sha))["required reviewers"]
    with FakeGitHub() as api:
        on_github(api, r, 2, sha)
        api.teams[("org", "ml-leads")] = ["alice"]
        v = verdict(r, sha, source=api_source(api))
        assert v.allowed, failed(v)
        assert (v.approval_source, v.approvals) == ("github-api", ["alice", "bob"])
        api.teams[("org", "ml-leads")] = ["dan"]
        assert failed(verdict(r, sha, source=api_source(api))) == {
            "required reviewers": "required reviewer @org/ml-leads did not approve"
        }
        api.fail["team_members"] = 500
        reasons = failed(verdict(r, sha, source=api_source(api)))
        assert reasons["required reviewers"] == (
            "team membership of @org/ml-leads could not be read: GET /orgs/org/teams/ml-leads/members"
            "?per_page=100&page=1: HTTP 500 (Server Error)"
        )


def test_code_owners(tmp_path):
    r = start(tmp_path / "repo", codeowners="true")
    dan = "Approved-by: Dan <dan@x.org>"
    without = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, dan])
    assert failed(verdict(r, without)) == {
        "code owners": "no code owner approved: specs/tiny.yaml (@bob)",
    }
    owner = r.pull_request(3, {"specs/tiny.yaml": TUNE.format(r=4)}, [ALICE, BOB])
    assert verdict(r, owner).allowed


def test_a_github_outage_fails_closed(tmp_path):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB])
    source = enforce.Source(github="org/repo", api=GitHub("t", api="http://127.0.0.1:9"))  # refused at once
    reasons = failed(verdict(r, sha, source=source))
    assert reasons["pull request"].startswith(
        f"{sha[:10]} ('Merge pull request #2 from org/feature-2') did not arrive through a pull request "
        f"merged into main as this commit: cannot ask GitHub which pull request merged {sha[:10]}: "
        f"GET /repos/org/repo/commits/{sha}/pulls?per_page=100&page=1: unreachable ("
    )
    assert "approvals" not in reasons  # nothing to count: refused already, never from trailers


def test_a_commit_not_on_main_is_refused(tmp_path):
    r = start(tmp_path / "repo")
    base = r.repo.head.commit
    r.write({"specs/tiny.yaml": TUNE.format(r=16)})
    side = r.commit("Side work (#7)\n\n" + ALICE + "\n" + BOB + "\n", parents=[base], head=False)
    assert "is not on the first-parent history of main" in failed(verdict(r, side.hexsha))["on branch"]


def test_deployment_checks(tmp_path):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB])
    assert verdict(r, sha, deployment="prod").allowed
    assert failed(verdict(r, sha, deployment="nope")) == {
        "deployment": "no Deployment 'nope' in the specs at this commit"
    }
    retired = r.pull_request(3, {"specs/prod.yaml": DEPLOY.format(status="retired")}, [ALICE, BOB])
    assert "retired" in failed(verdict(r, retired, deployment="prod"))["deployment"]


def test_cli_exit_codes_and_formats(tmp_path, capsys):
    r = start(tmp_path / "repo")
    r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE])
    root = str(r.root)
    assert main(["enforce", "-C", root, "--trailers", "--annotations"]) == 1
    captured = capsys.readouterr()
    assert "REFUSED for the main branch" in captured.out
    assert "refused: " in captured.err and "  - approvals: pull request #2 has 1 approval" in captured.err
    assert "::error title=llmops enforce%3A approvals::pull request #2" in captured.err
    assert main(["enforce", "-C", root, "--trailers", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["allowed"] is False and report["pr"] == 2
    assert main(["enforce", "-C", root, "--trailers", "--format", "markdown", "HEAD~1"]) == 0
    assert "| ✅ | pull request | #1 (squash merge) |" in capsys.readouterr().out
    assert main(["enforce", "-C", root, "--trailers", "no-such-ref"]) == 2
    assert "unknown commit or ref 'no-such-ref'" in capsys.readouterr().err


def test_run_refuses_a_deploy_that_did_not_land_approved(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LLMOPS_TRUST_TRAILERS", "1")  # a local run: trailers, explicitly
    r = start(tmp_path / "repo")
    r.write({"specs/tiny.yaml": TUNE.format(r=32)})
    r.compile()
    r.commit("direct push")
    assert main(["run", "-C", str(r.root), "deploy-prod"]) == 1
    assert "did not arrive through a pull request" in capsys.readouterr().err

    calls = []
    monkeypatch.setattr(
        "llmops.runners.registry.runner_for", lambda kind: lambda config, root: calls.append(config.stage)
    )
    r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB])
    (r.root / "specs/prod.yaml").write_text(DEPLOY.format(status="active") + "# local edit\n")
    assert main(["run", "-C", str(r.root), "deploy-prod"]) == 1
    assert "uncommitted changes: specs/prod.yaml" in capsys.readouterr().err
    r.repo.git.checkout("--", "specs/prod.yaml")
    assert main(["run", "-C", str(r.root), "deploy-prod"]) == 0
    assert calls == ["deploy-prod"]
    assert "arrived through pull request #2, approved by Alice Lead, Bob Lead" in capsys.readouterr().out
    monkeypatch.delenv("LLMOPS_TRUST_TRAILERS")
    assert main(["run", "-C", str(r.root), "deploy-prod"]) == 1
    assert (
        "approvals cannot be verified here: run in GitHub Actions with GITHUB_TOKEN"
        in capsys.readouterr().err
    )
    assert calls == ["deploy-prod"]


def test_a_historical_commit_that_no_longer_parses_is_reported_not_crashed(tmp_path, capsys):
    """A commit from an older llmops, whose specs this one rejects, is judged from what can be read
    of them (the policy's approvals, the project's governance) and the verdict says what was not."""
    r = start(tmp_path / "repo")
    old = {
        "llmops.yaml": PROJECT.format(approvals=1) + "retention_days: 30\n",
        "specs/release.yaml": policy().replace("rules:\n", "rules:\n  - {type: perplexity-cap, max: 9}\n"),
    }
    sha = r.pull_request(2, old, [ALICE], compile=False)
    v = verdict(r, sha)
    assert v.policies == ["release"] and v.required_approvals == 2  # as the policy asked
    assert list(failed(v)) == ["approvals"]
    notes = [n for n in v.notes if not n.startswith("trailer mode")]
    assert [n.split(" (", 1)[0] for n in notes] == [
        "llmops.yaml does not parse with this llmops",
        "specs/release.yaml does not parse with this llmops",
    ]
    assert "unknown field 'retention_days'" in notes[0] and "rules[0].type" in notes[1]
    assert main(["enforce", "-C", str(r.root), "--trailers", sha]) == 1
    assert "note: specs/release.yaml does not parse with this llmops" in capsys.readouterr().out

    broken = r.pull_request(
        3, {"specs/prod.yaml": "kind: Deployment\nname: [prod\n"}, [ALICE, BOB], compile=False
    )
    v = verdict(r, broken, deployment="prod")
    # Its base (the merge of #2) no longer parses: the rules cannot be read from it, so refused.
    assert failed(v)["deployment"] == "no Deployment 'prod' in the specs at this commit"
    assert failed(v)["rules"].startswith(
        f"the base {sha[:10]} does not parse with this llmops (llmops.yaml:5:1: retention_days: unknown field"
    )
    assert failed(v)["rules"].endswith(": the approval rules are read from the base, never leniently")
    assert any(
        n.startswith("specs/prod.yaml does not parse with this llmops (specs/prod.yaml:3:1: YAML")
        for n in v.notes
    )


@pytest.mark.parametrize(
    ("pattern", "path", "owned"),
    [
        ("*", "a/b.py", True),
        ("*.md", "docs/x/readme.md", True),
        ("/specs/", "specs/a.yaml", True),
        ("/specs/", "x/specs/a.yaml", False),
        ("specs/", "x/specs/a.yaml", True),
        ("docs/*", "docs/a.md", True),
        ("docs/*", "docs/build/a.md", False),
        ("/docs/**", "docs/build/a.md", True),
        ("**/logs", "a/b/logs/x.txt", True),
        ("apps/", "apps/x/y", True),
        ("/build/logs/", "build/logs/a", True),
        ("specs/models/tiny.yaml", "specs/models/tiny.yaml", True),
        ("specs/models/tiny.yaml", "specs/models/tiny.yaml.bak", False),
    ],
)
def test_codeowners_patterns(pattern, path, owned):
    rules = codeowners.parse(f"# owners\n{pattern} @x\n")
    assert bool(codeowners.owners_of(rules, path)) is owned


def test_codeowners_last_match_wins_and_empty_owners_unown():
    rules = codeowners.parse("* @all\n/specs/ @bob @org/team\n/specs/free.yaml\n")
    assert codeowners.owners_of(rules, "specs/a.yaml") == ("@bob", "@org/team")
    assert codeowners.owners_of(rules, "specs/free.yaml") == ()
    assert codeowners.owners_of(rules, "README.md") == ("@all",)
