"""`llmops enforce`: refuse (exit 1) unless a commit reached the main branch through a merged pull
request that meets the Policy's approvals, whose results CI produced and whose gates passed.

The main-branch workflow runs it first, so no stage or deployment job starts for a commit that
was pushed directly or merged without its approvals; `llmops run deploy-<name>` runs the same
check for the deployment before it acts. In GitHub Actions, with `GITHUB_TOKEN` set, everything
is verified through the GitHub API (`--github OWNER/REPO` does the same elsewhere); `--trailers`
(or LLMOPS_TRUST_TRAILERS=1) trusts the commit's `Approved-by:` / `Reviewed-by:` trailers
instead, for local checks. With neither, it refuses and says so (`llmops.cli.enforcement`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from llmops.annotations import annotation
from llmops.cli.enforcement import refusal_message, verdict_for
from llmops.errors import CheckFailed


def render_table(verdict) -> str:
    head = (
        f"{verdict.commit[:10]} {verdict.subject}\n"
        f"pull request: {'#' + str(verdict.pr) if verdict.pr else 'none'}  approvals: "
        f"{', '.join(verdict.approvals) or 'none'} ({verdict.approval_source})  policies: "
        f"{', '.join(verdict.policies) or 'none'}\n"
    )
    rows = [f"{'ok ' if c.passed else 'NO '} {c.name:<20} {c.detail}" for c in verdict.checks]
    rows += [f"note: {n}" for n in verdict.notes]  # specs read leniently (history)
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
    lines += [""] + [f"> note: {cell(n)}" for n in verdict.notes] if verdict.notes else []
    return "\n".join(lines) + "\n"


def cmd_enforce(args: argparse.Namespace) -> int:
    verdict = verdict_for(
        args.project, args.ref, args.branch, args.deployment, args.github, trailers=args.trailers
    )
    out: dict[str, Any] = {"table": render_table, "markdown": render_markdown}
    if args.format == "json":
        sys.stdout.write(json.dumps(verdict.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(out[args.format](verdict))
    if verdict.allowed:
        return 0
    if args.annotations:
        for c in verdict.refusals():
            print(annotation(c.detail, title=f"llmops enforce: {c.name}"), file=sys.stderr)
    raise CheckFailed(refusal_message(verdict))
