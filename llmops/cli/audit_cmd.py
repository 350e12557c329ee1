"""`llmops audit` and `llmops register`: the approval record and the version registry, from git.

`audit` walks the first-parent history of a branch and prints every change to a FineTune or
Deployment spec with its pull request, author, approvals, gate results and metrics at that
commit, plus the registry (GTO-style tags). `register` writes those tags. Both read git only
(gitpython, imported when the command runs); approvals may come from the GitHub API when
`--github owner/repo` is given and GITHUB_TOKEN is set: then a commit's pull request is the one
GitHub says was merged as it, never the number its subject claims.
"""

from __future__ import annotations

import argparse
import os
import sys

from llmops.errors import UsageError
from llmops.gitrepo import find_commit, open_repo

WHY_GIT = "the audit is read from git history"


def build_report(repo, branch: str, prefix: str = "", github: str | None = None, api=None) -> dict:
    from llmops.audit import history
    from llmops.audit import tags as registry
    from llmops.audit.render import SCHEMA

    head = find_commit(repo, branch, "branch or ref")
    events = registry.events(repo)
    changes, specs = history.walk(
        repo,
        branch,
        prefix=prefix,
        github=github,
        api=api,
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
    from llmops.github import GitHub, is_owner_repo

    repo, prefix = open_repo(args.project, WHY_GIT)
    github = args.github
    fetch = None
    if github:
        if not is_owner_repo(github):
            raise UsageError(f"--github takes owner/repo, not '{github}'")
        token = os.environ.get("GITHUB_TOKEN")
        if token:
            fetch = GitHub(token)
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

    repo, _ = open_repo(args.project, WHY_GIT)
    created = registry.register(
        repo, args.model, version=args.version, environment=args.env, ref=args.ref, note=args.message
    )
    for tag in created:
        print(f"created git tag {tag} (push it: git push origin {tag})")
    return 0
