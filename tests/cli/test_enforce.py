"""`llmops enforce` and the deploy check of `llmops run`: only a commit that reached main through
an approved pull request whose gates passed may act. Real git histories built with gitpython,
a real compiled project (its gate stage config), results files recorded in dvc.lock."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import git
import pytest

from llmops.audit import codeowners, enforce
from llmops.cli.main import main
from llmops.compiler.compile import compile_project
from llmops.compiler.parse import load_project

PROJECT = """kind: Project
name: demo
governance: {protected_environments: [production], approvals: 1}
"""
DATASET = "kind: Dataset\nname: tickets\nsources: [{path: data/t.jsonl}]\n"
PROMPT = "kind: Prompt\nname: answer\ntemplate: 'Q: {{ text }}'\nvariables: [text]\ncompletion: answer\n"
TUNE = """kind: FineTune
name: tiny
base_model: {{hub: org/base, revision: 0123456789abcdef0123456789abcdef01234567}}
dataset: tickets
prompt: answer
method: {{type: lora, r: {r}}}
"""
EVAL = """kind: EvalSuite
name: quality
models: [{finetune: tiny}]
dataset: tickets
prompt: answer
metrics: [{name: rouge}]
"""
POLICY = """kind: Policy
name: release
applies_to: {{finetunes: [tiny], deployments: [prod]}}
rules:
  - {{name: rouge-floor, type: threshold, suite: quality, metric: rougeL, min: 0.2}}
