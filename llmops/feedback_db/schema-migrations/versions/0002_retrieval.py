"""Retrieval facts of a RAG deployment's requests: how long the search took, how many passages it
returned (0 = an empty retrieval, which the monitor counts) and which ones (JSON: ids and scores).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("retrieval_ms", sa.Float()))
        batch.add_column(sa.Column("retrieved", sa.Integer()))
        batch.add_column(sa.Column("retrieval", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("retrieval")
        batch.drop_column("retrieved")
        batch.drop_column("retrieval_ms")
