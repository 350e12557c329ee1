"""The gateway's group-commit writer: rows acknowledged only after their commit, a queue drained on close."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa

from llmops.feedback_db import store


def _request(rid: str) -> dict:
    return {
        "id": rid,
        "created_at": time.time(),
        "deployment": "support",
        "route": "/v1/chat/completions",
        "status_code": 200,
        "latency_ms": 1.0,
        "request_text": f"{rid}: write to ann@example.org",
    }


def test_the_writer_group_commits_and_acknowledges_after_commit(tmp_path) -> None:
    from llmops.gateway.writer import UnknownResponse, Writer

    engine = store.connect(f"sqlite:///{tmp_path}/w.sqlite3")
    batches: list[int] = []
    writer = Writer(engine, on_batch=batches.append)
    writer.start()

    async def main() -> tuple[list, list]:
        ids = await asyncio.gather(*(writer.log_request(_request(f"r{i}")) for i in range(300)))
        notes = [
            writer.add_feedback({"response_id": f"r{i}", "created_at": 1.0, "rating": 1 + i % 5})
            for i in range(300)
        ]
        notes.append(writer.add_feedback({"response_id": "missing", "created_at": 1.0, "rating": 1}))
        return ids, await asyncio.gather(*notes, return_exceptions=True)

    ids, notes = asyncio.run(main())
    writer.close()
    assert ids == [f"r{i}" for i in range(300)]
    assert isinstance(notes[-1], UnknownResponse)
    assert sorted(notes[:-1]) == list(range(1, 301))
    assert max(batches) > 1 and sum(batches) == 601  # rows shared commits
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(store.requests)) == 300
        assert conn.scalar(sa.select(sa.func.count()).select_from(store.feedback)) == 300
        texts = set(conn.scalars(sa.select(store.requests.c.request_text)))
    assert texts == {f"r{i}: write to [EMAIL]" for i in range(300)}


def test_closing_the_writer_drains_what_is_queued(tmp_path) -> None:
    from llmops.gateway.writer import Writer

    engine = store.connect(f"sqlite:///{tmp_path}/d.sqlite3")
    writer = Writer(engine, max_batch=7)
    for i in range(100):
        writer.log_request_nowait(_request(f"q{i}"))
    writer.start()
    writer.close()
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(store.requests)) == 100
