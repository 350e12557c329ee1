"""The two writes the loop makes to GitHub's REST API, on top of the read-only client
(`llmops.github`): list the open pull requests (to wait for one already proposed) and open one.

Same base URL ($GITHUB_API_URL), headers, timeout and error type as every other call, so a
failure names its endpoint and never echoes the token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from llmops.github import TIMEOUT_S, GitHub, GitHubError

# What a 403 from POST .../pulls with the workflow's default token almost always means.
_FORBIDDEN_HINT = (
    "; with the workflow's default token, enable Settings > Actions > General > 'Allow GitHub Actions "
    "to create and approve pull requests', or set an LLMOPS_LOOP_TOKEN secret (a GitHub App or "
    "fine-grained token with contents and pull-requests write)"
)


class PullRequests(GitHub):
    """GitHub with JSON writes: `send` for POST/PATCH, and the pull request endpoints the loop uses."""

    def send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        endpoint = f"{method} {path}"
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode("utf-8"),
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
                "User-Agent": "llmops",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            hint = _FORBIDDEN_HINT if exc.code == 403 else ""
            raise GitHubError(endpoint, f"HTTP {exc.code}{_message(exc)}{hint}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            why = getattr(exc, "reason", None) or exc
            raise GitHubError(endpoint, f"unreachable ({why})") from None
        try:
            return json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            raise GitHubError(endpoint, "the reply is not JSON") from None

    def open_pulls(self, owner_repo: str, base: str) -> list[dict[str, Any]]:
        """GET /repos/{owner}/{repo}/pulls?state=open&base=...: every open pull request into `base`."""
        return self.pages(f"/repos/{owner_repo}/pulls?state=open&base={urllib.parse.quote(base, safe='')}")

    def create_pull(self, owner_repo: str, *, title: str, head: str, base: str, body: str) -> dict[str, Any]:
        """POST /repos/{owner}/{repo}/pulls: the new pull request (its `number` and `html_url`)."""
        path = f"/repos/{owner_repo}/pulls"
        reply = self.send(
            "POST",
            path,
            {"title": title, "head": head, "base": base, "body": body, "maintainer_can_modify": True},
        )
        if not isinstance(reply, dict) or "number" not in reply:
            raise GitHubError(f"POST {path}", "unexpected reply (not a pull request)")
        return reply


def _message(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read().decode("utf-8"))
    except Exception:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    errors = data.get("errors") if isinstance(data, dict) else None
    detail = ""
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        detail = str(errors[0].get("message") or "")
    text = "; ".join(str(p) for p in (message, detail) if p)
    return f" ({text[:300]})" if text else ""
