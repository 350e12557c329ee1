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


def _write_all(writer, rows: list[dict]) -> list:
    async def main() -> list:
        return await asyncio.gather(*(writer.log_request(r) for r in rows), return_exceptions=True)

    return asyncio.run(main())


def test_a_lone_surrogate_is_stored_replaced_and_fails_no_neighbour(tmp_path) -> None:
    """3 rows of 300 carry a lone surrogate (what a JSON "\\ud800" decodes to): once this failed
    the whole group commit, and 51 clean requests got a 503."""
    from llmops.gateway.writer import Writer

    engine = store.connect(f"sqlite:///{tmp_path}/s.sqlite3")
    writer = Writer(engine)
    rows = [_request(f"r{i}") for i in range(300)]
    for i in (0, 150, 299):
        rows[i]["request_text"] = "bad \ud800 text\x00 kept 😀"
        rows[i]["model"] = "m\udfff"
    writer.start()
    results = _write_all(writer, rows)
    writer.close()
    assert results == [f"r{i}" for i in range(300)]
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(store.requests)) == 300
        bad = conn.execute(
            sa.select(store.requests.c.request_text, store.requests.c.model).where(
                store.requests.c.id == "r150"
            )
        ).one()
    assert tuple(bad) == ("bad \ufffd text\ufffd kept 😀", "m\ufffd")


def test_a_row_the_store_refuses_fails_alone_and_its_group_is_committed(tmp_path, monkeypatch) -> None:
    import llmops.gateway.writer as writer_module
    from llmops.gateway.writer import RowRejected, Writer

    real_redact = writer_module.redact

    def redact(text: str):  # a row whose redaction blows up is that row's problem only
        if "boom" in text:
            raise RuntimeError("redactor failed")
        return real_redact(text)

    monkeypatch.setattr(writer_module, "redact", redact)
    engine = store.connect(f"sqlite:///{tmp_path}/r.sqlite3")
    batches: list[int] = []
    writer = Writer(engine, on_batch=batches.append)
    rows = [_request(f"r{i}") for i in range(200)]
    rows[10]["status_code"] = None  # NOT NULL: the batch insert fails, then only this row
    rows[20]["request_text"] = "boom"
    writer.start()
    results = _write_all(writer, rows)
    writer.close()
    assert isinstance(results[10], RowRejected) and isinstance(results[20], RowRejected)
    assert [r for i, r in enumerate(results) if i not in (10, 20)] == [
        f"r{i}" for i in range(200) if i not in (10, 20)
    ]
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(store.requests)) == 198
    assert writer.committed == 198 and sum(batches) == 200


def test_a_store_that_is_down_still_fails_every_row(tmp_path) -> None:
    from llmops.gateway.writer import RowRejected, Writer

    engine = store.connect(f"sqlite:///{tmp_path}/down.sqlite3")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE feedback"))
        conn.execute(sa.text("DROP TABLE requests"))
    writer = Writer(engine)
    writer.start()
    results = _write_all(writer, [_request(f"r{i}") for i in range(20)])
    writer.close()
    assert all(isinstance(r, sa.exc.OperationalError) for r in results)
    assert not any(isinstance(r, RowRejected) for r in results)


def test_rows_of_different_shapes_in_one_batch_keep_every_value(tmp_path) -> None:
    """SQLAlchemy's executemany takes its columns from the first row: a RAG request's retrieval
    record after a plain request in the same batch was dropped without a word (and the test
    above failed whenever its odd rows were not first in their batch)."""
    from llmops.gateway.writer import Writer

    engine = store.connect(f"sqlite:///{tmp_path}/k.sqlite3")
    writer = Writer(engine, max_batch=50)
    rows = [_request(f"k{i}") for i in range(40)]
    for i in range(1, 40, 2):
        rows[i].update(model="m", retrieval_ms=1.5, retrieved=2, retrieval={"index": "kb", "passages": []})
    for row in rows:  # all queued before the writer starts: they share one batch, plain row first
        writer.log_request_nowait(row)
    writer.start()
    writer.close()
    with engine.connect() as conn:
        got = {r.id: r for r in conn.execute(sa.select(store.requests))}
    assert len(got) == 40
    assert all(got[f"k{i}"].model == "m" and got[f"k{i}"].retrieved == 2 for i in range(1, 40, 2))
    assert all(got[f"k{i}"].retrieval and got[f"k{i}"].retrieval_ms == 1.5 for i in range(1, 40, 2))
    assert all(got[f"k{i}"].model is None and got[f"k{i}"].retrieval is None for i in range(0, 40, 2))
