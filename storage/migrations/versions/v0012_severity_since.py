"""Since when a case carries its severity flag (``cases.severity_since``, issue 15 item 4): the
report of a 热点 case (within one working day) and of a 重大 one (at once, then weekly while
open) are steps of the clock counted from it.

Existing 热点 and 重大 cases: their last change (``updated_at``), so the first sweep after the
upgrade reports each open one once, late; others NULL. In place on SQLite (see v0006).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("severity_since", sa.DateTime(), nullable=True))
    op.execute("UPDATE cases SET severity_since = updated_at WHERE severity IN ('hot', 'major')")
    op.execute(
        "UPDATE cases SET next_due = updated_at WHERE severity IN ('hot', 'major')"
        " AND status NOT IN ('closed', 'invalid')"
    )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("severity_since")
