"""Load on loopback: 2,000 completions and 2,000 feedback posts in flight together through
`llmops serve` (its own process) in front of a fast fake engine; none may be lost: every answer
and every feedback is in the store exactly once and the Prometheus counters agree. Bounded."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import sqlalchemy as sa

from llmops.feedback_db import store
from llmops.gateway.server import free_port

pytestmark = pytest.mark.slow

N = 2000
CONCURRENCY = 64
BUDGET_S = 120


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
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        return await asyncio.gather(*(_one(client, i, limit) for i in range(N)))


def test_none_lost_under_load(serve_project, engine_process, helpers) -> None:
    engine_url, _ = engine_process()
    port = free_port()
    root = serve_project(port)
    proc = helpers.spawn_serve(root, "--engine-url", engine_url)
    url = f"http://127.0.0.1:{port}"
    try:
        helpers.wait_http(url + "/health", proc)
        started = time.perf_counter()
        results = asyncio.run(asyncio.wait_for(_load(url), BUDGET_S))
        took = time.perf_counter() - started
        metrics = httpx.get(url + "/metrics").text
    finally:
        helpers.stop(proc)
    print(f"\n{2 * N} posts in {took:.1f} s: {2 * N / took:.0f}/s through the gateway")
    assert {(a, f) for _, a, f in results} == {(200, 201)}
    ids = [rid for rid, _, _ in results]
    assert len(set(ids)) == N
    engine = store.connect(store.default_url(root, "support"))
    with engine.connect() as conn:
        stored = list(conn.scalars(sa.select(store.requests.c.id)))
        notes = conn.execute(sa.select(store.feedback.c.response_id, store.feedback.c.rating)).all()
    engine.dispose()
    assert sorted(stored) == sorted(ids)  # each exactly once
    assert len(notes) == N and sorted(r for r, _ in notes) == sorted(ids)
    assert sum(1 for _, rating in notes if rating) == N // 2

    def sample(line: str) -> float:
        (value,) = [row.rsplit(" ", 1)[1] for row in metrics.splitlines() if row.startswith(line)]
        return float(value)

    prefix = 'llmops_gateway_{}{{deployment="support",'
    assert sample(prefix.format("requests_total") + 'route="/v1/chat/completions",status="200"}') == N
    assert sample(prefix.format("requests_total") + 'route="/v1/feedback",status="201"}') == N
    assert sample(prefix.format("feedback_total") + 'kind="rating"}') == N // 2
    assert sample(prefix.format("feedback_total") + 'kind="thumbs_down"}') == N // 2
