"""The GitHub REST client against a local fake API: paging, headers, GITHUB_API_URL, the shapes
of the endpoints enforcement reads, and every failure as one `GitHubError` naming the endpoint."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import llmops.github
from llmops.compiler.layout import RESULTS_CHECK
from llmops.github import PER_PAGE, GitHub, GitHubError, is_owner_repo
from tests.fakes.github_api import FakeGitHub


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
            if reply == "sleep":
                time.sleep(1)
                reply = []
            body = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
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
    with pytest.raises(
        GitHubError, match=r"^GET /repos/org/repo/pulls/1/reviews\?per_page=100&page=1: unexpected"
    ):
        GitHub("t", api=base).reviews("org/repo", 1)


def test_a_reply_that_is_not_json_is_an_error(fake_api):
    base, _, replies = fake_api
    replies["/repos/org/repo/pulls/1"] = "<html>proxy error</html>"
    with pytest.raises(GitHubError, match=r"^GET /repos/org/repo/pulls/1: the reply is not JSON$"):
        GitHub("t", api=base).pull("org/repo", 1)


def test_a_slow_api_times_out(fake_api, monkeypatch):
    base, _, replies = fake_api
    replies["/repos/org/repo/pulls/1"] = "sleep"
    monkeypatch.setattr(llmops.github, "TIMEOUT_S", 0.2)
    with pytest.raises(GitHubError, match=r"^GET /repos/org/repo/pulls/1: unreachable"):
        GitHub("t", api=base).pull("org/repo", 1)


def test_an_unreachable_api_fails_at_once():
    with pytest.raises(GitHubError, match="unreachable"):
        GitHub("t", api="http://127.0.0.1:9").reviews("o/r", 1)  # discard port: refused at once


def test_the_endpoints_enforcement_reads_have_githubs_shapes(monkeypatch):
    with FakeGitHub() as api:
        monkeypatch.setenv("GITHUB_API_URL", api.url)
        client = GitHub(api.token)
        api.merged_pull(5, head="a" * 40, merge_commit="b" * 40, base_sha="c" * 40)
        pull = client.pull("org/repo", 5)
        assert (pull["merge_commit_sha"], pull["head"]["sha"], pull["base"]["ref"]) == (
            "b" * 40,
            "a" * 40,
            "main",
        )
        assert [p["number"] for p in client.commit_pulls("org/repo", "b" * 40)] == [5]
        assert client.commit_pulls("org/repo", "d" * 40) == []
        for _ in range(PER_PAGE + 2):
            api.results_check("a" * 40)
        api.results_check("a" * 40, name="validate")
        runs = client.check_runs("org/repo", "a" * 40, RESULTS_CHECK)
        assert len(runs) == PER_PAGE + 2 and {r["app"]["slug"] for r in runs} == {"github-actions"}
        assert len(client.check_runs("org/repo", "a" * 40)) == PER_PAGE + 3
        api.trees["a" * 40] = [
            {"path": "dvc.lock", "mode": "100644", "type": "blob", "sha": "1" * 40, "size": 3},
            {"path": "metrics", "mode": "040000", "type": "tree", "sha": "2" * 40},
            {"path": "metrics/x.json", "mode": "100644", "type": "blob", "sha": "3" * 40, "size": 3},
        ]
        assert client.tree("org/repo", "a" * 40) == {
            "dvc.lock": "1" * 40,
            "metrics": "2" * 40,
            "metrics/x.json": "3" * 40,
        }
        assert ("tree", f"/repos/org/repo/git/trees/{'a' * 40}?recursive=1") in api.calls


def test_http_errors_name_the_endpoint_and_githubs_message():
    with FakeGitHub() as api:
        api.fail["pull"] = 500
        with pytest.raises(GitHubError) as err:
            GitHub(api.token, api=api.url).pull("org/repo", 5)
        assert str(err.value) == "GET /repos/org/repo/pulls/5: HTTP 500 (Server Error)"
        assert err.value.endpoint == "GET /repos/org/repo/pulls/5"
        with pytest.raises(GitHubError, match=r"pulls/5: HTTP 401 \(Bad credentials\)$"):
            GitHub("wrong", api=api.url).pull("org/repo", 5)
        with pytest.raises(GitHubError, match=r"trees/ffff\?recursive=1: HTTP 404 \(Not Found\)$"):
            GitHub(api.token, api=api.url).tree("org/repo", "ffff")


def test_a_truncated_tree_is_an_error(fake_api):
    base, _, replies = fake_api
    replies["/repos/o/r/git/trees/abc"] = {"sha": "abc", "tree": [], "truncated": True}
    with pytest.raises(GitHubError, match="truncated"):
        GitHub("t", api=base).tree("o/r", "abc")


@pytest.mark.parametrize(
    ("value", "ok"), [("org/repo", True), ("org", False), ("a/b/c", False), ("/r", False)]
)
def test_owner_repo_shape(value, ok):
    assert is_owner_repo(value) is ok
