"""A failed monitoring run, told to people: `::error` annotations on the Deployment's spec and,
when `monitoring.alert_webhook_env` names a secret holding a URL, one JSON POST to it.

The webhook body carries `text` (what Slack, Mattermost and Teams-style incoming webhooks show)
plus the structured figures. The URL is a secret: it is never printed, and a failed POST is a
warning, not an error, because the alert must not hide the failure it reports.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from llmops.annotations import annotation
from llmops.loop.target import LoopTarget, crossed_checks

TIMEOUT_S = 10
MAX_BODY = 64_000  # bytes: webhook services cap payloads (Slack at 40k characters of text)


def alert_lines(target: LoopTarget, metrics: dict[str, Any] | None) -> list[str]:
    """One annotation per threshold not met, or one saying the job failed before checking."""
    title = f"monitoring {target.deployment}"
    checks = crossed_checks(metrics)
    if not checks:
        why = (
            "the monitor job failed before the monitor wrote its figures"
            if metrics is None
            else "the monitor job failed (no threshold was crossed: see the failed step)"
        )
        return [annotation(why, title=title, file=target.spec_path, line=target.spec_line)]
    return [
        annotation(check_text(c), title=title, file=target.spec_path, line=target.spec_line) for c in checks
    ]


def check_text(check: dict[str, Any]) -> str:
    value = check.get("value")
    shown = "no data" if value is None else f"{value:g}" if isinstance(value, int | float) else str(value)
    return (
        f"policy {check.get('policy')}: {check.get('threshold')} {check.get('limit')} "
        f"({check.get('figure')} = {shown}, {check.get('status')})"
    )


def webhook_body(target: LoopTarget, metrics: dict[str, Any] | None, run_url: str | None) -> dict[str, Any]:
    checks = crossed_checks(metrics)
    lines = [check_text(c) for c in checks] or ["the monitor job failed (see the run)"]
    text = f"llmops: monitoring of {target.deployment} failed\n" + "\n".join(f"- {line}" for line in lines)
    if run_url:
        text += f"\n{run_url}"
    window = (metrics or {}).get("window")
    return {
        "text": text,
        "deployment": target.deployment,
        "status": "failed",
        "checks": checks,
        "window": window if isinstance(window, dict) else None,
        "run_url": run_url,
    }


def run_url() -> str | None:
    """The workflow run's page, from the variables the Actions runner sets."""
    server, repo, run = (
        os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def post_webhook(url: str, body: dict[str, Any]) -> str | None:
    """POST the body as JSON; None when it was accepted, else why not (without the URL)."""
    if not url.startswith(("https://", "http://")):
        return "the webhook secret does not hold an http(s) URL"
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    if len(data) > MAX_BODY:
        body = {**body, "checks": body["checks"][:20], "text": body["text"][:4000]}
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")[:MAX_BODY]
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "llmops"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        return f"the webhook answered HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        # the reason of a URLError can quote the host; say only what kind of failure it was
        return f"the webhook could not be reached ({type(getattr(exc, 'reason', exc)).__name__})"
    return None
