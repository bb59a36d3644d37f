"""The inbox: inbound updates committed before the platform hears they arrived, processed per
chat in the platform's order by whichever worker holds the chat's lease."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, exists, func, null, or_, select, update
from sqlalchemy.sql import Executable

from storage.repositories.base import Repo, insert_for, per_dialect
from storage.schema import Row, inbound_updates, inbox, inbox_leases

PENDING, DONE, PARKED, DROPPED = "pending", "done", "parked", "dropped"
_NOW = bindparam("now", type_=inbox.c.due_at.type)


@per_dialect
def _add(dialect: str) -> Executable:
    key = [inbox.c.channel, inbox.c.update_id, inbox.c.chat, inbox.c.fingerprint]
    return (
        insert_for(dialect, inbox).on_conflict_do_nothing(index_elements=key).returning(inbox.c.id)
    )


@per_dialect
def _add_plain(dialect: str) -> Executable:
    key = [inbox.c.channel, inbox.c.update_id, inbox.c.chat, inbox.c.fingerprint]
    return insert_for(dialect, inbox).on_conflict_do_nothing(index_elements=key)


_STORED = select(
    inbox.c.id, inbox.c.channel, inbox.c.update_id, inbox.c.chat, inbox.c.fingerprint
).where(inbox.c.update_id.in_(bindparam("b_ids", expanding=True)))


@per_dialect
def _claim(dialect: str) -> Executable:
    """Take the chat's lease if it is free, expired or already ours; no row back otherwise.
    On PostgreSQL the upsert locks the lease row, so two claimers of one chat queue here."""
    ins = insert_for(dialect, inbox_leases).values(
        channel=bindparam("channel"),
        chat=bindparam("chat"),
        owner=bindparam("owner"),
        until=bindparam("until", type_=inbox_leases.c.until.type),
    )
    return ins.on_conflict_do_update(
        index_elements=[inbox_leases.c.channel, inbox_leases.c.chat],
        set_={"owner": ins.excluded.owner, "until": ins.excluded.until},
        where=or_(
            inbox_leases.c.owner == ins.excluded.owner,
            inbox_leases.c.until < bindparam("now", type_=inbox_leases.c.until.type),
        ),
    ).returning(inbox_leases.c.owner)


@functools.cache
def _done_release() -> Executable:
    """PostgreSQL: mark the row done and let the chat go, in one round trip."""
    done = _DONE.cte("done")
    return _RELEASE.add_cte(done)


_RELEASE = delete(inbox_leases).where(
    inbox_leases.c.channel == bindparam("b_channel"),
    inbox_leases.c.chat == bindparam("b_chat"),
    inbox_leases.c.owner == bindparam("b_owner"),
)
_HEAD = (
    select(inbox)
    .where(
        inbox.c.channel == bindparam("b_channel"),
        inbox.c.chat == bindparam("b_chat"),
        inbox.c.status == PENDING,
    )
    .order_by(inbox.c.seq, inbox.c.id)
    .limit(bindparam("b_limit"))
)


@functools.cache
def _due_chats() -> Select[Any]:
    """Chats whose oldest pending row is due and whose lease is free, expired or ours."""
    older = inbox.alias("older")
    lease = inbox_leases
    blocked = exists().where(
        older.c.channel == inbox.c.channel,
        older.c.chat == inbox.c.chat,
        older.c.status == PENDING,
        or_(older.c.seq < inbox.c.seq, and_(older.c.seq == inbox.c.seq, older.c.id < inbox.c.id)),
    )
    return (
        select(inbox.c.channel, inbox.c.chat)
        .select_from(
            inbox.outerjoin(
                lease, and_(lease.c.channel == inbox.c.channel, lease.c.chat == inbox.c.chat)
            )
        )
        .where(
            inbox.c.status == PENDING,
            inbox.c.due_at <= _NOW,
            ~blocked,
            or_(lease.c.owner.is_(None), lease.c.until < _NOW, lease.c.owner == bindparam("me")),
        )
        .order_by(inbox.c.id)
        .limit(bindparam("limit"))
    )


_BY_ID = inbox.c.id == bindparam("b_id")
_DONE = (
    update(inbox)
    .where(_BY_ID)
    .values(status=DONE, payload=null(), processed_at=bindparam("processed_at"), error=None)
)
_FAILED = (
    update(inbox)
    .where(_BY_ID)
    .values(attempts=bindparam("attempts"), due_at=bindparam("due_at"), error=bindparam("error"))
)
_PARK = (
    update(inbox)
    .where(_BY_ID)
    .values(
        status=PARKED,
        attempts=bindparam("attempts"),
        error=bindparam("error"),
        processed_at=bindparam("processed_at"),
    )
)
_RETRY = (
    update(inbox)
    .where(_BY_ID, inbox.c.status.in_([PARKED, PENDING]))
    .values(status=PENDING, attempts=0, due_at=bindparam("due_at"), processed_at=None)
)
_DROP = (
    update(inbox)
    .where(_BY_ID, inbox.c.status.in_([PARKED, PENDING]))
    .values(
        status=DROPPED,
        payload=null(),
        error=bindparam("error"),
        processed_at=bindparam("processed_at"),
    )
)
_BEFORE = bindparam("before", type_=inbox.c.received_at.type)
_PRUNE = delete(inbox).where(inbox.c.status.in_([DONE, DROPPED]), inbox.c.received_at < _BEFORE)
_PRUNE_IDS = delete(inbound_updates).where(inbound_updates.c.received_at < _BEFORE)
_PRUNE_LEASES = delete(inbox_leases).where(inbox_leases.c.until < _BEFORE)
_LIST_COLUMNS = [c for c in inbox.c if c.name != "payload"]


class Inbox(Repo):
    async def add(
        self,
        *,
        channel: str,
        update_id: str,
        chat: str,
        fingerprint: str,
        seq: int,
        payload: Any,
        now: datetime,
    ) -> int | None:
        """Store an update; None when it is a redelivery of one stored before."""
        params = {
            "channel": channel,
            "update_id": update_id,
            "chat": chat,
            "fingerprint": fingerprint,
            "seq": seq,
            "payload": payload,
            "received_at": now,
            "status": PENDING,
            "attempts": 0,
            "due_at": now,
        }
        value = (await self.session.execute(_add(self.session.dialect), params)).scalar()
        return None if value is None else int(value)

    async def add_many(self, items: Sequence[Mapping[str, Any]], now: datetime) -> list[int | None]:
        """Store a batch; each item's row id, or None for a redelivery (of an update stored
        before, or a second copy within the batch). Items carry ``channel``, ``update_id``,
        ``chat``, ``fingerprint``, ``seq`` and ``payload``.

        One update is one statement; a bigger batch (a getUpdates answer of up to 100) is three
        round trips whatever its size: what was there, an executemany, what is there now."""
        if len(items) == 1:
            return [await self.add(**items[0], now=now)]
        if not items:
            return []
        rows = [
            {**item, "received_at": now, "status": PENDING, "attempts": 0, "due_at": now}
            for item in items
        ]
        keys = [(r["channel"], str(r["update_id"]), r["chat"], r["fingerprint"]) for r in rows]
        lookup = {"b_ids": sorted({k[1] for k in keys})}

        def key(row: Row) -> tuple[str, str, str, str]:
            return (row["channel"], row["update_id"], row["chat"], row["fingerprint"])

        before = {key(r) for r in await self.session.execute(_STORED, lookup)}
        await self.session.modify(_add_plain(self.session.dialect), rows)
        stored = {key(r): int(r["id"]) for r in await self.session.execute(_STORED, lookup)}
        ids: list[int | None] = []
        for k in keys:
            ids.append(None if k in before else stored.get(k))
            before.add(k)  # a second copy in one batch is a redelivery
        return ids

    async def claim_heads(
        self,
        channel: str,
        chat: str,
        owner: str,
        now: datetime,
        until: datetime,
        *,
        limit: int = 2,
    ) -> list[Row]:
        """Claim the chat and read its oldest rows; no rows when another worker holds it.

        Two statements on purpose, PostgreSQL included: a claim that waited for another
        worker's lease must read the rows afresh. In one statement (a data-modifying WITH) the
        read would use the snapshot taken before the wait, and see as pending a row the other
        worker has just processed."""
        if not await self.claim(channel, chat, owner, now, until):
            return []
        return await self.heads(channel, chat, limit)

    async def done_release(
        self, row_id: int, now: datetime, channel: str, chat: str, owner: str
    ) -> None:
        """:meth:`done`, then :meth:`release`: one round trip on PostgreSQL."""
        if self.session.dialect != "postgresql":
            await self.done(row_id, now)
            await self.release(channel, chat, owner)
            return
        params = {
            "b_id": row_id,
            "processed_at": now,
            "b_channel": channel,
            "b_chat": chat,
            "b_owner": owner,
        }
        await self.session.modify(_done_release(), params)

    async def claim(
        self, channel: str, chat: str, owner: str, now: datetime, until: datetime
    ) -> bool:
        """Hold the chat's lease until ``until``; False while another worker holds it."""
        params = {"channel": channel, "chat": chat, "owner": owner, "until": until, "now": now}
        rows = await self.session.execute(_claim(self.session.dialect), params)
        return rows.first() is not None

    async def release(self, channel: str, chat: str, owner: str) -> None:
        params = {"b_channel": channel, "b_chat": chat, "b_owner": owner}
        await self.session.modify(_RELEASE, params)

    async def head(self, channel: str, chat: str) -> Row | None:
        """The chat's oldest unprocessed row (pending, due or not): nothing later runs first."""
        return next(iter(await self.heads(channel, chat, 1)), None)

    async def heads(self, channel: str, chat: str, limit: int = 2) -> list[Row]:
        """The chat's oldest unprocessed rows, oldest first: the one to run and whether
        another follows, in one round trip."""
        params = {"b_channel": channel, "b_chat": chat, "b_limit": limit}
        return (await self.session.execute(_HEAD, params)).rows

    async def due_chats(self, now: datetime, me: str, limit: int = 100) -> list[tuple[str, str]]:
        rows = await self.session.execute(_due_chats(), {"now": now, "me": me, "limit": limit})
        seen: dict[tuple[str, str], None] = {}
        for row in rows:
            seen.setdefault((row["channel"], row["chat"]), None)
        return list(seen)

    async def done(self, row_id: int, now: datetime) -> None:
        """Processed: only what recognising a redelivery needs stays."""
        await self.session.modify(_DONE, {"b_id": row_id, "processed_at": now})

    async def failed(self, row_id: int, attempts: int, error: str, due_at: datetime) -> None:
        params = {"b_id": row_id, "attempts": attempts, "error": error, "due_at": due_at}
        await self.session.modify(_FAILED, params)

    async def park(self, row_id: int, attempts: int, error: str, now: datetime) -> None:
        """Given up on after its attempts: the chat's later rows flow; the payload stays for
        ``kesu inbox retry``."""
        params = {"b_id": row_id, "attempts": attempts, "error": error, "processed_at": now}
        await self.session.modify(_PARK, params)

    async def retry(self, row_id: int, now: datetime) -> bool:
        return await self.session.modify(_RETRY, {"b_id": row_id, "due_at": now}) > 0

    async def drop(self, row_id: int, reason: str, now: datetime) -> bool:
        params = {"b_id": row_id, "error": reason, "processed_at": now}
        return await self.session.modify(_DROP, params) > 0

    async def get(self, row_id: int) -> Row | None:
        return (await self.session.execute(select(inbox).where(_BY_ID), {"b_id": row_id})).first()

    async def listing(self, statuses: Sequence[str], limit: int = 100) -> list[Row]:
        """Rows in these states, oldest first, without their payloads."""
        stmt = (
            select(*_LIST_COLUMNS)
            .where(inbox.c.status.in_(bindparam("statuses", expanding=True)))
            .order_by(inbox.c.id)
            .limit(bindparam("limit"))
        )
        rows = await self.session.execute(stmt, {"statuses": list(statuses), "limit": limit})
        return rows.rows

    async def counts(self) -> dict[str, int]:
        stmt = select(inbox.c.status, func.count().label("n")).group_by(inbox.c.status)
        return {row["status"]: int(row["n"]) for row in await self.session.execute(stmt)}

    async def prune(self, before: datetime) -> int:
        """Forget processed and dropped rows, staff-action ids and dead leases older than
        ``before``; parked and pending rows stay whatever their age."""
        params = {"before": before}
        removed = await self.session.modify(_PRUNE, params)
        await self.session.modify(_PRUNE_IDS, params)
        await self.session.modify(_PRUNE_LEASES, params)
        return removed
