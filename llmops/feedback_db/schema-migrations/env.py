"""Alembic environment for the gateway store: always run programmatically by
`llmops.feedback_db.store.upgrade`, which hands over an open connection."""

from __future__ import annotations

from alembic import context

from llmops.feedback_db.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # offline SQL generation (`upgrade(..., sql=True)`): the PostgreSQL DDL test
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
