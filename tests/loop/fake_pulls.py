"""FakeGitHub (tests/fakes/github_api.py) plus the two pull request endpoints the loop writes
to: GET /repos/{repo}/pulls (open ones, filtered by `state` and `base`) and POST of a new one,
with the 401 / 422 answers GitHub gives. Created pull requests land in `self.pulls` and
`self.created` (the request bodies, for assertions)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.github_api import FakeGitHub

_PULLS = re.compile(r"^/repos/([^/]+/[^/]+)/pulls$")


class FakePulls(FakeGitHub):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created: list[dict[str, Any]] = []

    def __enter__(self) -> FakePulls:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply(*fake.answer(self.path, self.headers.get("Authorization", "")))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._reply(*fake.post(self.path, self.headers.get("Authorization", ""), raw))

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def answer(self, raw_path: str, authorization: str) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        match = _PULLS.match(unquote(parts.path))
        if match is None:
            return super().answer(raw_path, authorization)
        self.calls.append(("pulls", raw_path))
        if authorization != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}
        if match.group(1) != self.repo:
            return 404, {"message": "Not Found"}
        query = parse_qs(parts.query)
        state = query.get("state", ["open"])[0]
        listed = [
            p
            for _, p in sorted(self.pulls.items())
            if state in ("all", p["state"]) and ("base" not in query or p["base"]["ref"] == query["base"][0])
        ]
        size, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
        return 200, listed[(page - 1) * size : page * size]

    def post(self, raw_path: str, authorization: str, raw: bytes) -> tuple[int, Any]:
        match = _PULLS.match(unquote(urlsplit(raw_path).path))
        self.calls.append(("create_pull", raw_path))
        if match is None:
            return 404, {"message": "Not Found"}
        if authorization != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}
        body = json.loads(raw)
        if any(p["head"]["ref"] == body.get("head") and p["state"] == "open" for p in self.pulls.values()):
            return 422, {
                "message": "Validation Failed",
                "errors": [{"message": "A pull request already exists"}],
            }
        self.created.append(body)
        number = max(self.pulls, default=0) + 1
        pull = self.open_pull(number, head_ref=body["head"], base=body["base"], title=body["title"])
        pull["body"] = body.get("body", "")
        return 201, pull

    def open_pull(self, number: int, *, head_ref: str, base: str = "main", title: str = "") -> dict[str, Any]:
        """An open pull request from `head_ref` of this repository."""
        pull = self.merged_pull(number, head="0" * 40, merge_commit=None, base=base, merged=False)
        pull["head"]["ref"] = head_ref
        pull["title"] = title or pull["title"]
        pull["html_url"] = f"https://github.com/{self.repo}/pull/{number}"
        return pull
