"""Burst alerts (预警机制: 投诉突增, issue 15 item 4): ``burst_alerts``, one row per alert, active
while ``ended_at`` is NULL; a partial unique index on the category keeps one active alert per
category however many instances check at once. A new table: nothing to backfill (the check
reads the intake from ``cases.received_at``, already indexed).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ACTIVE = sa.text("ended_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "burst_alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("intake", sa.Integer(), nullable=False),
        sa.Column("usual", sa.Float(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burst_alerts")),
    )
    op.create_index(
        "ix_burst_alerts_active",
        "burst_alerts",
        ["category"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.create_index(op.f("ix_burst_alerts_started_at"), "burst_alerts", ["started_at"])


def downgrade() -> None:
    op.drop_table("burst_alerts")
