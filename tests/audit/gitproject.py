"""A compiled llmops project in a real git repository (gitpython, in tmp_path), with the landings
GitHub makes (merge commits, squash merges) and the landings an attacker makes (a direct push
titled like a squash, a hand-made merge commit): shared by the enforcement tests."""

from __future__ import annotations

import json
from pathlib import Path

import git

from llmops.audit import enforce
from llmops.compiler.compile import compile_project
from llmops.compiler.parse import load_project
from llmops.github import GitHub
from tests.fakes.dvc_lock import write_fresh_lock

PROJECT = """kind: Project
name: demo
storage: {{remote: {{url: /srv/dvc-remote}}}}
governance: {{protected_environments: [production], approvals: {approvals}}}
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
approvals: {{min: {min}, reviewers: {reviewers}, codeowners: {codeowners}}}
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


def policy(min: int | str = 2, reviewers: str = "[]", codeowners: str = "false") -> str:
    return POLICY.format(min=min, reviewers=reviewers, codeowners=codeowners)


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
        """What `dvc repro` leaves: the eval results, and a dvc.lock fresh against the specs."""
        text = json.dumps({"models": {"finetune:tiny": {"rougeL": rouge, "n": 10}}, "baselines": {}})
        self.write({"metrics/eval-quality.json": text})
        if (self.root / "dvc.yaml").is_file():
            write_fresh_lock(self.root)

    def compile(self) -> None:
        result = compile_project(load_project(self.root))
        self.write(result.files)

    def commit(self, message: str, *, author=CAROL, committer=None, parents=None, head=True) -> git.Commit:
        """Everything in the working tree, committed (enforcement reads no dates)."""
        self.repo.git.add("-A")
        return self.repo.index.commit(
            message, author=author, committer=committer or author, parent_commits=parents, head=head
        )

    def branch(
        self, number: int, files: dict[str, str], *, rouge=0.31, compile=True, author=CAROL
    ) -> git.Commit:
        """A pull request's branch off the main branch's tip: `files` changed, results rerun."""
        base = self.repo.head.commit
        self.write(files)
        if compile:
            self.compile()
        self.results(rouge)
        return self.commit(f"change for #{number}", parents=[base], head=False, author=author)

    def pull_request(
        self,
        number: int,
        files: dict[str, str],
        trailers: list[str],
        *,
        rouge=0.31,
        compile=True,
        merger=GITHUB,
        source: str | None = None,
    ) -> str:
        """A feature branch changing `files`, merged with a GitHub-shaped merge commit."""
        base = self.repo.head.commit
        branch = self.branch(number, files, rouge=rouge, compile=compile)
        self.repo.create_head(f"feature-{number}", branch)
        message = f"Merge pull request #{number} from {source or f'org/feature-{number}'}\n\nchange\n"
        if trailers:
            message += "\n" + "\n".join(trailers) + "\n"
        self.repo.index.reset(branch)  # the merge's tree is the branch's (a fast-forwardable merge)
        return self.commit(message, author=merger, parents=[base, branch]).hexsha

    def squash(self, number: int, files: dict[str, str], *, subject: str = "Change") -> tuple[str, str]:
        """A pull request's branch and its squash merge onto main: (squash SHA, head SHA)."""
        base = self.repo.head.commit
        branch = self.branch(number, files)
        self.repo.index.reset(branch)
        squashed = self.commit(f"{subject} (#{number})", author=CAROL, committer=GITHUB, parents=[base])
        return squashed.hexsha, branch.hexsha


def start(
    root: Path,
    *,
    reviewers: str = "[]",
    codeowners: str = "false",
    min: int = 2,
    approvals: int = 1,
) -> Repo:
    r = Repo(root)
    r.write(
        {
            "llmops.yaml": PROJECT.format(approvals=approvals),
            "data/t.jsonl": '{"text": "hi", "answer": "hello"}\n',
            "specs/tickets.yaml": DATASET,
            "specs/answer.yaml": PROMPT,
            "specs/tiny.yaml": TUNE.format(r=8),
            "specs/quality.yaml": EVAL,
            "specs/release.yaml": policy(min, reviewers, codeowners),
            "specs/prod.yaml": DEPLOY.format(status="active"),
            ".github/CODEOWNERS": "*.md @docs-team\n/specs/ @bob\n",
        }
    )
    r.compile()
    r.results(0.31)
    r.commit("Initial project (#1)\n\n" + ALICE + "\n" + BOB + "\n")
    return r


def failed(v) -> dict[str, str]:
    return {c.name: c.detail for c in v.refusals()}


def api_source(api) -> enforce.Source:
    """Enforcement reading GitHub through the real client, pointed at the fake API."""
    return enforce.Source(github=api.repo, api=GitHub(api.token, api=api.url))


def on_github(api, r: Repo, number: int, merged: str, *, head: str | None = None, reviewers=("alice", "bob")):
    """What GitHub holds for a pull request merged as `merged` (a merge commit unless `head` is
    given): the pull request, approving reviews on its head, the `llmops results` check run
    that succeeded on the head, and the head's tree."""
    commit = r.repo.commit(merged)
    head_commit = r.repo.commit(head) if head else commit.parents[1]
    api.merged_pull(number, head=head_commit.hexsha, merge_commit=merged, base_sha=commit.parents[0].hexsha)
    for login in reviewers:
        api.review(number, login)
    api.results_check(head_commit.hexsha)
    api.tree_of(head_commit)
    return head_commit.hexsha


# What a CI run of the tests would set, and what decides where enforce takes approvals from.
CI_ENVIRONMENT = (
    "GITHUB_TOKEN",
    "GITHUB_ACTIONS",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "LLMOPS_TRUST_TRAILERS",
)


def clear_ci_environment(monkeypatch) -> None:
    """These tests choose their approval source; the CI running them must not choose for them."""
    for name in CI_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
