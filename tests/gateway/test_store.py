"""The store: Alembic migrations applied by connect(), WAL durability settings, the PostgreSQL
route (DDL compiled for its dialect; psycopg named as the driver), and the group-commit writer."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest
import sqlalchemy as sa

from llmops.gateway import store


def test_connect_migrates_once_and_sets_wal(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/deep/er/gateway.sqlite3"
    first = store.connect(url)
    second = store.connect(url)  # idempotent: already at head
    with second.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0001"
        tables = set(sa.inspect(conn).get_table_names())
    assert {"requests", "feedback", "alembic_version"} <= tables
    first.dispose()
    second.dispose()


def test_connect_from_many_threads_at_once_migrates_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/race.sqlite3"
    errors: list[BaseException] = []

    def go() -> None:
        try:
            store.connect(url).dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_the_migrations_build_exactly_the_declared_tables(tmp_path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = store.connect(f"sqlite:///{tmp_path}/g.sqlite3")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), store.metadata)
    assert diff == []


def test_the_migrations_compile_for_postgresql() -> None:
    from alembic import command

    config = store.alembic_config()
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://llmops@db.example/llmops")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    ddl = config.output_buffer.getvalue()
    assert "CREATE TABLE requests" in ddl and "CREATE TABLE feedback" in ddl
    assert "id SERIAL NOT NULL" in ddl  # feedback ids autoincrement on PostgreSQL
    assert "FOREIGN KEY(response_id) REFERENCES requests (id)" in ddl
    assert "CREATE INDEX ix_requests_created_at ON requests (created_at)" in ddl
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in ddl


def test_default_url_is_the_deployment_sqlite_or_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(store.ENV_URL, raising=False)
    expected = tmp_path.resolve() / ".llmops" / "serve" / "support" / "gateway.sqlite3"
    assert store.default_url(tmp_path, "support") == f"sqlite:///{expected}"
    monkeypatch.setenv(store.ENV_URL, "postgresql+psycopg://llmops:pw@db.example:5432/feedback")
    assert store.default_url(tmp_path, "support") == "postgresql+psycopg://llmops:pw@db.example:5432/feedback"


def test_a_postgresql_url_goes_to_postgresql_through_psycopg() -> None:
    from llmops.gateway.server import free_port

    url = f"postgresql+psycopg://llmops:pw@127.0.0.1:{free_port()}/feedback"
    with pytest.raises(sa.exc.OperationalError) as caught:  # no server here: the driver tried it
        store.connect(url)
    assert "psycopg" in str(caught.value) and "connection" in str(caught.value)


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
