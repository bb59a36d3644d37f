"""Repositories: async methods over one open transaction.

A use case opens one transaction (``Store.write()``), wraps it in :class:`Tx` and calls as many
repositories as it needs, so a case row, its event and its outbound messages commit together
or not at all. Rows travel as plain dicts; ``bot`` turns them into domain objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import (
    Row,
    attachments,
    case_events,
    case_sequences,
    cases,
    conversations,
    customers,
    inbound_updates,
    message_refs,
    outbox,
)


class StorageError(Exception):
    """Base of what storage reports; the message is meant for a person."""


class NotFound(StorageError):
    pass


class StaleRow(StorageError):
    """Somebody changed the row since it was read (two staff clicking at once)."""


def _insert(conn: AsyncConnection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which knows ON CONFLICT (upserts stay one statement, no races)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise StorageError(f"unsupported database {conn.dialect.name!r}: use SQLite or PostgreSQL")


def _row(result_row: Any) -> Row:
    return dict(result_row._mapping)


class _Repo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn


class Customers(_Repo):
    async def ensure(
        self,
        channel: str,
        channel_user_id: str,
        now: datetime,
        *,
        display_name: str | None = None,
        language: str | None = None,
    ) -> int:
        """Id of the customer behind a channel identity, created on first contact."""
        row = await self.ensure_row(
            channel, channel_user_id, now, display_name=display_name, language=language
        )
        return int(row["id"])

    async def ensure_row(
        self,
        channel: str,
        channel_user_id: str,
        now: datetime,
        *,
        display_name: str | None = None,
        language: str | None = None,
    ) -> Row:
        """The customer row, created on first contact, in one statement.

        A later contact refreshes the display name and language only when the channel tells
        us one, so a message without them never erases what we knew.
        """
        ins = _insert(self.conn, customers).values(
            channel=channel,
            channel_user_id=channel_user_id,
            display_name=display_name,
            language=language,
            created_at=now,
            updated_at=now,
        )
        stmt = ins.on_conflict_do_update(
            index_elements=[customers.c.channel, customers.c.channel_user_id],
            set_={
                "display_name": func.coalesce(ins.excluded.display_name, customers.c.display_name),
                "language": func.coalesce(ins.excluded.language, customers.c.language),
                "blocked_at": None,  # they wrote to us: whatever blocked us is over
                "updated_at": now,
            },
        ).returning(*customers.c)
        return _row((await self.conn.execute(stmt)).one())

    async def get(self, customer_id: int) -> Row:
        row = (
            await self.conn.execute(select(customers).where(customers.c.id == customer_id))
        ).first()
        if row is None:
            raise NotFound(f"no customer with id {customer_id}")
        return _row(row)

    async def find(self, channel: str, channel_user_id: str) -> Row | None:
        row = (
            await self.conn.execute(
                select(customers).where(
                    customers.c.channel == channel,
                    customers.c.channel_user_id == channel_user_id,
                )
            )
        ).first()
        return None if row is None else _row(row)

    async def update(self, customer_id: int, now: datetime, **values: Any) -> None:
        result = await self.conn.execute(
            update(customers).where(customers.c.id == customer_id).values(**values, updated_at=now)
        )
        if result.rowcount == 0:
            raise NotFound(f"no customer with id {customer_id}")


class Cases(_Repo):
    async def next_sequence(self, prefix: str, day: date) -> int:
        """Next number of the day for ``prefix``; part of the caller's transaction.

        One upsert statement: concurrent openers queue on the row (PostgreSQL) or on the
        write lock (SQLite), and a rolled-back opening gives its number back, so the daily
        sequence has no gaps and no repeats.
        """
        ins = _insert(self.conn, case_sequences).values(prefix=prefix, day=day, last=1)
        stmt = ins.on_conflict_do_update(
            index_elements=[case_sequences.c.prefix, case_sequences.c.day],
            set_={"last": case_sequences.c.last + 1},
        ).returning(case_sequences.c.last)
        return int((await self.conn.execute(stmt)).scalar_one())

    async def insert(self, values: Mapping[str, Any]) -> Row:
        stmt = cases.insert().values(**values, version=1).returning(*cases.c)
        return _row((await self.conn.execute(stmt)).one())

    async def get(self, case_id: int, *, for_update: bool = False) -> Row:
        stmt = select(cases).where(cases.c.id == case_id)
        row = (await self.conn.execute(stmt.with_for_update() if for_update else stmt)).first()
        if row is None:
            raise NotFound(f"no case with id {case_id}")
        return _row(row)

    async def by_number(self, number: str, *, for_update: bool = False) -> Row | None:
        """``for_update`` locks the row on PostgreSQL; SQLite's write lock already does."""
        stmt = select(cases).where(cases.c.number == number)
        row = (await self.conn.execute(stmt.with_for_update() if for_update else stmt)).first()
        return None if row is None else _row(row)

    async def update(self, case_id: int, expected_version: int, values: Mapping[str, Any]) -> Row:
        """Write ``values`` if nobody changed the case since ``expected_version`` was read."""
        stmt = (
            update(cases)
            .where(cases.c.id == case_id, cases.c.version == expected_version)
            .values(**values, version=expected_version + 1)
            .returning(*cases.c)
        )
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            raise StaleRow(
                f"case {case_id} changed meanwhile (expected version {expected_version})"
            )
        return _row(row)

    async def search(
        self,
        *,
        statuses: Iterable[str] | None = None,
        customer_id: int | None = None,
        since: datetime | None = None,
        assignee: str | None = None,
        contact_digits: str | None = None,
        order: Literal["newest", "due"] = "newest",
        limit: int = 50,
        offset: int = 0,
    ) -> list[Row]:
        """Newest first; ``statuses`` filters by status values, ``since`` by receipt time,
        ``contact_digits`` (digits only) by part of the contact given for the case.
        ``order="due"``: the deadline that matters now first (first response until it is
        given, then resolution), for work lists."""
        if order == "due":
            due = case(
                (cases.c.first_responded_at.is_(None), cases.c.first_response_due),
                else_=cases.c.resolution_due,
            )
            stmt = select(cases).order_by(due, cases.c.id)
        else:
            stmt = select(cases).order_by(cases.c.received_at.desc(), cases.c.id.desc())
        if since is not None:
            stmt = stmt.where(cases.c.received_at >= since)
        if statuses is not None:
            stmt = stmt.where(cases.c.status.in_(list(statuses)))
        if customer_id is not None:
            stmt = stmt.where(cases.c.customer_id == customer_id)
        if assignee is not None:
            stmt = stmt.where(cases.c.assignee == assignee)
        if contact_digits is not None:
            if not contact_digits.isdigit():
                raise StorageError("contact_digits takes digits only")
            stmt = stmt.where(cases.c.contact.contains(contact_digits))
        rows = await self.conn.execute(stmt.limit(limit).offset(offset))
        return [_row(r) for r in rows]

    async def count(self) -> int:
        return int((await self.conn.execute(select(func.count()).select_from(cases))).scalar_one())


