"""The GitHub REST client against a local fake API: paging, headers, GITHUB_API_URL, failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from llmops.github import PER_PAGE, GitHub, is_owner_repo


@pytest.fixture
def fake_api() -> Iterator[tuple[str, list[tuple[str, str]], dict[str, object]]]:
    """(base URL, [(path, Authorization)] seen, {path without query: reply or list of pages})."""
    calls: list[tuple[str, str]] = []
    replies: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            calls.append((self.path, self.headers.get("Authorization", "")))
            path, _, query = self.path.partition("?")
            reply = replies.get(path, [])
            if isinstance(reply, list) and reply and isinstance(reply[0], list):  # pages
                page = int(dict(p.split("=") for p in query.split("&"))["page"])
                reply = reply[page - 1] if page <= len(reply) else []
            body = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", calls, replies
    finally:
        server.shutdown()
        server.server_close()


def test_reviews_come_page_by_page_until_a_short_page(fake_api, monkeypatch):
    base, calls, replies = fake_api
    full = [{"user": {"login": f"u{i}"}, "state": "APPROVED"} for i in range(PER_PAGE)]
    replies["/repos/org/repo/pulls/7/reviews"] = [full, full[:3]]
    monkeypatch.setenv("GITHUB_API_URL", base + "/")
    assert len(GitHub("t0ken").reviews("org/repo", 7)) == PER_PAGE + 3
    assert [c[0] for c in calls] == [
        f"/repos/org/repo/pulls/7/reviews?per_page={PER_PAGE}&page=1",
        f"/repos/org/repo/pulls/7/reviews?per_page={PER_PAGE}&page=2",
    ]
    assert all(auth == "Bearer t0ken" for _, auth in calls)


def test_team_members_are_logins(fake_api):
    base, _, replies = fake_api
    replies["/orgs/org/teams/ml-leads/members"] = [{"login": "alice"}, {"login": "bob"}, {"id": 3}]
    assert GitHub("t", api=base).team_members("org", "ml-leads") == ["alice", "bob"]


def test_a_reply_that_is_not_a_list_is_an_error(fake_api):
    base, _, replies = fake_api
    replies["/repos/org/repo/pulls/1/reviews"] = {"message": "Bad credentials"}
    with pytest.raises(ValueError, match="unexpected reply"):
        GitHub("t", api=base).reviews("org/repo", 1)


def test_an_unreachable_api_fails_at_once():
    with pytest.raises(OSError):
        GitHub("t", api="http://127.0.0.1:9").reviews("o/r", 1)  # discard port: refused at once


@pytest.mark.parametrize(
    ("value", "ok"), [("org/repo", True), ("org", False), ("a/b/c", False), ("/r", False)]
)
def test_owner_repo_shape(value, ok):
    assert is_owner_repo(value) is ok
