"""The revisit survey (issue 15): ``cases.survey``, the state of the latest closure's survey
(a step input of the clock, like the columns of v0008 and v0009), and ``survey_answers``, one
row per (case, closure round, question) so an answer given twice keeps the first.

Existing cases have no survey (their closures predate the draw): NULL. In place on SQLite (see
v0006): a nullable column, no table copy.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("survey", sa.String(length=16), nullable=True))
    op.create_table(
        "survey_answers",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_survey_answers_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint(
            "case_id", "round", "question", name=op.f("uq_survey_answers_case_id_round_question")
        ),
    )


def downgrade() -> None:
    op.drop_table("survey_answers")
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("survey")
