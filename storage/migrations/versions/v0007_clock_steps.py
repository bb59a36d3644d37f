"""The clock's steps (issue 14): the deadline version and the next due instant of each case,
indexed for the sweep, and the steps done per (case, deadline version, step).

Existing cases: version 1, and a next due instant no later than their first step — the SLA
clock's start for a working case, the resolution for a resolved one — so the first sweep after
the upgrade computes each one's real steps (a point already passed acts once, marked late)
and sets the exact instant. Plain SQL: the points need the business calendar, which the sweep
has and a migration should not. Paused, closed and invalid cases have nothing due.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # In place (see v0006): SQLite cannot copy `cases` while events refer to it, so NOT NULL
    # only with a server default.
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("deadline_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("next_due", sa.DateTime(), nullable=True))
    op.create_index(
        op.f("ix_cases_next_due"),
        "cases",
        ["next_due"],
        unique=False,
        sqlite_where=sa.text("next_due IS NOT NULL"),
        postgresql_where=sa.text("next_due IS NOT NULL"),
    )
    op.execute(
        "UPDATE cases SET next_due = CASE"
        " WHEN status = 'resolved' THEN resolved_at"
        " WHEN status IN ('new', 'claimed', 'in_progress', 'reopened')"
        " AND clock_paused_at IS NULL THEN sla_started_at"
        " END"
    )
    op.create_table(
        "case_steps",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("mark", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_steps_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_steps")),
        sa.UniqueConstraint(
            "case_id", "version", "step", name=op.f("uq_case_steps_case_id_version_step")
        ),
    )


def downgrade() -> None:
    op.drop_table("case_steps")
    op.drop_index(op.f("ix_cases_next_due"), table_name="cases")
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("next_due")
        batch_op.drop_column("deadline_version")
