"""`llmops serve` as users run it: usage errors exit 2; in front of an engine it logs, survives a
SIGKILL with every acknowledged row on disk, drains on SIGTERM, and follows the live record."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from llmops.cli.main import main
from llmops.feedback_db import store
from llmops.gateway.server import free_port


def count(db_url: str, table) -> int:
    engine = store.connect(db_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(table))
    finally:
        engine.dispose()


def inflight(url: str, headers: dict) -> float:
    text = httpx.get(url + "/metrics", headers=headers).text
    found = re.search(r"^llmops_gateway_inflight_requests\{[^}]*\} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def ask(url: str, text: str) -> httpx.Response:
    body = {"model": "support", "messages": [{"role": "user", "content": text}]}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=30)


def test_an_unknown_deployment_is_a_usage_error_with_a_suggestion(serve_project, capsys) -> None:
    root = serve_project(free_port())
    assert main(["-C", str(root), "serve", "suport"]) == 2
    err = capsys.readouterr().err
    assert "no Deployment 'suport'" in err and "did you mean 'support'?" in err


def test_a_port_in_use_is_a_usage_error(serve_project, capsys) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        root = serve_project(busy.getsockname()[1])
        assert main(["-C", str(root), "serve", "support", "--engine-url", "http://127.0.0.1:9"]) == 2
    assert "is in use; pick another with --port" in capsys.readouterr().err


def test_a_missing_api_key_variable_is_a_usage_error(serve_project, capsys, monkeypatch) -> None:
    monkeypatch.delenv("GW_TEST_KEY", raising=False)
    root = serve_project(free_port(), "  api_key_env: GW_TEST_KEY\n")
    assert main(["-C", str(root), "serve", "support", "--engine-url", "http://127.0.0.1:9"]) == 2
    assert "$GW_TEST_KEY, which is not set" in capsys.readouterr().err


def test_an_unreachable_store_is_a_usage_error_that_hides_the_password(serve_project, capsys) -> None:
    root = serve_project(free_port())
    db = f"postgresql+psycopg://llmops:hunter2@127.0.0.1:{free_port()}/feedback"
    assert main(["-C", str(root), "serve", "support", "--engine-url", "http://127.0.0.1:9", "--db", db]) == 2
    err = capsys.readouterr().err
    assert "cannot open the store at postgresql+psycopg://llmops:***@127.0.0.1" in err
    assert "hunter2" not in err


def test_serve_in_front_of_an_engine_then_sigterm_drains(serve_project, engine_process, helpers) -> None:
    engine_url, _ = engine_process(delay_ms=300)
    port = free_port()
    root = serve_project(port, "  api_key_env: GW_TEST_KEY\n")
    db_url = f"sqlite:///{root}/custom.sqlite3"
    proc = helpers.spawn_serve(root, "--engine-url", engine_url, "--db", db_url, env={"GW_TEST_KEY": "k"})
    url = f"http://127.0.0.1:{port}"
    try:
        helpers.wait_http(url + "/health", proc)
        auth = {"authorization": "Bearer k"}
        body = {"messages": [{"role": "user", "content": "slow question"}]}
        with ThreadPoolExecutor(8) as pool:  # in flight (300 ms each) when SIGTERM arrives
            futures = [
                pool.submit(httpx.post, url + "/v1/chat/completions", json=body, headers=auth, timeout=30)
                for _ in range(8)
            ]
            deadline = time.monotonic() + 10
            while inflight(url, auth) < 8 and time.monotonic() < deadline:
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            answers = [f.result() for f in futures]
        out, _ = proc.communicate(timeout=30)
    finally:
        helpers.stop(proc)
    assert proc.returncode == 0, out
    assert [a.status_code for a in answers] == [200] * 8  # finished, not cut off
    assert f"gateway   {url}/v1" in out and "metrics   " + url + "/metrics" in out
    assert "auth      Bearer key from $GW_TEST_KEY" in out and "custom.sqlite3" in out
    assert "stopped; 8 rows written" in out
    assert count(db_url, store.requests) == 8


def test_acknowledged_rows_survive_a_sigkill(serve_project, engine_process, helpers) -> None:
    engine_url, _ = engine_process()
    port = free_port()
    root = serve_project(port)
    proc = helpers.spawn_serve(root, "--engine-url", engine_url)
    url = f"http://127.0.0.1:{port}"
    try:
        helpers.wait_http(url + "/health", proc)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: ask(url, f"question {i}"), range(200)))
        ids = [a.json()["id"] for a in answers]
        notes = [httpx.post(url + "/v1/feedback", json={"response_id": i, "rating": 5}) for i in ids[:20]]
        proc.kill()  # no shutdown, no drain: only what was committed is there
        proc.wait(10)
    finally:
        helpers.stop(proc)
    assert all(n.status_code == 201 for n in notes)
    db_url = store.default_url(root, "support")
    engine = store.connect(db_url)
    with engine.connect() as conn:
        stored = set(conn.scalars(sa.select(store.requests.c.id)))
        assert conn.scalar(sa.select(sa.func.count()).select_from(store.feedback)) == 20
    engine.dispose()
    assert stored == set(ids)


def test_follow_switches_engines_when_the_live_record_changes(serve_project, engine_process, helpers) -> None:
    blue, _ = engine_process(model="support-blue")
    green, _ = engine_process(model="support-green")
    port = free_port()
    root = serve_project(port)
    live = root / ".llmops" / "serve" / "support" / "live.json"
    proc = helpers.spawn_serve(root, "--follow")
    url = f"http://127.0.0.1:{port}"
    try:
        helpers.wait_http(url + "/health", proc)
        assert ask(url, "before").status_code == 503  # nothing live yet: a clear 503
        live.parent.mkdir(parents=True, exist_ok=True)
        live.write_text(json.dumps({"deployment": "support", "url": blue, "model": "support"}))
        time.sleep(0.4)
        first = ask(url, "one")
        live.write_text(json.dumps({"deployment": "support", "url": green, "model": "support"}))
        os.utime(live, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on coarse clocks
        time.sleep(0.4)
        second = ask(url, "two")
    finally:
        helpers.stop(proc)
    assert first.status_code == 200 and second.status_code == 200
    engine = store.connect(store.default_url(root, "support"))
    with engine.connect() as conn:
        models = dict(conn.execute(sa.select(store.requests.c.request_text, store.requests.c.model)).all())
    engine.dispose()
    assert models == {"one": "support-blue", "two": "support-green"}


@pytest.mark.parametrize("flag", ["--engine-url", "--follow"])
def test_help_mentions_the_flags(flag, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert re.search(re.escape(flag), capsys.readouterr().out)
