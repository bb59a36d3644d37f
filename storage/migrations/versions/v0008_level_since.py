"""Since when each case is at its escalation level (``cases.level_since``): the level's review
time (主管 1 h) is a deadline of the clock's steps, computed from the row like the others.

A column rather than reading the last escalation event: the steps stay a pure function of the
case row (the sweep's index ``next_due`` is computed where the row is written, also for a case
just opened), and the sweep reads no history per case.

Existing cases: the time of their last escalation or reopening (both move the level), else
the SLA clock's start. In place on SQLite (see v0006): a nullable column, no table copy.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("level_since", sa.DateTime(), nullable=True))
    # Plain SQL that SQLite and PostgreSQL read alike.
    op.execute(
        "UPDATE cases SET level_since = COALESCE("
        "(SELECT MAX(e.at) FROM case_events e WHERE e.case_id = cases.id"
        " AND e.action IN ('escalate', 'reopen')), sla_started_at)"
    )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("level_since")
