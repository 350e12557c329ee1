"""`llmops enforce` in CI: the landing verified through the GitHub API (a fake one on loopback
answering the real endpoints' shapes), never taken from what the commit says of itself.

Issue 13's attacks 3 (replayed approvals) and 2 (results CI did not produce), and any API
failure, each refused with a reason that names what failed."""

from __future__ import annotations

import json

import pytest

from llmops.audit import enforce
from llmops.cli.main import main
from tests.audit.gitproject import ALICE, BOB, GITHUB, TUNE, api_source, failed, on_github, start
from tests.fakes.github_api import FakeGitHub, github_api  # noqa: F401 (a fixture)

CHANGE = {"specs/tiny.yaml": TUNE.format(r=16)}


@pytest.fixture
def api():
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def repo(tmp_path):
    return start(tmp_path / "repo")


def check(r, sha, api, **kw) -> enforce.Verdict:
    return enforce.check(r.repo, sha, source=api_source(api), **kw)


# -- what passes ------------------------------------------------------------------------------


def test_a_merge_github_verifies_is_allowed(repo, api):
    sha = repo.pull_request(2, CHANGE, [])  # GitHub's merge commits carry no trailers
    head = on_github(api, repo, 2, sha)
    v = check(repo, sha, api)
    assert v.allowed, failed(v)
    assert (v.pr, v.head, v.approval_source, v.approvals) == (2, head, "github-api", ["alice", "bob"])
    details = {c.name: c.detail for c in v.checks}
    assert details["pull request"] == (
        f"#2 (merge commit), verified with GitHub: merged into main as {sha[:10]}, head {head[:10]}"
    )
    assert details["results provenance"] == (
        f"'llmops results' succeeded on the head {head[:10]}, whose result files merged unchanged"
    )
    assert details["approvals"].startswith(
        "2 of 2 needed (policy release: 2; protected environment production: 1)"
    )
    assert ("commit_pulls", f"/repos/org/repo/commits/{sha}/pulls?per_page=100&page=1") in api.calls


def test_a_squash_merge_is_found_from_the_commit_not_its_subject(repo, api):
    squashed, head = repo.squash(7, CHANGE, subject="Tune the rank")
    on_github(api, repo, 7, squashed, head=head)
    v = check(repo, squashed, api)
    assert v.allowed, failed(v)
    assert (v.pr, v.merge_style) == (7, "squash")


def test_a_rebase_merge_reads_the_rules_of_the_pull_requests_base_too(repo, api):
    """A rebase of two commits: the first lowers the policy, so the landed commit's first parent
    is no base at all; the pull request's base SHA still is, and its count holds."""
    base = repo.repo.head.commit
    repo.write(
        {
            "specs/release.yaml": repo.root.joinpath("specs/release.yaml")
            .read_text()
            .replace("min: 2", "min: 0")
        }
    )
    first = repo.commit("Lower the bar", author=GITHUB)
    branch_head = repo.branch(9, CHANGE)
    repo.repo.index.reset(branch_head)
    landed = repo.commit("Tune the rank", parents=[first], author=GITHUB)
    api.merged_pull(9, head=branch_head.hexsha, merge_commit=landed.hexsha, base_sha=base.hexsha, commits=2)
    api.results_check(branch_head.hexsha)
    api.tree_of(branch_head)
    v = check(repo, landed.hexsha, api)
    assert v.merge_style == "rebase"
    assert failed(v)["approvals"] == (
        "pull request #9 has 0 approvals (nobody); 2 needed (policy release: 2 at the base "
        f"{base.hexsha[:10]}; protected environment production: 1; policy release: 0 at the base "
        f"{first.hexsha[:10]} and this commit)"
    )
    assert {c.name: c.detail for c in v.checks}["rules"].startswith(
        f"read from the base {first.hexsha[:10]} and the base {base.hexsha[:10]} and this commit"
    )


# -- attack 3: replayed approvals -------------------------------------------------------------


def test_a_direct_push_titled_like_a_squash_is_refused(repo, api):
    old = repo.pull_request(12, CHANGE, [])
    on_github(api, repo, 12, old)  # an old, unrelated, approved pull request #12
    repo.write({"specs/tiny.yaml": TUNE.format(r=32)})
    pushed = repo.commit("Tweak the model (#12)").hexsha
    v = check(repo, pushed, api)
    assert v.pr is None and v.approvals == []
    assert failed(v)["pull request"] == (
        f"{pushed[:10]} ('Tweak the model (#12)') did not arrive through a pull request merged into main "
        f"as this commit: GitHub lists no pull request merged into main as {pushed[:10]}: its message "
        f"names #12, but #12 was merged as {old[:10]}, not {pushed[:10]}"
    )
    assert "approvals" not in failed(v)  # no approval of #12 is looked at