class Events(_Repo):
    async def append(
        self,
        *,
        case_id: int,
        at: datetime,
        actor: str,
        action: str,
        from_status: str | None,
        to_status: str,
        changes: Mapping[str, Sequence[Any]],
        note: str | None = None,
    ) -> int:
        stmt = (
            case_events.insert()
            .values(
                case_id=case_id,
                at=at,
                actor=actor,
                action=action,
                from_status=from_status,
                to_status=to_status,
                changes={k: list(v) for k, v in changes.items()},
                note=note,
            )
            .returning(case_events.c.id)
        )
        return int((await self.conn.execute(stmt)).scalar_one())

    async def for_case(self, case_id: int) -> list[Row]:
        rows = await self.conn.execute(
            select(case_events).where(case_events.c.case_id == case_id).order_by(case_events.c.id)
        )
        return [_row(r) for r in rows]


class Conversations(_Repo):
    async def get(self, channel: str, chat_id: str, *, for_update: bool = False) -> Row | None:
        """``for_update`` locks the row on PostgreSQL, so two instances serialise one chat."""
        stmt = select(conversations).where(
            conversations.c.channel == channel, conversations.c.chat_id == chat_id
        )
        row = (await self.conn.execute(stmt.with_for_update() if for_update else stmt)).first()
        return None if row is None else _row(row)

    async def put(
        self, channel: str, chat_id: str, *, flow: str, state: str, data: Any, now: datetime
    ) -> None:
        ins = _insert(self.conn, conversations).values(
            channel=channel, chat_id=chat_id, flow=flow, state=state, data=data, updated_at=now
        )
        await self.conn.execute(
            ins.on_conflict_do_update(
                index_elements=[conversations.c.channel, conversations.c.chat_id],
                set_={"flow": flow, "state": state, "data": ins.excluded.data, "updated_at": now},
            )
        )

    async def delete(self, channel: str, chat_id: str) -> None:
        await self.conn.execute(
            conversations.delete().where(
                conversations.c.channel == channel, conversations.c.chat_id == chat_id
            )
        )


