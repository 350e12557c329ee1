"""`llmops enforce`: refuse (exit 1) unless a commit reached the main branch through a merged pull
request that meets the Policy's approvals and whose gates passed.

The main-branch workflow runs it first, so no stage or deployment job starts for a commit that
was pushed directly or merged without its approvals; `llmops run deploy-<name>` runs the same
check for the deployment before it acts. In GitHub Actions, with `GITHUB_TOKEN` set, approvals
come from the pull request's reviews (GitHub's merge commits carry no trailers); elsewhere from
`Approved-by:` / `Reviewed-by:` trailers of the merge commit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from typing import Any

from llmops.errors import CheckFailed, UsageError

GITHUB_TIMEOUT_S = 10


def github_source(explicit: str | None) -> tuple[str | None, str | None]:
    """(owner/repo, token) for the reviews API: `--github`, else the Actions environment."""
    if explicit is not None and (explicit.count("/") != 1 or not all(explicit.split("/"))):
        raise UsageError(f"--github takes owner/repo, not '{explicit}'")
    token = os.environ.get("GITHUB_TOKEN") or None
    if token is None:
        if explicit:
            print("llmops: GITHUB_TOKEN is not set; approvals come from commit trailers", file=sys.stderr)
        return None, None
    repo = explicit
    if repo is None and os.environ.get("GITHUB_ACTIONS") == "true":
        repo = os.environ.get("GITHUB_REPOSITORY") or None
        if repo is not None and (repo.count("/") != 1 or not all(repo.split("/"))):
            raise UsageError(f"GITHUB_REPOSITORY is '{repo}', not owner/repo")
    return (repo, token) if repo else (None, None)


def github_team_fetcher(token: str, api: str | None = None):
    """GET /orgs/{org}/teams/{team}/members (needs a token that can read the organisation)."""
    base = (api or os.environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")

    def fetch(org: str, team: str) -> list[str]:
        logins: list[str] = []
        for page in range(1, 51):
            request = urllib.request.Request(
                f"{base}/orgs/{org}/teams/{team}/members?per_page=100&page={page}",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                    "User-Agent": "llmops-enforce",
                },
            )
            with urllib.request.urlopen(request, timeout=GITHUB_TIMEOUT_S) as response:
                batch = json.loads(response.read().decode("utf-8"))
            logins += [m["login"] for m in batch if isinstance(m, dict) and "login" in m]
            if len(batch) < 100:
                break
        return logins

    return fetch


def verdict_for(project: str, ref: str, branch: str | None, deployment: str | None, github: str | None):
    """Run every check (see llmops.audit.enforce) for `ref` of the project's repository."""
    import git

    from llmops.audit import enforce
    from llmops.cli.audit_cmd import _repo, github_fetcher

    repo, prefix = _repo(project)
    branch = branch or _main_branch(repo, prefix)
    owner_repo, token = github_source(github)
    try:
        repo.commit(ref)
    except (git.BadName, ValueError, git.GitCommandError):
        raise UsageError(f"unknown commit or ref '{ref}'") from None
    return enforce.check(
        repo,
        ref,
        branch=branch,
        prefix=prefix,
        deployment=deployment,
        github=owner_repo,
        fetch_reviews=github_fetcher(token) if token else None,
        fetch_team=github_team_fetcher(token) if token else None,
    )


def _main_branch(repo, prefix: str) -> str:
    from llmops.audit.enforce import _project_doc

    try:
        doc = _project_doc(repo.head.commit.tree, prefix)
    except ValueError:  # no commits yet
        doc = {}
    governance = doc.get("governance") if isinstance(doc.get("governance"), dict) else {}
    value = governance.get("main_branch")
    return value if isinstance(value, str) and value else "main"


def refusal_message(verdict) -> str:
    lines = [
        f"refused: {verdict.commit[:10]} may not act for the {verdict.target}: it did not reach "
        f"{verdict.branch} through an approved pull request whose gates passed"
    ]
    lines += [f"  - {c.name}: {c.detail}" for c in verdict.refusals()]
    return "\n".join(lines)


def render_table(verdict) -> str:
    head = (
        f"{verdict.commit[:10]} {verdict.subject}\n"
        f"pull request: {'#' + str(verdict.pr) if verdict.pr else 'none'}  approvals: "
        f"{', '.join(verdict.approvals) or 'none'} ({verdict.approval_source})  policies: "
        f"{', '.join(verdict.policies) or 'none'}\n"
    )
    rows = [f"{'ok ' if c.passed else 'NO '} {c.name:<20} {c.detail}" for c in verdict.checks]
    verdict_line = "allowed" if verdict.allowed else "REFUSED"
    return head + "\n".join(rows) + f"\n{verdict_line} for the {verdict.target}\n"


def render_markdown(verdict) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        f"### llmops enforce: {'allowed' if verdict.allowed else 'refused'} for the {cell(verdict.target)}",
        "",
        f"Commit `{verdict.commit[:10]}` {cell(verdict.subject)}; pull request "
        f"{'#' + str(verdict.pr) if verdict.pr else 'none'}; approvals: "
        f"{cell(', '.join(verdict.approvals) or 'none')} ({verdict.approval_source}).",
        "",
        "| | check | detail |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {'✅' if c.passed else '❌'} | {c.name} | {cell(c.detail)} |" for c in verdict.checks]
    return "\n".join(lines) + "\n"


def _annotation(title: str, message: str) -> str:
    def data(value: str) -> str:
        return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(value: str) -> str:
        return data(value).replace(":", "%3A").replace(",", "%2C")

    return f"::error title={prop(title)}::{data(message)}"


def cmd_enforce(args: argparse.Namespace) -> int:
    verdict = verdict_for(args.project, args.ref, args.branch, args.deployment, args.github)
    out: dict[str, Any] = {"table": render_table, "markdown": render_markdown}
    if args.format == "json":
        sys.stdout.write(json.dumps(verdict.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(out[args.format](verdict))
    if verdict.allowed:
        return 0
    if args.annotations:
        for c in verdict.refusals():
            print(_annotation(f"llmops enforce: {c.name}", c.detail), file=sys.stderr)
    raise CheckFailed(refusal_message(verdict))