def test_a_hand_made_merge_commit_naming_an_old_pull_request_is_refused(repo, api):
    old = repo.pull_request(12, CHANGE, [])
    on_github(api, repo, 12, old)
    fake = repo.pull_request(13, {"specs/tiny.yaml": TUNE.format(r=64)}, [], source="org/evil")
    # The hand-made merge says it is #12's: rewrite its message as an attacker would.
    commit = repo.repo.commit(fake)
    repo.repo.head.reset(commit.parents[0], index=True)
    forged = repo.commit(
        "Merge pull request #12 from org/evil\n", author=GITHUB, parents=list(commit.parents)
    )
    reason = failed(check(repo, forged.hexsha, api))["pull request"]
    assert reason.endswith(
        f"GitHub lists no pull request merged into main as {forged.hexsha[:10]}: its message names #12, "
        f"but #12 was merged as {old[:10]}, not {forged.hexsha[:10]}"
    )


def test_pull_requests_merged_elsewhere_or_not_at_all_do_not_count(repo, api):
    sha = repo.pull_request(2, CHANGE, [])
    head = repo.repo.commit(sha).parents[1].hexsha
    api.merged_pull(2, head=head, merge_commit=sha, base="develop")
    api.merged_pull(3, head=head, merge_commit=None, merged=False)
    api.commit_pulls[sha] = [2, 3]
    reason = failed(check(repo, sha, api))["pull request"]
    assert reason.endswith(
        f"GitHub lists no pull request merged into main as {sha[:10]}: #2 was merged into develop, not main; "
        "#3 is not merged"
    )


def test_a_review_of_another_commit_does_not_count(repo, api):
    sha = repo.pull_request(2, CHANGE, [])
    on_github(api, repo, 2, sha, reviewers=["alice"])
    api.review(2, "bob", commit="1234567890abcdef1234567890abcdef12345678")  # an earlier push
    reason = failed(check(repo, sha, api))["approvals"]
    head = repo.repo.commit(sha).parents[1].hexsha
    assert reason.startswith("pull request #2 has 1 approval (alice); 2 needed")
    assert reason.endswith(f"not counted: bob (approved 1234567890, not the head {head[:10]})")


def test_the_authors_own_review_does_not_count(repo, api):
    sha = repo.pull_request(2, CHANGE, [])
    on_github(api, repo, 2, sha, reviewers=["alice", "carol"])  # carol opened the pull request
    reason = failed(check(repo, sha, api))["approvals"]
    assert reason.endswith("not counted: carol (the pull request's author)")
    assert "has 1 approval (alice)" in reason


@pytest.mark.parametrize("later", ["CHANGES_REQUESTED", "DISMISSED"])
def test_a_later_review_supersedes_an_approval(repo, api, later):
    sha = repo.pull_request(2, CHANGE, [])
    on_github(api, repo, 2, sha)
    api.review(2, "bob", "COMMENTED")  # a comment decides nothing
    api.review(2, "alice", later)
    reason = failed(check(repo, sha, api))["approvals"]
    assert reason == (
        "pull request #2 has 1 approval (bob); 2 needed (policy release: 2; protected environment "
        f"production: 1); not counted: alice (approval superseded: latest review {later})"
    )


def test_an_approval_after_requested_changes_counts(repo, api):
    sha = repo.pull_request(2, CHANGE, [])
    on_github(api, repo, 2, sha, reviewers=[])
    for login, state in [("alice", "CHANGES_REQUESTED"), ("alice", "APPROVED"), ("bob", "APPROVED")]:
        api.review(2, login, state)
    assert check(repo, sha, api).allowed


# -- attack 2: results CI did not produce ----------------------------------------------------


def test_no_results_check_run_on_the_head_is_refused(repo, api):
    sha = repo.pull_request(2, CHANGE, [])
    head = on_github(api, repo, 2, sha)
    api.check_runs[head] = []
    api.results_check(head, app="mallorys-app")  # a check run by anyone else does not count
    assert failed(check(repo, sha, api)) == {
        "results provenance": "no 'llmops results' check run by GitHub Actions on the pull request's "
        f"head {head[:10]} (only by mallorys-app, which does not count): CI did not produce the results "
        "that merged"
    }


@pytest.mark.parametrize(
    ("conclusion", "status", "said"),
    [
        ("failure", "completed", "concluded failure: CI did not pass the results that merged"),
        (None, "in_progress", "has not completed (in_progress)"),
    ],
)
def test_a_results_check_run_that_did_not_succeed_is_refused(repo, api, conclusion, status, said):
    sha = repo.pull_request(2, CHANGE, [])
    head = on_github(api, repo, 2, sha)
    api.results_check(head, conclusion, status=status)  # the latest run: a re-run
    assert failed(check(repo, sha, api)) == {
        "results provenance": f"the 'llmops results' check run on the head {head[:10]} {said}"
    }


