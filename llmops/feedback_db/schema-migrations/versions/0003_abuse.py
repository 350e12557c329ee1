"""Abuse facts of each request: which API key sent it (its name in the Deployment's
`serving.api_keys_env`, or `anonymous`) and the abuse flags the gateway raised (JSON list from a
closed vocabulary: prompt_injection, jailbreak, pii, rate_limited, rate_anomaly). Rows written
before this revision keep NULL in both: unknown, which the monitor reads as no flag.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("key_id", sa.String(63)))
        batch.add_column(sa.Column("abuse", sa.Text()))
    op.create_index("ix_requests_key_id", "requests", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_requests_key_id", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("abuse")
        batch.drop_column("key_id")
