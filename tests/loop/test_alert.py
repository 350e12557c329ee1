"""`llmops loop alert`: annotations on the Deployment's spec for each threshold not met, and one
JSON POST to the webhook, whose URL (a secret) never shows in the output."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llmops.cli.main import main

CHECKS = {
    "window": {"days": 7, "start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"},
    "checks": [
        {"policy": "release", "threshold": "min_rating", "limit": 4.0, "figure": "feedback.rating_mean",
         "value": 2.5, "status": "crossed"},
        {"policy": "release", "threshold": "max_drift", "limit": 0.3, "figure": "drift.value",
         "value": 0.1, "status": "ok"},
    ],
}  # fmt: skip


@pytest.fixture
def webhook():
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/s3cret", got
    server.shutdown()
    server.server_close()


def alert(project: Path) -> int:
    return main(["-C", str(project), "loop", "alert", "support"])


def test_annotations_and_webhook(project: Path, webhook, monkeypatch, capsys) -> None:
    url, got = webhook
    (project / "metrics").mkdir()
    (project / "metrics" / "monitor-support.json").write_text(json.dumps(CHECKS))
    monkeypatch.setenv("LLMOPS_ALERT_WEBHOOK", url)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/repo")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    assert alert(project) == 0
    out = capsys.readouterr().out
    [line] = [x for x in out.splitlines() if x.startswith("::error")]
    assert line.startswith("::error file=specs/deployments/support.yaml,line=5,title=monitoring support::")
    assert "min_rating 4.0 (feedback.rating_mean = 2.5, crossed)" in line
    assert "s3cret" not in out and "alert sent" in out
    [body] = got
    assert body["deployment"] == "support" and [c["threshold"] for c in body["checks"]] == ["min_rating"]
    assert body["run_url"] == "https://github.com/org/repo/actions/runs/42" and "min_rating" in body["text"]


def test_no_metrics_and_an_unreachable_webhook_still_alert(project: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LLMOPS_ALERT_WEBHOOK", "http://127.0.0.1:9/hooks/s3cret")
    assert alert(project) == 0  # the job already failed; the alert must not fail differently
    out = capsys.readouterr().out
    assert "::error" in out and "before the monitor wrote its figures" in out
    assert "::warning::webhook alert not delivered" in out and "s3cret" not in out
