"""Load on loopback: 2,000 completions and 2,000 feedback posts in flight together through
`llmops serve` (its own process) in front of a fast fake engine; none may be lost: every answer
and every feedback is in the store exactly once and the Prometheus counters agree. Bounded.

Hostile and malformed requests run among the clean ones (lone surrogates, NUL, deep JSON, huge
bodies, bad UTF-8, unknown paths without the key): each gets its own answer, no clean request is
harmed, and the metric labels stay a closed set."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from llmops.feedback_db import store
from llmops.gateway.server import free_port

pytestmark = pytest.mark.slow

N = 2000
CONCURRENCY = 64
BUDGET_S = 120
CHAT = "/v1/chat/completions"
KEY = "load-key"
AUTH = {"authorization": f"Bearer {KEY}"}
JSON = {**AUTH, "content-type": "application/json"}
HOSTILE_EACH = 10  # requests of each hostile kind


async def _one(client: httpx.AsyncClient, i: int, limit: asyncio.Semaphore) -> tuple[str, int, int]:
    async with limit:
        body = {
            "model": "support",
            "messages": [{"role": "user", "content": f"question {i} from u{i}@example.com"}],
        }
        answer = await client.post("/v1/chat/completions", json=body)
    rid = answer.json()["id"]
    note = {"response_id": rid, "rating": 1 + i % 5} if i % 2 else {"response_id": rid, "thumbs": "down"}
    async with limit:
        posted = await client.post("/v1/feedback", json=note)
    return rid, answer.status_code, posted.status_code


async def _load(url: str) -> list[tuple[str, int, int]]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60, headers=AUTH) as client:
        clean = [_one(client, i, limit) for i in range(N)]
        hostile = [_hostile(client, kind, limit) for kind in HOSTILE for _ in range(HOSTILE_EACH)]
        results = await asyncio.gather(*clean, *hostile)
    return results[:N], results[N:]


def _chat(content: str) -> bytes:
    return json.dumps({"model": "support", "messages": [{"role": "user", "content": content}]}).encode()


def _deep(depth: int) -> bytes:
    return b'{"response_id": "x", "rating": 1, "messages": ' + b"[" * depth + b"]" * depth + b"}"


# kind -> (method, path, body, headers, the status it must get)
HOSTILE: dict[str, tuple[str, str, bytes | None, dict, int]] = {
    "surrogate": ("POST", CHAT, _chat("lone \ud800 here"), JSON, 200),
    "nul": ("POST", CHAT, _chat("nul \x00 byte"), JSON, 200),
    "deep-chat": ("POST", CHAT, _deep(100_000), JSON, 400),
    "deep-feedback": ("POST", "/v1/feedback", _deep(30_000), JSON, 400),
    "huge": ("POST", CHAT, b'{"prompt": "' + b"x" * (2 << 20) + b'"}', JSON, 413),
    "bad-utf8": ("POST", CHAT, b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', JSON, 400),
    "not-json": ("POST", CHAT, b"{'messages': ", JSON, 400),
    "no-key-path": ("GET", "/probe/{uuid}", None, {"authorization": ""}, 401),
    "bad-key": ("POST", CHAT, _chat("hi"), {"authorization": "Bearer nope"}, 401),
    "unknown-response": ("POST", "/v1/feedback", b'{"response_id": "nope", "rating": 1}', JSON, 404),
}


async def _hostile(client: httpx.AsyncClient, kind: str, limit: asyncio.Semaphore) -> tuple[str, int, str]:
    method, path, body, headers, _ = HOSTILE[kind]
    async with limit:
        answer = await client.request(
            method, path.format(uuid=uuid.uuid4().hex), content=body, headers=headers
        )
    rid = answer.json().get("id", "") if answer.status_code == 200 else ""
    return kind, answer.status_code, rid


def test_none_lost_under_load(serve_project, engine_process, helpers) -> None:
    engine_url, _ = engine_process()
    port = free_port()
    root = serve_project(port, "  api_key_env: GW_LOAD_KEY\n")
    proc = helpers.spawn_serve(root, "--engine-url", engine_url, env={"GW_LOAD_KEY": KEY})
    url = f"http://127.0.0.1:{port}"
    try:
        helpers.wait_http(url + "/health", proc)
        started = time.perf_counter()
        results, hostile = asyncio.run(asyncio.wait_for(_load(url), BUDGET_S))
        took = time.perf_counter() - started
        metrics = httpx.get(url + "/metrics", headers=AUTH).text
    finally:
        helpers.stop(proc)
    print(f"\n{2 * N} posts in {took:.1f} s: {2 * N / took:.0f}/s through the gateway")
    assert {(a, f) for _, a, f in results} == {(200, 201)}
    assert {(kind, status) for kind, status, _ in hostile} == {(k, h[-1]) for k, h in HOSTILE.items()}
    ids = [rid for rid, _, _ in results]
    accepted = [rid for _, status, rid in hostile if status == 200]  # stored with U+FFFD in place
    assert len(set(ids)) == N and len(accepted) == 2 * HOSTILE_EACH
    engine = store.connect(store.default_url(root, "support"))
    with engine.connect() as conn:
        stored = list(conn.scalars(sa.select(store.requests.c.id)))
        texts = set(
            conn.scalars(sa.select(store.requests.c.request_text).where(store.requests.c.id.in_(accepted)))
        )
        notes = conn.execute(sa.select(store.feedback.c.response_id, store.feedback.c.rating)).all()
    engine.dispose()
    assert sorted(stored) == sorted(ids + accepted)  # each exactly once
    assert texts == {"lone \ufffd here", "nul \ufffd byte"}
    assert len(notes) == N and sorted(r for r, _ in notes) == sorted(ids)
    assert sum(1 for _, rating in notes if rating) == N // 2

    def sample(line: str) -> float:
        (value,) = [row.rsplit(" ", 1)[1] for row in metrics.splitlines() if row.startswith(line)]
        return float(value)

    prefix = 'llmops_gateway_{}{{deployment="support",'
    assert sample(prefix.format("requests_total") + 'route="/v1/chat/completions",status="200"}') == N + len(
        accepted
    )
    assert sample(prefix.format("requests_total") + 'route="/v1/feedback",status="201"}') == N
    assert sample(prefix.format("feedback_total") + 'kind="rating"}') == N // 2
    assert sample(prefix.format("feedback_total") + 'kind="thumbs_down"}') == N // 2
    routes = set(re.findall(r'route="([^"]*)"', metrics))
    assert routes <= {"/v1/chat/completions", "/v1/feedback", "other"}  # no client-made label
    assert sample(prefix.format("errors_total") + 'route="other",type="auth"}') == HOSTILE_EACH
