"""When the customer last heard from the desk (``cases.customer_heard_at``) and when they were
asked to confirm a resolution (``cases.confirm_asked_at``): two more inputs of the clock's steps
(issue 14) — a reminder when an open case's customer has heard nothing for a while
(定期更新进展), and the confirmation window counted from the question, which a supervisor's
review (``review_before_confirm``) may put after the resolution itself.

Columns rather than reading events, for the reason of v0008: the steps stay a pure function
of the row. Existing cases: the last message the desk sent them about the case (a reply, the
resolution, an escalation notice, a reopening), else the SLA clock's start; a resolved case
was asked when it was resolved. Working cases then get a next due instant no later than their
first step, as v0007 did, so the first sweep after the upgrade computes the new step for each
once (one visit per active case; a silence already long is reminded of once). In place on
SQLite (see v0006): nullable columns, no table copy.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("customer_heard_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("confirm_asked_at", sa.DateTime(), nullable=True))
    # Plain SQL that SQLite and PostgreSQL read alike.
    op.execute(
        "UPDATE cases SET customer_heard_at = COALESCE("
        "(SELECT MAX(e.at) FROM case_events e WHERE e.case_id = cases.id"
        " AND e.action IN ('reply', 'resolve', 'escalate', 'reopen', 'mark_invalid')),"
        " sla_started_at)"
    )
    op.execute("UPDATE cases SET confirm_asked_at = resolved_at WHERE status = 'resolved'")
    op.execute(
        "UPDATE cases SET next_due = sla_started_at"
        " WHERE status IN ('new', 'claimed', 'in_progress', 'reopened')"
        " AND clock_paused_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("confirm_asked_at")
        batch_op.drop_column("customer_heard_at")
