"""`llmops audit` and `llmops register`: the approval record and the version registry, from git.

`audit` walks the first-parent history of a branch and prints every change to a FineTune or
Deployment spec with its pull request, author, approvals, gate results and metrics at that
commit, plus the registry (GTO-style tags). `register` writes those tags. Both read git only
(gitpython, imported when the command runs); approvals may come from the GitHub API when
`--github owner/repo` is given and GITHUB_TOKEN is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from llmops.errors import UsageError

GITHUB_TIMEOUT_S = 10


def _repo(project: str):
    import git

    root = Path(project).resolve()
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(
            f"{root} is not inside a git repository; the audit is read from git history"
        ) from None
    if repo.bare:
        raise UsageError(f"{root} is a bare repository")
    prefix = root.relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
    return repo, ("" if prefix == "." else prefix + "/")


def github_fetcher(token: str, api: str | None = None):
    """GET /repos/{owner}/{repo}/pulls/{n}/reviews, every page, with a 10 s timeout per request."""
    base = (api or os.environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")

    def fetch(owner_repo: str, number: int) -> list[dict[str, Any]]:
        reviews: list[dict[str, Any]] = []
        for page in range(1, 51):
            url = f"{base}/repos/{owner_repo}/pulls/{number}/reviews?per_page=100&page={page}"
            request = urllib.request.Request(
                url,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                    "User-Agent": "llmops-audit",
                },
            )
            with urllib.request.urlopen(request, timeout=GITHUB_TIMEOUT_S) as response:
                batch = json.loads(response.read().decode("utf-8"))
            if not isinstance(batch, list):
                raise ValueError("unexpected reply from the GitHub API")
            reviews.extend(batch)
            if len(batch) < 100:
                break
        return reviews

    return fetch


def build_report(repo, branch: str, prefix: str = "", github: str | None = None, fetch_reviews=None) -> dict:
    import git

    from llmops.audit import history
    from llmops.audit import tags as registry
    from llmops.audit.render import SCHEMA

    try:
        head = repo.commit(branch)
    except (git.BadName, ValueError, git.GitCommandError):
        raise UsageError(f"unknown branch or ref '{branch}'") from None
    events = registry.events(repo)
    changes, specs = history.walk(
        repo,
        branch,
        prefix=prefix,
        github=github,
        fetch_reviews=fetch_reviews,
        tags_by_commit=registry.tags_by_commit(events),
    )
    return {
        "schema": SCHEMA,
        "branch": branch,
        "head": head.hexsha,
        "changes": [c.as_dict() for c in changes],
        "specs": [vars(s) for s in specs],
        "registry": {"models": registry.state(events), "events": [e.as_dict() for e in events]},
    }


def _only(report: dict, name: str) -> dict:
    report["changes"] = [c for c in report["changes"] if c["name"] == name]
    report["specs"] = [s for s in report["specs"] if s["name"] == name]
    registry = report["registry"]
    registry["models"] = {m: v for m, v in registry["models"].items() if m == name}
    registry["events"] = [e for e in registry["events"] if e["model"] == name]
    return report


def cmd_audit(args: argparse.Namespace) -> int:
    from llmops.audit.render import render_json, render_markdown, render_table

    repo, prefix = _repo(args.project)
    github = args.github
    fetch = None
    if github:
        if github.count("/") != 1 or not all(github.split("/")):
            raise UsageError(f"--github takes owner/repo, not '{github}'")
        token = os.environ.get("GITHUB_TOKEN")
        if token:
            fetch = github_fetcher(token)
        else:
            print("llmops: GITHUB_TOKEN is not set; approvals come from commit trailers", file=sys.stderr)
    report = build_report(repo, args.branch, prefix, github if fetch else None, fetch)
    if args.name:
        report = _only(report, args.name)
    render = {"table": render_table, "json": render_json, "markdown": render_markdown}[args.format]
    sys.stdout.write(render(report))
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from llmops.audit import tags as registry

    repo, _ = _repo(args.project)
    created = registry.register(
        repo, args.model, version=args.version, environment=args.env, ref=args.ref, note=args.message
    )
    for tag in created:
        print(f"created git tag {tag} (push it: git push origin {tag})")
    return 0
