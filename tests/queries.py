"""What tests read straight from the tables. Production code reads through the repositories
(``storage/repositories``); these only check what those wrote."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.messages import OutgoingMessage
from storage.db import Store
from storage.repositories import Tx
from storage.schema import Row, cases, outbox

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


async def pending(tx: Tx, until: datetime = FAR_FUTURE, limit: int = 1000) -> list[Row]:
    """Pending outbox rows due by ``until``, oldest first."""
    stmt = (
        select(outbox)
        .where(outbox.c.status == "pending", outbox.c.not_before <= until)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return (await tx.session.execute(stmt)).rows


async def pending_count(tx: Tx) -> int:
    stmt = select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
    return int((await tx.session.execute(stmt)).scalar_one())


async def case_count(tx: Tx) -> int:
    return int((await tx.session.execute(select(func.count()).select_from(cases))).scalar_one())


async def queued(store: Store) -> list[tuple[str, str, OutgoingMessage]]:
    """Every pending message as (channel, recipient, message), oldest first."""
    async with store.read() as tx:
        rows = await pending(tx)
    return [
        (r["channel"], r["recipient"], OutgoingMessage.from_payload(r["payload"])) for r in rows
    ]