def test_results_that_differ_from_the_heads_are_refused(repo, api):
    """The metrics the gates read were edited after CI checked the head (and dvc.lock re-hashed to
    match): the merged commit's blobs are not the head's."""
    sha = repo.pull_request(2, CHANGE, [])
    head = on_github(api, repo, 2, sha)
    api.set_blob(head, "metrics/eval-quality.json", "f" * 40)
    api.set_blob(head, "dvc.lock", None)
    v = check(repo, sha, api)
    assert failed(v) == {
        "results provenance": f"the merged commit's results differ from the pull request's head {head[:10]}, "
        "which CI checked: dvc.lock (not at the head), metrics/eval-quality.json"
    }


# -- any failure to verify refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "check_name", "said"),
    [
        (
            "commit_pulls",
            "pull request",
            "cannot ask GitHub which pull request merged {sha}: GET /repos/org/repo/commits/{full}/pulls",
        ),
        (
            "pull",
            "pull request",
            "cannot read pull request #2: GET /repos/org/repo/pulls/2: HTTP 500 (Server Error)",
        ),
        ("reviews", "approvals", "cannot read the reviews of #2: GET /repos/org/repo/pulls/2/reviews"),
        (
            "check_runs",
            "results provenance",
            "cannot read the check runs of the head {head}: "
            "GET /repos/org/repo/commits/{fullhead}/check-runs",
        ),
        (
            "tree",
            "results provenance",
            "cannot read the head {head}'s tree: "
            "GET /repos/org/repo/git/trees/{fullhead}?recursive=1: HTTP 500",
        ),
    ],
)
def test_an_api_failure_refuses_naming_the_endpoint(repo, api, endpoint, check_name, said):
    sha = repo.pull_request(2, CHANGE, [])
    head = on_github(api, repo, 2, sha)
    api.fail[endpoint] = 500
    reasons = failed(check(repo, sha, api))
    expected = said.format(sha=sha[:10], full=sha, head=head[:10], fullhead=head)
    assert expected in reasons[check_name], reasons
    assert "HTTP 500 (Server Error)" in reasons[check_name]


def test_a_wrong_token_refuses(repo, api):
    sha = repo.pull_request(2, CHANGE, [])
    on_github(api, repo, 2, sha)
    source = api_source(api)
    api.token = "another"
    reason = failed(enforce.check(repo.repo, sha, source=source))["pull request"]
    assert reason.endswith(
        f"GET /repos/org/repo/commits/{sha}/pulls?per_page=100&page=1: HTTP 401 (Bad credentials)"
    )


# -- the command line in GitHub Actions ---------------------------------------------------------


def test_enforce_in_actions_reads_github(repo, github_api, capsys):  # noqa: F811 (the fixture)
    sha = repo.pull_request(2, CHANGE, [ALICE, BOB])  # trailers are ignored: GitHub decides
    on_github(github_api, repo, 2, sha, reviewers=["alice"])
    assert main(["enforce", "-C", str(repo.root), "--format", "json", sha]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["approval_source"], report["approvals"]) == ("github-api", ["alice"])
    github_api.review(2, "bob")
    assert main(["enforce", "-C", str(repo.root), sha]) == 0
    assert "approvals: alice, bob (github-api)" in capsys.readouterr().out


def test_trailers_in_actions_with_a_token_are_a_usage_error(repo, github_api, capsys, monkeypatch):  # noqa: F811
    assert main(["enforce", "-C", str(repo.root), "--trailers"]) == 2
    assert (
        "inside GitHub Actions with GITHUB_TOKEN, approvals come from the GitHub API"
        in capsys.readouterr().err
    )
    monkeypatch.setenv("LLMOPS_TRUST_TRAILERS", "1")
    assert main(["run", "-C", str(repo.root), "deploy-prod"]) == 2


def test_deploy_in_actions_verifies_through_github(repo, github_api, capsys, monkeypatch):  # noqa: F811
    calls = []
    monkeypatch.setattr(
        "llmops.runners.registry.runner_for", lambda kind: lambda config, root: calls.append(config.stage)
    )
    sha = repo.pull_request(2, CHANGE, [])
    on_github(github_api, repo, 2, sha)
    assert main(["run", "-C", str(repo.root), "deploy-prod"]) == 0
    assert calls == ["deploy-prod"]
    assert "arrived through pull request #2, approved by alice, bob (github-api)" in capsys.readouterr().out
    github_api.check_runs.clear()
    assert main(["run", "-C", str(repo.root), "deploy-prod"]) == 1
    assert "results provenance: no 'llmops results' check run" in capsys.readouterr().err
