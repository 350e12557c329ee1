"""A GitHub REST API stand-in on loopback, for tests of `llmops enforce`, `llmops audit` and the
client (`llmops.github`).

It answers the endpoints llmops reads with the JSON shapes GitHub documents (a pull request,
the pull requests of a commit, reviews, check runs wrapped in `{total_count, check_runs}`, a
recursive git tree, team members), pages list endpoints by `per_page` and `page`, answers 401
unless `Authorization: Bearer <token>` is sent, 404 for what it does not hold, and 500 for any
endpoint it is told to fail. Tests point the client at it with GITHUB_API_URL, as the Actions
runner does:

    with FakeGitHub() as api:
        monkeypatch.setenv("GITHUB_API_URL", api.url)
        api.merged_pull(2, head=head_sha, merge_commit=merge_sha, base_sha=base_sha)
        api.review(2, "alice")
        api.results_check(head_sha)
        api.tree_of(head_commit)
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from llmops.compiler.layout import RESULTS_CHECK

TOKEN = "t0ken"
REPO = "org/repo"
ACTIONS_APP = {"id": 15368, "slug": "github-actions", "name": "GitHub Actions", "owner": {"login": "github"}}
_WHEN = "2026-01-02T10:00:00Z"
# endpoint name -> the path it answers (owner/repo is one group)
_ROUTES = [
    ("pull", re.compile(r"^/repos/([^/]+/[^/]+)/pulls/(\d+)$")),
    ("reviews", re.compile(r"^/repos/([^/]+/[^/]+)/pulls/(\d+)/reviews$")),
    ("commit_pulls", re.compile(r"^/repos/([^/]+/[^/]+)/commits/([^/]+)/pulls$")),
    ("check_runs", re.compile(r"^/repos/([^/]+/[^/]+)/commits/([^/]+)/check-runs$")),
    ("tree", re.compile(r"^/repos/([^/]+/[^/]+)/git/trees/([^/]+)$")),
    ("team_members", re.compile(r"^/orgs/([^/]+)/teams/([^/]+)/members$")),
]


class FakeGitHub:
    """In-memory pull requests, reviews, check runs and trees of one repository, served over
    HTTP on 127.0.0.1 while the context is open."""

    def __init__(self, repo: str = REPO, token: str = TOKEN) -> None:
        self.repo = repo
        self.token = token
        self.pulls: dict[int, dict[str, Any]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.commit_pulls: dict[str, list[int]] = {}
        self.check_runs: dict[str, list[dict[str, Any]]] = {}
        self.trees: dict[str, list[dict[str, Any]]] = {}
        self.teams: dict[tuple[str, str], list[str]] = {}
        self.fail: dict[str, int] = {}  # endpoint name -> HTTP status to answer with
        self.calls: list[tuple[str, str]] = []  # (endpoint name, path with query)
        self._ids = itertools.count(1001)
        self._server: ThreadingHTTPServer | None = None

    # -- the server -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeGitHub as a context manager"
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = fake.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, raw_path: str, authorization: str) -> tuple[int, Any]:
        """(status, JSON body) for one GET."""
        parts = urlsplit(raw_path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        routed = [(name, m) for name, pattern in _ROUTES if (m := pattern.match(path))]
        if not routed:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        name, match = routed[0]
        self.calls.append((name, raw_path))
        if authorization != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        if name in self.fail:
            return self.fail[name], {"message": "Server Error"}
        if name != "team_members" and match.group(1) != self.repo:
            return 404, {"message": "Not Found"}
        found = getattr(self, "_" + name)(match, query)
        if found is None:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        if isinstance(found, tuple):  # a paged list (wrapped in an object under a key)
            items, key = found
            size = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
            chunk = items[(page - 1) * size : page * size]
            return 200, ({"total_count": len(items), key: chunk} if key else chunk)
        return 200, found

    def _pull(self, match: re.Match[str], query: dict) -> Any:
        return self.pulls.get(int(match.group(2)))

    def _reviews(self, match: re.Match[str], query: dict) -> Any:
        number = int(match.group(2))
        return None if number not in self.pulls else (self.reviews.get(number, []), None)

    def _commit_pulls(self, match: re.Match[str], query: dict) -> Any:
        simple = ("merged", "commits", "mergeable", "merged_by")
        listed = [self.pulls[n] for n in self.commit_pulls.get(match.group(2), [])]
        return [{k: v for k, v in p.items() if k not in simple} for p in listed], None

    def _check_runs(self, match: re.Match[str], query: dict) -> Any:
        runs = self.check_runs.get(match.group(2), [])
        if "check_name" in query:
            runs = [r for r in runs if r["name"] == query["check_name"][0]]
        return runs, "check_runs"

    def _tree(self, match: re.Match[str], query: dict) -> Any:
        sha = match.group(2)
        entries = self.trees.get(sha)
        if entries is None:
            return None
        if query.get("recursive") != ["1"]:
            entries = [e for e in entries if "/" not in e["path"]]
        return {
            "sha": sha,
            "url": f"{self.url}/repos/{self.repo}/git/trees/{sha}",
            "tree": entries,
            "truncated": False,
        }

    def _team_members(self, match: re.Match[str], query: dict) -> Any:
        members = self.teams.get((match.group(1), match.group(2)))
        return None if members is None else ([{"login": m, "type": "User"} for m in members], None)

    # -- the data ------------------------------------------------------------------------------

    def _user(self, login: str) -> dict[str, Any]:
        return {"login": login, "id": abs(hash(login)) % 10**7, "type": "User"}

    def merged_pull(
        self,
        number: int,
        *,
        head: str,
        merge_commit: str | None,
        base_sha: str = "0" * 40,
        base: str = "main",
        author: str = "carol",
        commits: int = 1,
        merged: bool = True,
    ) -> dict[str, Any]:
        """A pull request (merged as `merge_commit` unless `merged=False`), as GET pulls/{n}
        returns it; listed by commits/{sha}/pulls for its merge commit and its head, as GitHub
        lists it."""
        pull = {
            "url": f"https://api.github.com/repos/{self.repo}/pulls/{number}",
            "id": next(self._ids),
            "number": number,
            "state": "closed" if merged else "open",
            "title": f"Change {number}",
            "user": self._user(author),
            "body": "",
            "created_at": _WHEN,
            "updated_at": _WHEN,
            "closed_at": _WHEN if merged else None,
            "merged_at": _WHEN if merged else None,
            "merge_commit_sha": merge_commit,
            "draft": False,
            "head": {
                "label": f"org:feature-{number}",
                "ref": f"feature-{number}",
                "sha": head,
                "user": self._user(author),
                "repo": {"full_name": self.repo},
            },
            "base": {"label": f"org:{base}", "ref": base, "sha": base_sha, "repo": {"full_name": self.repo}},
            "author_association": "MEMBER",
            "merged": merged,
            "mergeable": None,
            "merged_by": self._user("maintainer") if merged else None,
            "commits": commits,
        }
        self.pulls[number] = pull
        for sha in {head, merge_commit} - {None}:
            listed = self.commit_pulls.setdefault(sha, [])
            if number not in listed:
                listed.append(number)
        return pull

    def review(self, number: int, login: str, state: str = "APPROVED", commit: str | None = None) -> None:
        """A review by `login` on `commit` (default: the pull request's head), after the others."""
        pull = self.pulls[number]
        self.reviews.setdefault(number, []).append(
            {
                "id": next(self._ids),
                "user": self._user(login),
                "body": "",
                "state": state,
                "html_url": f"https://github.com/{self.repo}/pull/{number}",
                "pull_request_url": pull["url"],
                "author_association": "MEMBER",
                "submitted_at": _WHEN,
                "commit_id": commit or pull["head"]["sha"],
            }
        )

    def results_check(
        self,
        sha: str,
        conclusion: str | None = "success",
        *,
        name: str = RESULTS_CHECK,
        app: str = "github-actions",
        status: str = "completed",
    ) -> None:
        """A check run on `sha`, by default the `llmops results` job's, concluded `success`."""
        self.check_runs.setdefault(sha, []).append(
            {
                "id": next(self._ids),
                "head_sha": sha,
                "node_id": "CR_x",
                "external_id": "",
                "name": name,
                "status": status,
                "conclusion": conclusion if status == "completed" else None,
                "started_at": _WHEN,
                "completed_at": _WHEN if status == "completed" else None,
                "output": {"title": None, "summary": None, "text": None, "annotations_count": 0},
                "check_suite": {"id": next(self._ids)},
                "app": {**ACTIONS_APP, "slug": app, "name": app},
                "pull_requests": [],
            }
        )

    def tree_of(self, commit: Any, sha: str | None = None) -> None:
        """The recursive tree of a gitpython commit, served for `sha` (default: the commit's)."""
        entries = []
        for item in commit.tree.traverse():
            kind = "blob" if item.type == "blob" else "tree"
            entry = {"path": item.path, "mode": f"{item.mode:06o}", "type": kind, "sha": item.hexsha}
            if kind == "blob":
                entry["size"] = item.size
            entries.append(entry)
        self.trees[sha or commit.hexsha] = entries

    def set_blob(self, tree_sha: str, path: str, blob_sha: str | None) -> None:
        """Change (or, with None, remove) one path of a served tree."""
        entries = [e for e in self.trees[tree_sha] if e["path"] != path]
        if blob_sha is not None:
            entries.append({"path": path, "mode": "100644", "type": "blob", "sha": blob_sha, "size": 1})
        self.trees[tree_sha] = entries


@pytest.fixture
def github_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A running FakeGitHub, with GITHUB_API_URL pointing at it and GITHUB_TOKEN its token, as
    inside GitHub Actions (GITHUB_ACTIONS=true, GITHUB_REPOSITORY=org/repo)."""
    with FakeGitHub() as api:
        monkeypatch.setenv("GITHUB_API_URL", api.url)
        monkeypatch.setenv("GITHUB_TOKEN", api.token)
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("GITHUB_REPOSITORY", api.repo)
        yield api
