"""The feedback database: Alembic migrations applied by connect(), WAL durability settings, the
PostgreSQL route (DDL compiled for its dialect; psycopg named as the driver), and its URL."""

from __future__ import annotations

import io
import threading

import pytest
import sqlalchemy as sa

from llmops.errors import UsageError
from llmops.feedback_db import store


def test_connect_migrates_once_and_sets_wal(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/deep/er/gateway.sqlite3"
    first = store.connect(url)
    second = store.connect(url)  # idempotent: already at head
    with second.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0003"
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


def test_resolve_url_refuses_a_local_file_for_a_postgresql_deployment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(store.ENV_URL, raising=False)
    assert store.resolve_url(tmp_path, "support", "sqlite") == store.default_url(tmp_path, "support")
    with pytest.raises(UsageError, match=store.ENV_URL):
        store.resolve_url(tmp_path, "support", "postgresql")
    monkeypatch.setenv(store.ENV_URL, "postgresql+psycopg://me:s3cret@db/feedback")
    url = store.resolve_url(tmp_path, "support", "postgresql")
    assert url == "postgresql+psycopg://me:s3cret@db/feedback"
    assert store.safe_url(url) == "postgresql+psycopg://me:***@db/feedback"


def test_a_0001_store_upgrades_in_place_with_the_retrieval_columns(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/old.sqlite3"
    old = sa.create_engine(url)
    store.upgrade(old, "0001")
    with old.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO requests (id, created_at, deployment, route, status_code, latency_ms) "
            "VALUES ('r1', 1.0, 'support', '/v1/chat/completions', 200, 5.0)"
        )
    old.dispose()
    engine = store.connect(url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(store.requests)).mappings().one()
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0003"
    engine.dispose()
    assert row["id"] == "r1" and row["latency_ms"] == 5.0
    assert (row["retrieval_ms"], row["retrieved"], row["retrieval"]) == (None, None, None)


def test_the_retrieval_migration_compiles_for_postgresql() -> None:
    from alembic import command

    config = store.alembic_config()
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://llmops@db.example/llmops")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "0001:0002", sql=True)
    ddl = config.output_buffer.getvalue()
    assert "ALTER TABLE requests ADD COLUMN retrieval_ms FLOAT" in ddl
    assert "ALTER TABLE requests ADD COLUMN retrieved INTEGER" in ddl
    assert "ALTER TABLE requests ADD COLUMN retrieval TEXT" in ddl