class Outbox(_Repo):
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
        ins = _insert(self.conn, outbox).values(
            channel=channel,
            recipient=recipient,
            payload=payload,
            dedupe_key=dedupe_key,
            status="pending",
            attempts=0,
            not_before=now,
            created_at=now,
        )
        stmt = ins.on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key]).returning(
            outbox.c.id
        )
        value = (await self.conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else int(value)

    async def heads(self, now: datetime, limit: int = 100, channel: str | None = None) -> list[Row]:
        """Each chat's oldest pending message, if it is due: sending only heads keeps every
        chat's messages in order even while one of them waits for a retry."""
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
            outbox.c.status == "pending", outbox.c.id == first, outbox.c.not_before <= now
        )
        if channel is not None:
            stmt = stmt.where(outbox.c.channel == channel)
        rows = await self.conn.execute(stmt.order_by(outbox.c.id).limit(limit))
        return [_row(r) for r in rows]

    async def pending_count(self) -> int:
        stmt = select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
        return int((await self.conn.execute(stmt)).scalar_one())

    async def next_due(self, channel: str | None = None) -> datetime | None:
        """When the earliest pending message becomes due, so the worker can sleep until then."""
        # min() keeps the column's type, so the value comes back aware like the column.
        stmt = select(func.min(outbox.c.not_before)).where(outbox.c.status == "pending")
        if channel is not None:
            stmt = stmt.where(outbox.c.channel == channel)
        value: datetime | None = (await self.conn.execute(stmt)).scalar_one_or_none()
        return value

    async def due(self, now: datetime, limit: int = 100) -> list[Row]:
        rows = await self.conn.execute(
            select(outbox)
            .where(outbox.c.status == "pending", outbox.c.not_before <= now)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        return [_row(r) for r in rows]

    async def mark_sent(
        self, message_id: int, now: datetime, platform_message_id: str | None = None
    ) -> None:
        await self.conn.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .values(
                status="sent",
                sent_at=now,
                attempts=outbox.c.attempts + 1,
                platform_message_id=platform_message_id,
            )
        )

    async def mark_retry(self, message_id: int, error: str, not_before: datetime) -> None:
        await self.conn.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .values(attempts=outbox.c.attempts + 1, last_error=error, not_before=not_before)
        )

    async def supersede(self, channel: str, recipient: str, dedupe_like: str) -> int:
        """Drop pending messages a newer one makes pointless (an older edit of the same card,
        while Slack was down): the queue drains faster and the newest state still arrives.
        ``dedupe_like`` is a LIKE pattern over dedupe keys."""
        result = await self.conn.execute(
            update(outbox)
            .where(
                outbox.c.status == "pending",
                outbox.c.channel == channel,
                outbox.c.recipient == recipient,
                outbox.c.dedupe_key.like(dedupe_like),
            )
            .values(status="superseded")
        )
        return int(result.rowcount)

    async def mark_failed(self, message_id: int, error: str) -> None:
        """Given up for good (e.g. the customer blocked the bot); kept for the record."""
        await self.conn.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .values(status="failed", attempts=outbox.c.attempts + 1, last_error=error)
        )


