"""The SLA clock's own start and the pause it was credited, stored on the case, so that a
correction recomputes deadlines from them (not from the receipt time); and the keywords that
explain the category, computed once at submission.

Existing cases: the clock started at the last reopening, else at the receipt time. Pauses
already taken stay in the stored deadlines; the credit counts from this release on. Keywords
of existing cases are computed once by the first `kesu run` (bot/services/backfill.py): the
classifier belongs to the deployment, not to a migration.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite can only make a column NOT NULL by copying the table, and dropping the old copy
    # is refused while events and attachments refer to it (foreign keys cannot be switched off
    # inside the migration's transaction). So there the column is added NOT NULL at once with
    # a placeholder default that the UPDATE below overwrites on every row; inserts always set it.
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "sla_started_at",
                sa.DateTime(),
                nullable=not sqlite,
                server_default="1970-01-01 00:00:00.000000" if sqlite else None,
            )
        )
        batch_op.add_column(
            sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("paused_business_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("keywords", sa.JSON(), nullable=True))
    # Plain SQL that SQLite and PostgreSQL read alike: the last reopening, else the receipt.
    op.execute(
        "UPDATE cases SET sla_started_at = COALESCE("
        "(SELECT MAX(e.at) FROM case_events e WHERE e.case_id = cases.id AND e.action = 'reopen'),"
        " received_at)"
    )
    if not sqlite:
        op.alter_column("cases", "sla_started_at", existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("keywords")
        batch_op.drop_column("paused_business_seconds")
        batch_op.drop_column("paused_seconds")
        batch_op.drop_column("sla_started_at")
