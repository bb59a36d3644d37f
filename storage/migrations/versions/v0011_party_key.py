"""The party as cases count together for 热点 (issue 15 item 3): ``cases.party_key``, the
被投诉对象 normalised (NFKC, 繁→简, case folded, no spaces or punctuation), indexed with the
category and the receipt time.

Existing cases get their key here, computed as ``bot/nlp/text.py`` ``party_key`` does — a copy
of its few lines, frozen with this migration (a migration must not change when the app's code
does; tests/storage/test_migrations.py checks the two agree). In place on SQLite (see v0006).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import re
import unicodedata

import opencc
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_NOISE = re.compile(r"[\W_]+", re.UNICODE)
_BATCH = 1000


def key(party: str | None, t2s: opencc.OpenCC) -> str | None:
    if not party:
        return None
    folded = str(t2s.convert(unicodedata.normalize("NFKC", party))).casefold()
    return _NOISE.sub("", folded)[:256] or None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("party_key", sa.String(length=256), nullable=True))
    op.create_index(
        op.f("ix_cases_category_party_key_received_at"),
        "cases",
        ["category", "party_key", "received_at"],
        unique=False,
    )
    conn = op.get_bind()
    t2s = opencc.OpenCC("t2s")
    update = sa.text("UPDATE cases SET party_key = :key WHERE id = :id")
    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, party FROM cases WHERE party IS NOT NULL AND id > :last"
                " ORDER BY id LIMIT :batch"
            ),
            {"last": last, "batch": _BATCH},
        ).fetchall()
        if not rows:
            return
        conn.execute(update, [{"id": row[0], "key": key(row[1], t2s)} for row in rows])
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index(op.f("ix_cases_category_party_key_received_at"), table_name="cases")
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("party_key")
