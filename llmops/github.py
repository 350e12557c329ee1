"""The one GitHub REST API client: the reviews of a pull request and the members of a team.

`llmops audit` reads approvals from pull request reviews and `llmops enforce` also needs team
membership for `@org/team` reviewers; both go through here, so the base URL (GITHUB_API_URL, as
GitHub Enterprise and the Actions runner set it), the headers, the paging and the timeout are
decided once. Standard library only, and nothing runs until a method is called.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

API_URL = "https://api.github.com"
TIMEOUT_S = 10  # per request: an unreachable API must not stall a workflow
PER_PAGE = 100
MAX_PAGES = 50


def is_owner_repo(value: str) -> bool:
    """Whether `value` has the `owner/repo` shape the API's repository paths take."""
    return value.count("/") == 1 and all(value.split("/"))


class GitHub:
    """Authenticated GETs against `api` (default: $GITHUB_API_URL, else api.github.com)."""

    def __init__(self, token: str, api: str | None = None) -> None:
        self.token = token
        self.base = (api or os.environ.get("GITHUB_API_URL") or API_URL).rstrip("/")

    def get(self, path: str) -> Any:
        """The decoded JSON body of GET `path` (which starts with a slash)."""
        request = urllib.request.Request(
            self.base + path,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "llmops",
            },
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read().decode("utf-8"))

    def pages(self, path: str) -> list[Any]:
        """Every item of a paged list endpoint, `PER_PAGE` at a time, at most `MAX_PAGES` pages."""
        items: list[Any] = []
        joiner = "&" if "?" in path else "?"
        for page in range(1, MAX_PAGES + 1):
            batch = self.get(f"{path}{joiner}per_page={PER_PAGE}&page={page}")
            if not isinstance(batch, list):
                raise ValueError("unexpected reply from the GitHub API")
            items.extend(batch)
            if len(batch) < PER_PAGE:
                break
        return items

    def reviews(self, owner_repo: str, number: int) -> list[dict[str, Any]]:
        """GET /repos/{owner}/{repo}/pulls/{number}/reviews, every page."""
        return self.pages(f"/repos/{owner_repo}/pulls/{number}/reviews")

    def team_members(self, org: str, team: str) -> list[str]:
        """The logins of GET /orgs/{org}/teams/{team}/members (the token must see the org)."""
        members = self.pages(f"/orgs/{org}/teams/{team}/members")
        return [m["login"] for m in members if isinstance(m, dict) and "login" in m]
