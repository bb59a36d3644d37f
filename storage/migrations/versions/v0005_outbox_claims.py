"""Outbox claims for several instances: per-recipient leases (which also keep the per-chat
pace), the platform's shared send pace, and what a dead letter is judged by (failures that
were the message's own, and when its delivery started).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("since", sa.DateTime(), nullable=True))
    op.create_table(
        "outbox_leases",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "recipient", name=op.f("pk_outbox_leases")),
    )
    op.create_table(
        "outbox_pace",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_outbox_pace")),
    )


def downgrade() -> None:
    op.drop_table("outbox_pace")
    op.drop_table("outbox_leases")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("since")
        batch_op.drop_column("failures")
