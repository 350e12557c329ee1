"""The enforcement verdict for a commit of the project, shared by two commands: `llmops enforce`
prints it, and `llmops run deploy-<name>` refuses to act without it. A CLI helper, not a command:
command modules never import each other, so what both need lives here.

The checks themselves are `llmops.audit.enforce`; this module only finds their inputs: the
repository, the main branch the project names, and where approvals come from, which is always
explicit:

* the GitHub API, inside GitHub Actions with GITHUB_TOKEN set (the repository is
  GITHUB_REPOSITORY), or anywhere with `--github OWNER/REPO` and GITHUB_TOKEN;
* the commit's trailers, only when asked for: `llmops enforce --trailers`, or
  `LLMOPS_TRUST_TRAILERS=1` (the way `llmops run deploy-<name>` and scripts ask);
* otherwise nothing, and the verdict refuses saying which of the two to use. A token outside
  Actions without `--github` refuses too: the repository to ask is unknown, and trailers are
  never a silent fallback.
"""

from __future__ import annotations

import os

from llmops.errors import UsageError
from llmops.github import is_owner_repo

TRUST_TRAILERS_ENV = "LLMOPS_TRUST_TRAILERS"
_ON, _OFF = ("1", "true", "yes"), ("", "0", "false", "no")


def trailers_requested(flag: bool = False) -> bool:
    """`--trailers`, or LLMOPS_TRUST_TRAILERS=1 in the environment."""
    value = os.environ.get(TRUST_TRAILERS_ENV, "").strip().lower()
    if value not in _ON + _OFF:
        raise UsageError(
            f"{TRUST_TRAILERS_ENV} is '{value}': set it to 1 to trust commit trailers, or unset it"
        )
    return flag or value in _ON


def approval_source(explicit: str | None, trailers: bool):
    """Where approvals come from (`llmops.audit.enforce.Source`), from `--github`, `--trailers`
    (or LLMOPS_TRUST_TRAILERS) and the environment."""
    from llmops.audit.enforce import Source
    from llmops.github import GitHub

    if explicit is not None and not is_owner_repo(explicit):
        raise UsageError(f"--github takes owner/repo, not '{explicit}'")
    token = os.environ.get("GITHUB_TOKEN") or None
    in_actions = os.environ.get("GITHUB_ACTIONS") == "true"
    if explicit is not None and trailers:
        raise UsageError(
            "--github and --trailers (or LLMOPS_TRUST_TRAILERS) ask for two approval sources: pick one"
        )
    if trailers:
        if in_actions and token:
            raise UsageError(
                "inside GitHub Actions with GITHUB_TOKEN, approvals come from the GitHub API: drop "
                f"--trailers / {TRUST_TRAILERS_ENV} (trailers are for local checks)"
            )
        return Source(trailers=True)
    if explicit is not None:
        if token is None:
            return Source(
                why_none=f"--github {explicit} needs GITHUB_TOKEN (a token that can read the repository's "
                "pull requests, reviews, check runs and contents); approvals never fall back to trailers"
            )
        return Source(github=explicit, api=GitHub(token))
    if token is None:
        return Source()  # the default refusal says: Actions with a token, or --trailers
    if not in_actions:
        return Source(
            why_none="GITHUB_TOKEN is set but this is not GitHub Actions (GITHUB_ACTIONS is not 'true'), "
            "so which repository to ask is unknown: pass --github OWNER/REPO to verify through the "
            "GitHub API, or --trailers to trust commit trailers locally; approvals never fall back "
            "to trailers"
        )
    repo = os.environ.get("GITHUB_REPOSITORY") or ""
    if not is_owner_repo(repo):
        return Source(why_none=f"GITHUB_REPOSITORY is '{repo}', not owner/repo: cannot ask GitHub")
    return Source(github=repo, api=GitHub(token))


def verdict_for(
    project: str,
    ref: str,
    branch: str | None,
    deployment: str | None,
    github: str | None,
    trailers: bool = False,
):
    """Run every check (see llmops.audit.enforce) for `ref` of the project's repository.
    `trailers`: `--trailers` was given (LLMOPS_TRUST_TRAILERS=1 counts too)."""
    from llmops.audit import enforce
    from llmops.gitrepo import find_commit, open_repo

    repo, prefix = open_repo(project, "the audit is read from git history")
    branch = branch or _main_branch(repo, prefix)
    source = approval_source(github, trailers_requested(trailers))
    find_commit(repo, ref, "commit or ref")
    return enforce.check(repo, ref, branch=branch, prefix=prefix, deployment=deployment, source=source)


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
