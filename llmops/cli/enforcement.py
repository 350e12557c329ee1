"""The enforcement verdict for a commit of the project, shared by two commands: `llmops enforce`
prints it, and `llmops run deploy-<name>` refuses to act without it. A CLI helper, not a command:
command modules never import each other, so what both need lives here.

The checks themselves are `llmops.audit.enforce`; this module only finds their inputs: the
repository, the main branch the project names, and where approvals come from (the GitHub API
with `--github` or inside Actions when GITHUB_TOKEN is set, else commit trailers).
"""

from __future__ import annotations

import os
import sys

from llmops.errors import UsageError
from llmops.github import is_owner_repo
from llmops.gitrepo import find_commit, open_repo


def github_source(explicit: str | None) -> tuple[str | None, str | None]:
    """(owner/repo, token) for the reviews API: `--github`, else the Actions environment."""
    if explicit is not None and not is_owner_repo(explicit):
        raise UsageError(f"--github takes owner/repo, not '{explicit}'")
    token = os.environ.get("GITHUB_TOKEN") or None
    if token is None:
        if explicit:
            print("llmops: GITHUB_TOKEN is not set; approvals come from commit trailers", file=sys.stderr)
        return None, None
    repo = explicit
    if repo is None and os.environ.get("GITHUB_ACTIONS") == "true":
        repo = os.environ.get("GITHUB_REPOSITORY") or None
        if repo is not None and not is_owner_repo(repo):
            raise UsageError(f"GITHUB_REPOSITORY is '{repo}', not owner/repo")
    return (repo, token) if repo else (None, None)


def verdict_for(project: str, ref: str, branch: str | None, deployment: str | None, github: str | None):
    """Run every check (see llmops.audit.enforce) for `ref` of the project's repository."""
    from llmops.audit import enforce
    from llmops.github import GitHub

    repo, prefix = open_repo(project, "the audit is read from git history")
    branch = branch or _main_branch(repo, prefix)
    owner_repo, token = github_source(github)
    find_commit(repo, ref, "commit or ref")
    client = GitHub(token) if token else None
    return enforce.check(
        repo,
        ref,
        branch=branch,
        prefix=prefix,
        deployment=deployment,
        github=owner_repo,
        fetch_reviews=client.reviews if client else None,
        fetch_team=client.team_members if client else None,
    )


def _main_branch(repo, prefix: str) -> str:
    """`governance.main_branch` of llmops.yaml at HEAD, as the compiler reads it."""
    from llmops.audit.specs import main_branch

    try:
        tree = repo.head.commit.tree
    except ValueError:  # no commits yet
        tree = None
    return main_branch(tree, prefix)


def refusal_message(verdict) -> str:
    lines = [
        f"refused: {verdict.commit[:10]} may not act for the {verdict.target}: it did not reach "
        f"{verdict.branch} through an approved pull request whose gates passed"
    ]
    lines += [f"  - {c.name}: {c.detail}" for c in verdict.refusals()]
    return "\n".join(lines)
