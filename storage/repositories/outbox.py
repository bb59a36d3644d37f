"""The outbox: every outbound message, queued in the transaction of the change that caused it."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.sql import Executable

from storage.repositories.base import Repo, insert_for, per_dialect
from storage.schema import Row, outbox


@per_dialect
def _enqueue(dialect: str) -> Executable:
    ins = insert_for(dialect, outbox)
    return ins.on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key]).returning(outbox.c.id)


@functools.cache
def _heads(by_channel: bool) -> Select[Any]:
    older = outbox.alias("older")
    first = (
        select(func.min(older.c.id))
        .where(
            older.c.status == "pending",
            older.c.channel == outbox.c.channel,
            older.c.recipient == outbox.c.recipient,
        )
        .scalar_subquery()
    )
    stmt = select(outbox).where(
        outbox.c.status == "pending",
        outbox.c.id == first,
        outbox.c.not_before <= bindparam("now", type_=outbox.c.not_before.type),
    )
    if by_channel:
        stmt = stmt.where(outbox.c.channel == bindparam("channel"))
    return stmt.order_by(outbox.c.id).limit(bindparam("limit"))


@functools.cache
def _next_due(by_channel: bool) -> Select[Any]:
    # min() keeps the column's type, so the value comes back aware like the column.
    stmt = select(func.min(outbox.c.not_before)).where(outbox.c.status == "pending")
    if by_channel:
        stmt = stmt.where(outbox.c.channel == bindparam("channel"))
    return stmt


_BY_ID = outbox.c.id == bindparam("b_id")
_MARK_SENT = (
    update(outbox)
    .where(_BY_ID)
    .values(
        status="sent",
        sent_at=bindparam("sent_at"),
        attempts=outbox.c.attempts + 1,
        platform_message_id=bindparam("platform_message_id"),
    )
)
_MARK_RETRY = (
    update(outbox)
    .where(_BY_ID)
    .values(
        attempts=outbox.c.attempts + 1,
        last_error=bindparam("last_error"),
        not_before=bindparam("not_before"),
    )
)
_MARK_FAILED = (
    update(outbox)
    .where(_BY_ID)
    .values(status="failed", attempts=outbox.c.attempts + 1, last_error=bindparam("last_error"))
)
_SUPERSEDE = (
    update(outbox)
    .where(
        outbox.c.status == "pending",
        outbox.c.channel == bindparam("b_channel"),
        outbox.c.recipient == bindparam("b_recipient"),
        outbox.c.dedupe_key.like(bindparam("b_like")),
    )
    .values(status="superseded")
)


class Outbox(Repo):
    async def enqueue(
        self,
        *,
        channel: str,
        recipient: str,
        payload: Any,
        now: datetime,
        dedupe_key: str | None = None,
    ) -> int | None:
        """Queue a message; None when a message with the same ``dedupe_key`` already is."""
        params = {
            "channel": channel,
            "recipient": recipient,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "status": "pending",
            "attempts": 0,
            "not_before": now,
            "created_at": now,
        }
        result = await self.session.execute(_enqueue(self.session.dialect), params)
        value = result.scalar()
        return None if value is None else int(value)

    async def heads(self, now: datetime, limit: int = 100, channel: str | None = None) -> list[Row]:
        """Each chat's oldest pending message, if it is due: sending only heads keeps every
        chat's messages in order even while one of them waits for a retry."""
        params: dict[str, Any] = {"now": now, "limit": limit}
        if channel is not None:
            params["channel"] = channel
        rows = await self.session.execute(_heads(channel is not None), params)
        return rows.rows

    async def next_due(self, channel: str | None = None) -> datetime | None:
        """When the earliest pending message becomes due, so the worker can sleep until then."""
        params = None if channel is None else {"channel": channel}
        value: datetime | None = (
            await self.session.execute(_next_due(channel is not None), params)
        ).scalar()
        return value

    async def mark_sent(
        self, message_id: int, now: datetime, platform_message_id: str | None = None
    ) -> None:
        params = {"b_id": message_id, "sent_at": now, "platform_message_id": platform_message_id}
        await self.session.modify(_MARK_SENT, params)

    async def mark_retry(self, message_id: int, error: str, not_before: datetime) -> None:
        params = {"b_id": message_id, "last_error": error, "not_before": not_before}
        await self.session.modify(_MARK_RETRY, params)

    async def supersede(self, channel: str, recipient: str, dedupe_like: str) -> int:
        """Drop pending messages a newer one makes pointless (an older edit of the same card,
        while Slack was down): the queue drains faster and the newest state still arrives.
        ``dedupe_like`` is a LIKE pattern over dedupe keys."""
        params = {"b_channel": channel, "b_recipient": recipient, "b_like": dedupe_like}
        return await self.session.modify(_SUPERSEDE, params)

    async def mark_failed(self, message_id: int, error: str) -> None:
        """Given up for good (e.g. the customer blocked the bot); kept for the record."""
        await self.session.modify(_MARK_FAILED, {"b_id": message_id, "last_error": error})
