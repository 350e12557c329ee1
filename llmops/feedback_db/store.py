"""The feedback database: one row per request the gateway served and one per human feedback.

The gateway writes it; the monitor stage, `llmops feedback export` and `llmops serve` read it or
open it, and none of them may import another, so it lives here, at the package root. The tables
are plain SQLAlchemy Core and the schema is owned by Alembic migrations shipped inside this
package (`schema-migrations/`), applied by `connect()` on every start: a database written by an
older llmops upgrades in place, on SQLite by default and on PostgreSQL (psycopg) when
`LLMOPS_FEEDBACK_DB_URL` names one.

SQLite is opened in WAL mode with `synchronous=FULL`: a committed row survives a crash of the
gateway or of the machine, and readers (the monitor) never block the writer.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, String, Table, Text

from llmops.errors import UsageError

__all__ = [
    "ENV_URL",
    "clean_row",
    "clean_text",
    "connect",
    "default_url",
    "feedback",
    "metadata",
    "requests",
    "resolve_url",
    "safe_url",
]

ENV_URL = "LLMOPS_FEEDBACK_DB_URL"

# Constraint names are fixed so that migrations can refer to them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

requests = Table(
    "requests",
    metadata,
    Column("id", String(64), primary_key=True),  # the response id the client got
    Column("created_at", Float, nullable=False, index=True),  # unix seconds
    Column("deployment", String(63), nullable=False, index=True),
    Column("model", String(200)),
    Column("route", String(100), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),  # as the client saw it through the gateway
    Column("upstream_ms", Float),  # time spent in the engine
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("request_text", Text),  # PII-redacted
    Column("response_text", Text),  # PII-redacted
    Column("error", Text),
    # RAG deployments only (NULL otherwise): search time, passages found (0 = empty retrieval),
    # and `{"index", "top_k", "passages": [{"id", "doc_id", "score"}]}` as JSON (PII-redacted).
    Column("retrieval_ms", Float),
    Column("retrieved", Integer),
    Column("retrieval", Text),
    # Who and what (migration 0003): the API key's name (`anonymous` without one) and the abuse
    # flags raised, a JSON list from `llmops.abuse.detect.FLAGS`; NULL on rows written before.
    Column("key_id", String(63), index=True),
    Column("abuse", Text),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("response_id", String(64), ForeignKey("requests.id"), nullable=False, index=True),
    Column("created_at", Float, nullable=False, index=True),
    Column("rating", Integer),  # 1..5
    Column("thumbs", Integer),  # +1 / -1
    Column("correction", Text),  # PII-redacted
    Column("comment", Text),  # PII-redacted
)

# What no backend can store as text: lone UTF-16 surrogates (a JSON "\ud800" decodes to one; UTF-8
# cannot encode it, so SQLite's driver raises) and NUL (PostgreSQL refuses it in text).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(value: str) -> str:
    """`value` with every character no backend can store replaced by U+FFFD, the rest kept: one
    client's broken string must become a stored row, not an error that fails a group commit."""
    return _UNSTORABLE.sub(REPLACEMENT, value)


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row with `clean_text` applied to every string value (ids and names too, not only text)."""
    return {k: clean_text(v) if isinstance(v, str) else v for k, v in row.items()}


MIGRATIONS = Path(__file__).with_name("schema-migrations")  # a dash: data, not a package


def default_url(root: Path, deployment: str) -> str:
    """`LLMOPS_FEEDBACK_DB_URL` when set (any SQLAlchemy URL), else the deployment's SQLite file."""
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return env
    path = Path(root).resolve() / ".llmops" / "serve" / deployment / "gateway.sqlite3"
    return f"sqlite:///{path}"


def resolve_url(root: Path, deployment: str, feedback_db: str) -> str:
    """The URL a reader of `deployment`'s store uses: `default_url`, except that a deployment whose
    spec says `feedback_db: postgresql` must be given the URL: falling back to an empty local
    SQLite file would report "no data" instead of the real figures."""
    url = default_url(root, deployment)
    if feedback_db == "postgresql" and url.startswith("sqlite"):
        raise UsageError(
            f"deployment {deployment} keeps feedback in PostgreSQL (monitoring.feedback_db): set "
            f"{ENV_URL} to its SQLAlchemy URL, e.g. postgresql+psycopg://user:password@host/db"
        )
    return url


def safe_url(url: str) -> str:
    """The URL with any password masked: what may appear in metrics, logs and provenance."""
    return sa.make_url(url).render_as_string(hide_password=True)


def connect(url: str) -> sa.Engine:
    """An engine on `url` with the schema migrated to the latest version. Idempotent and safe to
    call from several processes at once (a racing migration is retried once it can see the winner's).
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling defers it until a write; issue BEGIN ourselves so a
        # transaction is a transaction (SQLAlchemy's documented recipe).
        sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    else:
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    for attempt in range(5):
        try:
            upgrade(engine)
            break
        except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None  # let the "begin" listener issue BEGIN IMMEDIATE
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config():  # type: ignore[no-untyped-def]
    """The Alembic configuration for the shipped migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply the shipped migrations up to `revision` in one transaction."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
