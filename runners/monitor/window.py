"""Read one deployment's requests and feedback in a time window from the feedback database.

The gateway writes the database (`llmops.feedback_db.store`); this module only reads it. A SQLite
file that does not exist yet is read as empty rather than created, so a monitoring run never
leaves a fresh database behind where no gateway ever ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Window:
    start: float  # unix seconds, inclusive
    end: float  # unix seconds, exclusive
    days: int


@dataclass
class Observations:
    """The rows of one window, as plain dicts (column -> value)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    database: str = ""  # the URL without credentials
    found: bool = True  # False when the database does not exist


def make_window(now: float, days: int) -> Window:
    return Window(start=now - days * 86400.0, end=now, days=days)


def read_window(url: str, deployment: str, window: Window) -> Observations:
    import sqlalchemy as sa

    from llmops.feedback_db import store

    shown = store.safe_url(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_file():
            return Observations(database=shown, found=False)
    engine = store.connect(url)
    req, fb = store.requests, store.feedback
    try:
        with engine.connect() as conn:
            request_rows = conn.execute(
                sa.select(
                    req.c.id,
                    req.c.created_at,
                    req.c.route,
                    req.c.status_code,
                    req.c.latency_ms,
                    req.c.request_text,
                    req.c.retrieval_ms,
                    req.c.retrieved,
                    req.c.key_id,  # abuse monitoring (runners/monitor/abuse.py)
                    req.c.abuse,
                )
                .where(req.c.deployment == deployment)
                .where(req.c.created_at >= window.start, req.c.created_at < window.end)
                .order_by(req.c.created_at, req.c.id)
            ).mappings()
            requests = [dict(r) for r in request_rows]
            feedback_rows = conn.execute(
                sa.select(
                    fb.c.id,
                    fb.c.created_at,
                    fb.c.rating,
                    fb.c.thumbs,
                    fb.c.correction,
                    fb.c.response_id,
                    req.c.retrieval,  # the passages the rated answer cited (RAG deployments)
                )
                .select_from(fb.join(req, fb.c.response_id == req.c.id))
                .where(req.c.deployment == deployment)
                .where(fb.c.created_at >= window.start, fb.c.created_at < window.end)
                .order_by(fb.c.created_at, fb.c.id)
            ).mappings()
            feedback = [dict(r) for r in feedback_rows]
    finally:
        engine.dispose()
    return Observations(requests=requests, feedback=feedback, database=shown)
