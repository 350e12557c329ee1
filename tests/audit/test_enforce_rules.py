"""The rules come from the base: a pull request cannot lower the approvals it is judged by, and
an approval count is a whole number, checked at `llmops validate` (issue 13, attack 4)."""

from __future__ import annotations

import git
import pytest

from llmops.audit import enforce
from llmops.audit.specs import read_commit_specs
from llmops.cli.main import main
from tests.audit.gitproject import (
    ALICE,
    BOB,
    DEPLOY,
    PROJECT,
    TUNE,
    api_source,
    failed,
    on_github,
    policy,
    start,
)
from tests.fakes.github_api import FakeGitHub

TRAILERS = enforce.Source(trailers=True)


def test_a_pull_request_lowering_its_policys_min_still_needs_the_bases(tmp_path):
    r = start(tmp_path / "repo")
    base = r.repo.head.commit.hexsha
    sha = r.pull_request(2, {"specs/release.yaml": policy(min=0), "specs/tiny.yaml": TUNE.format(r=16)}, [])
    with FakeGitHub() as api:
        on_github(api, r, 2, sha, reviewers=[])
        v = enforce.check(r.repo, sha, source=api_source(api))
    assert v.required_approvals == 2
    assert failed(v) == {
        "approvals": f"pull request #2 has 0 approvals (nobody); 2 needed (policy release: 2 at the base "
        f"{base[:10]}; protected environment production: 1; policy release: 0 at this commit)"
    }


def test_a_pull_request_lowering_governance_approvals_still_needs_the_bases(tmp_path):
    r = start(tmp_path / "repo", approvals=3)
    base = r.repo.head.commit.hexsha
    lowered = {
        "llmops.yaml": PROJECT.format(approvals=0),
        "specs/prod.yaml": DEPLOY.format(status="active") + "#\n",
    }
    sha = r.pull_request(2, lowered, [ALICE, BOB])
    v = enforce.check(r.repo, sha, source=TRAILERS)
    assert failed(v) == {
        "approvals": "pull request #2 has 2 approvals (Alice Lead, Bob Lead); 3 needed (protected "
        f"environment production: 3 at the base {base[:10]}; policy release: 2; protected environment "
        "production: 0 at this commit)"
    }


def test_reviewers_and_code_owners_of_the_base_still_apply(tmp_path):
    r = start(tmp_path / "repo", reviewers='["@dan"]', codeowners="true")
    sha = r.pull_request(
        2, {"specs/release.yaml": policy(), "specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB]
    )
    assert failed(enforce.check(r.repo, sha, source=TRAILERS)) == {
        "required reviewers": "required reviewer @dan did not approve",
    }
    r = start(tmp_path / "again", reviewers='["@dan"]', codeowners="true")
    narrowed = policy().replace("finetunes: [tiny], deployments: [prod]", "environments: [staging]")
    sha = r.pull_request(3, {"specs/release.yaml": narrowed, "specs/tiny.yaml": TUNE.format(r=4)}, [ALICE])
    reasons = failed(enforce.check(r.repo, sha, source=TRAILERS))
    assert reasons["required reviewers"] == "required reviewer @dan did not approve"
    assert (
        reasons["code owners"] == "no code owner approved: specs/release.yaml (@bob); specs/tiny.yaml (@bob)"
    )
    assert reasons["approvals"].startswith("pull request #3 has 1 approval (Alice Lead); 2 needed")


def test_moving_a_deployment_out_of_a_protected_environment_keeps_the_bases_count(tmp_path):
    r = start(tmp_path / "repo", approvals=3)
    moved = {"specs/prod.yaml": DEPLOY.format(status="active").replace("production", "staging")}
    sha = r.pull_request(2, moved, [ALICE, BOB])
    v = enforce.check(r.repo, sha, deployment="prod", source=TRAILERS)
    assert "3 needed (protected environment production: 3" in failed(v)["approvals"]


def test_a_base_whose_rules_do_not_parse_refuses(tmp_path):
    r = start(tmp_path / "repo")
    # A base written before approval counts were strict integers (committed without validate).
    r.write({"specs/release.yaml": policy(min='"2"')})
    base = r.commit("Old policy (#2)\n\n" + ALICE + "\n" + BOB + "\n")
    sha = r.pull_request(3, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB], compile=False)
    reason = failed(enforce.check(r.repo, sha, source=TRAILERS))["rules"]
    assert reason == (
        f"the base {base.hexsha[:10]} does not parse with this llmops (specs/release.yaml:6:18: "
        "approvals.min: Input should be a valid integer): the approval rules are read from the base, "
        "never leniently"
    )


@pytest.mark.parametrize(
    ("file", "text", "where"),
    [
        ("specs/release.yaml", policy(min="2.0"), "specs/release.yaml:6:18: approvals.min"),
        ("specs/release.yaml", policy(min='"2"'), "specs/release.yaml:6:18: approvals.min"),
        ("llmops.yaml", PROJECT.format(approvals="2.0"), "llmops.yaml:4:63: governance.approvals"),
        ("llmops.yaml", PROJECT.format(approvals='"2"'), "llmops.yaml:4:63: governance.approvals"),
    ],
)
def test_an_approval_count_that_is_not_an_integer_is_a_validate_error(tmp_path, capsys, file, text, where):
    r = start(tmp_path / "repo")
    r.write({file: text})
    assert main(["-C", str(r.root), "validate"]) == 2
    assert f"{where}: Input should be a valid integer" in capsys.readouterr().err


def test_history_read_leniently_keeps_a_whole_number_count(tmp_path):
    """A historical commit from before counts were strict is read as it meant, not dropped for the
    default (which would loosen it); the note still says it does not parse."""
    r = start(tmp_path / "repo")
    r.write({"specs/release.yaml": policy(min="3.0"), "llmops.yaml": PROJECT.format(approvals='"4"')})
    commit = r.commit("old counts")
    specs = read_commit_specs(git.Repo(r.root).commit(commit.hexsha).tree)
    assert specs.policies()["release"].approvals.min == 3
    assert specs.project.governance.approvals == 4
    assert [n.split(" (", 1)[0] for n in specs.notes()] == [
        "llmops.yaml does not parse with this llmops",
        "specs/release.yaml does not parse with this llmops",
    ]


def test_a_pull_request_rewriting_codeowners_is_judged_by_the_bases(tmp_path):
    r = start(tmp_path / "repo", codeowners="true")
    sha = r.pull_request(
        2,
        {".github/CODEOWNERS": "* @alice\n", "specs/tiny.yaml": TUNE.format(r=16)},
        [ALICE, "Approved-by: D <d@x.org>"],
    )
    assert failed(enforce.check(r.repo, sha, source=TRAILERS)) == {
        "code owners": "no code owner approved: specs/tiny.yaml (@bob)"
    }
