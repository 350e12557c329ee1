"""Trailer mode is an explicit local choice, never a fallback, and even there a trailer is a
person by email, counted once, never whoever made the change (issue 13, attack 5)."""

from __future__ import annotations

import git
import pytest

from llmops.audit import enforce
from llmops.cli.main import main
from tests.audit.gitproject import ALICE, BOB, TUNE, clear_ci_environment, failed, start

CHANGE = {"specs/tiny.yaml": TUNE.format(r=16)}
MALLORY = git.Actor("Mallory", "mallory@example.com")


@pytest.fixture(autouse=True)
def _no_ci_environment(monkeypatch):
    clear_ci_environment(monkeypatch)


def trailers(r, sha) -> enforce.Verdict:
    return enforce.check(r.repo, sha, source=enforce.Source(trailers=True))


def test_a_trailer_without_an_email_never_counts(tmp_path):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, CHANGE, [ALICE, "Approved-by: Mallory"])
    assert failed(trailers(r, sha))["approvals"].endswith(
        "; not counted: Mallory (a trailer without an email names nobody)"
    )


def test_one_person_counts_once_across_approved_by_and_reviewed_by(tmp_path):
    r = start(tmp_path / "repo")
    again = "Reviewed-by: A. Lead <ALICE@example.com>"
    sha = r.pull_request(2, CHANGE, [ALICE, again])
    assert failed(trailers(r, sha))["approvals"] == (
        "pull request #2 has 1 approval (Alice Lead); 2 needed (policy release: 2; protected environment "
        "production: 1); not counted: A. Lead <ALICE@example.com> again (one person counts once)"
    )


def test_whoever_made_the_change_does_not_approve_it(tmp_path):
    """Mallory merges her own change and approves it: as the merge's author, and as the author of
    the branch's commit; neither counts."""
    r = start(tmp_path / "repo")
    own = "Approved-by: Mallory <Mallory@Example.com>"
    sha = r.pull_request(2, CHANGE, [BOB, own], merger=MALLORY)
    reason = failed(trailers(r, sha))["approvals"]
    assert reason.endswith("not counted: Mallory <Mallory@Example.com> (the commit's author)")
    carol = r.pull_request(
        3, {"specs/tiny.yaml": TUNE.format(r=4)}, [BOB, "Reviewed-by: C <carol@example.com>"]
    )
    assert failed(trailers(r, carol))["approvals"].endswith(
        "not counted: C <carol@example.com> (wrote a commit of the pull request)"
    )


def test_without_a_source_enforce_refuses_and_says_how(tmp_path, capsys):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, CHANGE, [ALICE, BOB])
    assert failed(enforce.check(r.repo, sha))["approval source"] == enforce.NO_SOURCE
    assert main(["enforce", "-C", str(r.root), sha]) == 1
    err = capsys.readouterr().err
    assert (
        "approval source: approvals cannot be verified here: run in GitHub Actions with GITHUB_TOKEN" in err
    )
    assert "or pass --trailers (LLMOPS_TRUST_TRAILERS=1 for `llmops run`)" in err
    assert main(["enforce", "-C", str(r.root), "--trailers", sha]) == 0


def test_a_token_outside_actions_does_not_fall_back_to_trailers(tmp_path, capsys, monkeypatch):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, CHANGE, [ALICE, BOB])
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    assert main(["enforce", "-C", str(r.root), "--format", "json", sha]) == 1
    err = capsys.readouterr().err
    assert (
        "approval source: GITHUB_TOKEN is set but this is not GitHub Actions (GITHUB_ACTIONS is not 'true'), "
        "so which repository to ask is unknown: pass --github OWNER/REPO"
    ) in err
    assert "approvals never fall back to trailers" in err
    monkeypatch.setenv("LLMOPS_TRUST_TRAILERS", "1")  # explicitly: then trailers
    assert main(["enforce", "-C", str(r.root), sha]) == 0


def test_github_without_a_token_refuses(tmp_path, capsys):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, CHANGE, [ALICE, BOB])
    assert main(["enforce", "-C", str(r.root), "--github", "org/repo", sha]) == 1
    assert "--github org/repo needs GITHUB_TOKEN" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # argparse: one source or the other
        main(["enforce", "-C", str(r.root), "--github", "org/repo", "--trailers", sha])
    assert exited.value.code == 2


@pytest.mark.parametrize(("value", "code"), [("1", 0), ("true", 0), ("0", 1), ("maybe", 2)])
def test_the_environment_switch(tmp_path, monkeypatch, value, code):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, CHANGE, [ALICE, BOB])
    monkeypatch.setenv("LLMOPS_TRUST_TRAILERS", value)
    assert main(["enforce", "-C", str(r.root), sha]) == code
