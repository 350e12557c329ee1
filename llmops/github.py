"""The one GitHub REST API client: pull requests, their reviews, the pull requests a commit
was merged by, check runs, git trees and team members.

`llmops enforce` verifies a landing against GitHub (the pull request really merged as this
commit, its reviews, the check run that produced its results, the results' blobs at its head)
and `llmops audit` records what GitHub says; both go through here, so the base URL
(GITHUB_API_URL, as GitHub Enterprise and the Actions runner set it), the headers, the paging
and the timeout are decided once. Every failure (an HTTP error, a timeout, an unreachable host,
a reply that is not the JSON shape the endpoint documents) is one `GitHubError` naming the
endpoint, which enforcement turns into a refusal. Standard library only, and nothing runs until
a method is called.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

API_URL = "https://api.github.com"
TIMEOUT_S = 10  # per request: an unreachable API must not stall a workflow
PER_PAGE = 100
MAX_PAGES = 50


class GitHubError(Exception):
    """A GitHub API request that did not give a usable answer; `endpoint` is `GET <path>`."""

    def __init__(self, endpoint: str, why: str) -> None:
        self.endpoint = endpoint
        self.why = why
        super().__init__(f"{endpoint}: {why}")


def is_owner_repo(value: str) -> bool:
    """Whether `value` has the `owner/repo` shape the API's repository paths take."""
    return value.count("/") == 1 and all(value.split("/"))


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


class GitHub:
    """Authenticated GETs against `api` (default: $GITHUB_API_URL, else api.github.com)."""

    def __init__(self, token: str, api: str | None = None) -> None:
        self.token = token
        self.base = (api or os.environ.get("GITHUB_API_URL") or API_URL).rstrip("/")

    def get(self, path: str) -> Any:
        """The decoded JSON body of GET `path` (which starts with a slash)."""
        endpoint = f"GET {path}"
        request = urllib.request.Request(
            self.base + path,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "llmops",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise GitHubError(endpoint, f"HTTP {exc.code}{_message(exc)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            why = getattr(exc, "reason", None) or exc
            raise GitHubError(endpoint, f"unreachable ({why})") from None
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise GitHubError(endpoint, "the reply is not JSON") from None

    def pages(self, path: str, key: str | None = None) -> list[Any]:
        """Every item of a paged list endpoint, `PER_PAGE` at a time, at most `MAX_PAGES` pages.
        `key`: the endpoints that wrap their list in an object (`check_runs`)."""
        items: list[Any] = []
        joiner = "&" if "?" in path else "?"
        for page in range(1, MAX_PAGES + 1):
            paged = f"{path}{joiner}per_page={PER_PAGE}&page={page}"
            reply = self.get(paged)
            batch = reply.get(key) if key is not None and isinstance(reply, dict) else reply
            if not isinstance(batch, list) or not all(isinstance(i, dict) for i in batch):
                what = f"an object with a `{key}` list" if key else "a list"
                raise GitHubError(f"GET {paged}", f"unexpected reply (not {what})")
            items.extend(batch)
            if len(batch) < PER_PAGE:
                break
        return items

    def _object(self, path: str, *required: str) -> dict[str, Any]:
        reply = self.get(path)
        if not isinstance(reply, dict) or any(k not in reply for k in required):
            raise GitHubError(f"GET {path}", f"unexpected reply (not an object with {', '.join(required)})")
        return reply

    def pull(self, owner_repo: str, number: int) -> dict[str, Any]:
        """GET /repos/{owner}/{repo}/pulls/{number}: one pull request."""
        return self._object(f"/repos/{owner_repo}/pulls/{int(number)}", "number", "head", "base", "user")

    def commit_pulls(self, owner_repo: str, sha: str) -> list[dict[str, Any]]:
        """GET /repos/{owner}/{repo}/commits/{sha}/pulls: the pull requests GitHub associates
        with a commit (merged by it, or containing it), every page."""
        return self.pages(f"/repos/{owner_repo}/commits/{_quote(sha)}/pulls")

    def reviews(self, owner_repo: str, number: int) -> list[dict[str, Any]]:
        """GET /repos/{owner}/{repo}/pulls/{number}/reviews, every page, oldest first."""
        return self.pages(f"/repos/{owner_repo}/pulls/{int(number)}/reviews")

    def check_runs(self, owner_repo: str, sha: str, name: str | None = None) -> list[dict[str, Any]]:
        """GET /repos/{owner}/{repo}/commits/{sha}/check-runs (only those called `name` when
        given), every page; the reply wraps them as `{"total_count", "check_runs"}`."""
        path = f"/repos/{owner_repo}/commits/{_quote(sha)}/check-runs"
        if name is not None:
            path += "?check_name=" + urllib.parse.quote(name, safe="")
        return self.pages(path, key="check_runs")

    def tree(self, owner_repo: str, sha: str) -> dict[str, str]:
        """GET /repos/{owner}/{repo}/git/trees/{sha}?recursive=1: path -> object SHA of every
        blob and folder of a commit's tree. A truncated tree (over GitHub's limits) cannot be
        compared path by path, so it is an error rather than a partial answer."""
        path = f"/repos/{owner_repo}/git/trees/{_quote(sha)}?recursive=1"
        reply = self._object(path, "tree")
        entries = reply["tree"]
        if not isinstance(entries, list):
            raise GitHubError(f"GET {path}", "unexpected reply (`tree` is not a list)")
        if reply.get("truncated"):
            raise GitHubError(f"GET {path}", "the tree is truncated (too large for one reply)")
        found: dict[str, str] = {}
        for entry in entries:
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("path"), str)
                and isinstance(entry.get("sha"), str)
            ):
                found[entry["path"]] = entry["sha"]
        return found

    def team_members(self, org: str, team: str) -> list[str]:
        """The logins of GET /orgs/{org}/teams/{team}/members (the token must see the org)."""
        members = self.pages(f"/orgs/{_quote(org)}/teams/{_quote(team)}/members")
        return [m["login"] for m in members if isinstance(m.get("login"), str)]


def _message(exc: urllib.error.HTTPError) -> str:
    """GitHub's `message` of an error reply, when it has one (`Bad credentials`, `Not Found`)."""
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return f" ({message})" if isinstance(message, str) and message else ""