approvals: {{min: 2, reviewers: {reviewers}, codeowners: {codeowners}}}
"""
DEPLOY = """kind: Deployment
name: prod
model: {{finetune: tiny}}
environment: production
policies: [release]
status: {status}
"""
CAROL = git.Actor("Carol Coder", "carol@example.com")
GITHUB = git.Actor("GitHub", "noreply@github.com")
ALICE = "Approved-by: Alice Lead <alice@example.com>"
BOB = "Approved-by: Bob Lead <bob@example.com>"


class Repo:
    """A project repository on disk: files, compile, a results file recorded in dvc.lock, commits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = git.Repo.init(root, initial_branch="main")

    def write(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_text(text)

    def results(self, rouge: float) -> None:
        """What `dvc repro` leaves: the eval results and dvc.lock recording their md5."""
        text = json.dumps({"models": {"finetune:tiny": {"rougeL": rouge, "n": 10}}, "baselines": {}})
        self.write({"metrics/eval-quality.json": text})
        lock = {
            "schema": "2.0",
            "stages": {
                "eval-quality": {
                    "cmd": "llmops run eval-quality",
                    "outs": [
                        {
                            "path": "metrics/eval-quality.json",
                            "hash": "md5",
                            "md5": hashlib.md5(text.encode()).hexdigest(),
                            "size": len(text),
                        }
                    ],
                }
            },
        }
        self.write({"dvc.lock": json.dumps(lock)})

    def compile(self) -> None:
        result = compile_project(load_project(self.root))
        self.write(result.files)

    def commit(self, message: str, *, author=CAROL, committer=None, parents=None, head=True) -> git.Commit:
        """Everything in the working tree, committed (enforcement reads no dates)."""
        self.repo.git.add("-A")
        return self.repo.index.commit(
            message, author=author, committer=committer or author, parent_commits=parents, head=head
        )

    def pull_request(
        self, number: int, files: dict[str, str], trailers: list[str], *, rouge=0.31, compile=True
    ) -> str:
        """A feature branch changing `files`, merged with a GitHub-shaped merge commit."""
        base = self.repo.head.commit
        self.write(files)
        self.results(rouge)
        if compile:
            self.compile()
        branch = self.commit(f"change for #{number}", parents=[base], head=False)
        self.repo.create_head(f"feature-{number}", branch)
        message = f"Merge pull request #{number} from org/feature-{number}\n\nchange\n"
        if trailers:
            message += "\n" + "\n".join(trailers) + "\n"
        self.repo.index.reset(branch)  # the merge's tree is the branch's (a fast-forwardable merge)
        return self.commit(message, author=GITHUB, parents=[base, branch]).hexsha


def start(root: Path, *, reviewers: str = "[]", codeowners: str = "false") -> Repo:
    r = Repo(root)
    r.write(
        {
            "llmops.yaml": PROJECT,
            "data/t.jsonl": '{"text": "hi", "answer": "hello"}\n',
            "specs/tickets.yaml": DATASET,
            "specs/answer.yaml": PROMPT,
            "specs/tiny.yaml": TUNE.format(r=8),
            "specs/quality.yaml": EVAL,
            "specs/release.yaml": POLICY.format(reviewers=reviewers, codeowners=codeowners),
            "specs/prod.yaml": DEPLOY.format(status="active"),
            ".github/CODEOWNERS": "*.md @docs-team\n/specs/ @bob\n",
        }
    )
    r.results(0.31)
    r.compile()
    r.commit("Initial project (#1)\n\nApproved-by: Alice Lead <alice@example.com>\n" + BOB + "\n")
    return r


def verdict(r: Repo, ref: str = "HEAD", **kw) -> enforce.Verdict:
    return enforce.check(r.repo, ref, **kw)


def failed(v: enforce.Verdict) -> dict[str, str]:
    return {c.name: c.detail for c in v.refusals()}


def test_an_approved_merge_whose_gate_passed_is_allowed(tmp_path):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB])
    v = verdict(r, sha)
    assert v.allowed, failed(v)
    assert (v.pr, v.merge_style, v.policies, v.required_approvals) == (2, "merge", ["release"], 2)
    assert v.approvals == ["Alice Lead", "Bob Lead"]
    assert [c.name for c in v.checks] == ["on branch", "pull request", "approvals", "gate release"]


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
    loosened = POLICY.format(reviewers="[]", codeowners="false").replace("min: 0.2", "min: 0.0")
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
    members = {("org", "ml-leads"): ["alice"]}
    v = verdict(
        r,
        sha,
        github="org/repo",
        fetch_reviews=lambda repo, n: [
            {"user": {"login": "alice"}, "state": "APPROVED"},
            {"user": {"login": "bob"}, "state": "APPROVED"},
        ],
        fetch_team=lambda org, team: members[(org, team)],
    )
    assert v.allowed, failed(v)
    assert v.approval_source == "github-api"


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

    def down(repo, number):
        raise OSError("connection refused")

    reasons = failed(verdict(r, sha, github="org/repo", fetch_reviews=down))
    assert reasons["approvals"].startswith("GitHub reviews unavailable: connection refused; refusing")


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
    assert main(["enforce", "-C", root, "--annotations"]) == 1
    captured = capsys.readouterr()
    assert "REFUSED for the main branch" in captured.out
    assert "refused: " in captured.err and "  - approvals: pull request #2 has 1 approval" in captured.err
    assert "::error title=llmops enforce%3A approvals::pull request #2" in captured.err
    assert main(["enforce", "-C", root, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["allowed"] is False and report["pr"] == 2
    assert main(["enforce", "-C", root, "--format", "markdown", "HEAD~1"]) == 0
    assert "| ✅ | pull request | #1 (squash merge) |" in capsys.readouterr().out
    assert main(["enforce", "-C", root, "no-such-ref"]) == 2
    assert "unknown commit or ref 'no-such-ref'" in capsys.readouterr().err


def test_run_refuses_a_deploy_that_did_not_land_approved(tmp_path, capsys, monkeypatch):
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


def test_a_historical_commit_that_no_longer_parses_is_reported_not_crashed(tmp_path, capsys):
    """A commit from an older llmops, whose specs this one rejects, is judged from what can be read
    of them (the policy's approvals, the project's governance) and the verdict says what was not."""
    r = start(tmp_path / "repo")
    policy = POLICY.format(reviewers="[]", codeowners="false")
    old = {
        "llmops.yaml": PROJECT + "retention_days: 30\n",
        "specs/release.yaml": policy.replace("rules:\n", "rules:\n  - {type: perplexity-cap, max: 9}\n"),
    }
    sha = r.pull_request(2, old, [ALICE], compile=False)
    v = verdict(r, sha)
    assert v.policies == ["release"] and v.required_approvals == 2  # as the policy asked
    assert list(failed(v)) == ["approvals"]
    assert [n.split(" (", 1)[0] for n in v.notes] == [
        "llmops.yaml does not parse with this llmops",
        "specs/release.yaml does not parse with this llmops",
    ]
    assert "unknown field 'retention_days'" in v.notes[0] and "rules[0].type" in v.notes[1]
    assert main(["enforce", "-C", str(r.root), sha]) == 1
    assert "note: specs/release.yaml does not parse with this llmops" in capsys.readouterr().out

    broken = r.pull_request(
        3, {"specs/prod.yaml": "kind: Deployment\nname: [prod\n"}, [ALICE, BOB], compile=False
    )
    v = verdict(r, broken, deployment="prod")
    assert failed(v) == {"deployment": "no Deployment 'prod' in the specs at this commit"}
    assert v.notes[1].startswith("specs/prod.yaml does not parse with this llmops (specs/prod.yaml:3:1: YAML")


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