class Attachments(_Repo):
    async def add(
        self, case_id: int, channel: str, items: Iterable[Mapping[str, Any]], now: datetime
    ) -> None:
        rows = [
            {
                "case_id": case_id,
                "channel": channel,
                "file_id": item["file_id"],
                "kind": item["kind"],
                "size": item.get("size"),
                "mime": item.get("mime"),
                "name": item.get("name"),
                "created_at": now,
            }
            for item in items
        ]
        if rows:
            await self.conn.execute(attachments.insert(), rows)

    async def for_case(self, case_id: int) -> list[Row]:
        rows = await self.conn.execute(
            select(attachments).where(attachments.c.case_id == case_id).order_by(attachments.c.id)
        )
        return [_row(r) for r in rows]


class InboundUpdates(_Repo):
    async def first_time(self, channel: str, update_id: str, now: datetime) -> bool:
        """Record an inbound update id; False if it was seen before (a redelivery)."""
        stmt = (
            _insert(self.conn, inbound_updates)
            .values(channel=channel, update_id=update_id, received_at=now)
            .on_conflict_do_nothing(
                index_elements=[inbound_updates.c.channel, inbound_updates.c.update_id]
            )
            .returning(inbound_updates.c.update_id)
        )
        return (await self.conn.execute(stmt)).first() is not None


class MessageRefs(_Repo):
    """Named sent messages: "card:42" → the platform's id of that message."""

    async def put(self, channel: str, ref: str, platform_message_id: str, now: datetime) -> None:
        stmt = _insert(self.conn, message_refs).values(
            channel=channel, ref=ref, platform_message_id=platform_message_id, updated_at=now
        )
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[message_refs.c.channel, message_refs.c.ref],
                set_={"platform_message_id": platform_message_id, "updated_at": now},
            )
        )

    async def many(self, channel: str, refs: Sequence[str]) -> dict[str, str]:
        if not refs:
            return {}
        rows = await self.conn.execute(
            select(message_refs.c.ref, message_refs.c.platform_message_id).where(
                message_refs.c.channel == channel, message_refs.c.ref.in_(list(refs))
            )
        )
        return {r.ref: r.platform_message_id for r in rows}

    async def ref_of(self, channel: str, platform_message_id: str, prefix: str) -> str | None:
        """Which named message (of the kind ``prefix``, e.g. "card:") this platform id is."""
        rows = await self.conn.execute(
            select(message_refs.c.ref).where(
                message_refs.c.channel == channel,
                message_refs.c.platform_message_id == platform_message_id,
                message_refs.c.ref.startswith(prefix, autoescape=True),
            )
        )
        value = rows.scalar_one_or_none()
        return None if value is None else str(value)


class Tx:
    """Every repository bound to one transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.customers = Customers(conn)
        self.cases = Cases(conn)
        self.events = Events(conn)
        self.conversations = Conversations(conn)
        self.outbox = Outbox(conn)
        self.inbound = InboundUpdates(conn)
        self.attachments = Attachments(conn)
        self.refs = MessageRefs(conn)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: what is written inside is undone alone if it raises."""
        nested = await self.conn.begin_nested()
        try:
            yield
        except BaseException:
            await nested.rollback()
            raise
        await nested.commit()
