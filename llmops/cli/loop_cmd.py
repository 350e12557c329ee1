"""`llmops loop`: what the scheduled monitor job does after the monitor ran.

`open-pr` exports the new feedback and opens a pull request with it (exit 0 also when there is
nothing to propose yet or a pull request is already open; exit 1 when GitHub or git refused).
`alert` writes `::error` annotations for a failed run and POSTs the webhook when configured;
it exits 0 even when the webhook fails, so the alert never hides the failure it reports.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from llmops.errors import UsageError


def cmd_loop(args: argparse.Namespace) -> int:
    if args.loop_command == "open-pr":
        return open_pr_command(args)
    if args.loop_command == "alert":
        return alert_command(args)
    raise UsageError(f"unknown loop action {args.loop_command!r}")  # argparse prevents this


def open_pr_command(args: argparse.Namespace) -> int:
    from llmops.errors import CheckFailed
    from llmops.github import GitHubError, is_owner_repo
    from llmops.loop.pull_request import open_pr
    from llmops.loop.target import load_target

    root = Path(args.project).resolve()
    target = load_target(root, args.deployment)
    if target.loop is None:
        raise UsageError(
            f"deployment {target.deployment} has no monitoring.loop; add one to its spec "
            "(license, min_new_feedback, ...) and run `llmops compile`"
        )
    repo = args.repo or os.environ.get("GITHUB_REPOSITORY", "")
    if not is_owner_repo(repo):
        raise UsageError("--repo: give OWNER/REPO (inside GitHub Actions, $GITHUB_REPOSITORY is the default)")
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        raise UsageError("GITHUB_TOKEN is not set: the loop pushes a branch and opens a pull request with it")
    try:
        outcome = open_pr(root, target, repo=repo, token=token, remote=args.remote)
    except GitHubError as exc:
        raise CheckFailed(f"GitHub refused: {exc}") from None
    print(outcome.message)
    _summary(f"### Feedback loop: {target.deployment}\n\n{outcome.message}\n")
    return 0


def alert_command(args: argparse.Namespace) -> int:
    from llmops.loop.alert import alert_lines, post_webhook, run_url, webhook_body
    from llmops.loop.target import load_target, read_monitor_metrics

    root = Path(args.project).resolve()
    target = load_target(root, args.deployment)
    metrics = read_monitor_metrics(root, target)
    for line in alert_lines(target, metrics):
        print(line)
    if target.webhook_env:
        url = os.environ.get(target.webhook_env, "")
        if not url:
            print(
                f"::warning::{target.webhook_env} is empty: set that repository secret to send "
                "the webhook alert"
            )
            return 0
        why = post_webhook(url, webhook_body(target, metrics, run_url()))
        print(
            f"::warning::webhook alert not delivered: {why}"
            if why
            else f"alert sent to the {target.webhook_env} webhook"
        )
    return 0


def _summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(markdown)
        except OSError as exc:
            print(f"llmops: could not write the step summary: {exc}", file=sys.stderr)
