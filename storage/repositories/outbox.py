"""The outbox: every outbound message, queued in the transaction of the change that caused it,
and claimed per recipient by whichever worker — on any number of instances — sends it.

A worker claims recipients, not rows: it takes a recipient's lease only while nobody holds it
and the recipient's pace allows, then sends that recipient's oldest pending row. So each
recipient's messages go out one at a time, in order, once, whatever the number of workers.

A row queued for later (``not_before`` in the future, never tried: an acknowledgement held
back while the customer is still typing) waits for its time without holding up the rows
queued after it; once due, or once tried, it takes its place in its recipient's order.

One module though past 400 lines: every statement here reads or writes the same three tables
under the same ordering rule; the operator's listing, retry and drop could move out if it grows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.sql import Executable

from storage.repositories.base import Repo, insert_for, per_dialect
from storage.schema import Row, outbox, outbox_leases, outbox_pace

PENDING, SENT, FAILED, DROPPED, SUPERSEDED = "pending", "sent", "failed", "dropped", "superseded"
_NOW = bindparam("now", type_=outbox.c.not_before.type)
_LEASE = outbox_leases


@per_dialect
def _enqueue(dialect: str) -> Executable:
    ins = insert_for(dialect, outbox)
    return ins.on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key]).returning(outbox.c.id)


def _first_pending() -> Any:
    """The id of the outbox row's recipient's oldest pending message, leaving out rows
    queued for later whose time has not come (see the module docstring)."""
    older = outbox.alias("older")
    return (
        select(func.min(older.c.id))
        .where(
            older.c.status == PENDING,
            older.c.channel == outbox.c.channel,
            older.c.recipient == outbox.c.recipient,
            or_(older.c.not_before <= _NOW, older.c.attempts > 0),
        )
        .scalar_subquery()
    )


@per_dialect
def _claim(dialect: str) -> Executable:
    """Lease the recipients of up to ``limit`` due heads whose lease and pace are over.

    On PostgreSQL the heads are read ``FOR UPDATE SKIP LOCKED``: a head another worker is
    claiming this instant is skipped (its recipient with it: only heads are candidates), so
    claimers never wait on each other. The upsert's WHERE is what decides: re-checked on the
    lease row's newest version, it refuses a recipient another worker leased meanwhile."""
    held = exists().where(
        _LEASE.c.channel == outbox.c.channel,
        _LEASE.c.recipient == outbox.c.recipient,
        _LEASE.c.until > _NOW,
    )
    heads = (
        select(
            outbox.c.channel,
            outbox.c.recipient,
            bindparam("owner", type_=String(64)),
            bindparam("until", type_=_LEASE.c.until.type),
        )
        .where(
            outbox.c.status == PENDING,
            outbox.c.channel == bindparam("channel"),
            outbox.c.not_before <= _NOW,
            outbox.c.id == _first_pending(),
            ~held,
        )
        .order_by(outbox.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True, of=outbox)
    )
    ins = insert_for(dialect, _LEASE).from_select(
        [_LEASE.c.channel, _LEASE.c.recipient, _LEASE.c.owner, _LEASE.c.until], heads
    )
    return ins.on_conflict_do_update(
        index_elements=[_LEASE.c.channel, _LEASE.c.recipient],
        set_={"owner": ins.excluded.owner, "until": ins.excluded.until},
        where=_LEASE.c.until <= _NOW,
    ).returning(_LEASE.c.recipient)


_CLAIMED_HEADS = (
    select(outbox)
    .where(
        outbox.c.status == PENDING,
        outbox.c.channel == bindparam("channel"),
        outbox.c.recipient.in_(bindparam("recipients", expanding=True)),
        outbox.c.id == _first_pending(),
        outbox.c.not_before <= _NOW,
    )
    .order_by(outbox.c.id)
)


@per_dialect
def _pace_lock(dialect: str) -> Executable:
    """The platform's next free slot, its row locked until the transaction ends (created at
    ``now`` on first use): reserving slots is read-then-write, one instance at a time."""
    ins = insert_for(dialect, outbox_pace).values(
        channel=bindparam("channel"), next_at=bindparam("now", type_=outbox_pace.c.next_at.type)
    )
    return ins.on_conflict_do_update(
        index_elements=[outbox_pace.c.channel], set_={"next_at": outbox_pace.c.next_at}
    ).returning(outbox_pace.c.next_at)


_PACE_SET = (
    update(outbox_pace)
    .where(outbox_pace.c.channel == bindparam("b_channel"))
    .values(next_at=bindparam("next_at"))
)


@functools.cache
def _next_due() -> Select[Any]:
    """When the earliest head can next be claimed: its own time, or its recipient's lease's.
    A row queued for later is a head-to-be: its time counts too."""
    lease_until = _LEASE.c.until
    when = case((lease_until > outbox.c.not_before, lease_until), else_=outbox.c.not_before)
    return (
        select(func.min(when).label("at"))
        .select_from(
            outbox.outerjoin(
                _LEASE,
                and_(
                    _LEASE.c.channel == outbox.c.channel, _LEASE.c.recipient == outbox.c.recipient
                ),
            )
        )
        .where(
            outbox.c.status == PENDING,
            outbox.c.channel == bindparam("channel"),
            or_(
                outbox.c.id == _first_pending(),
                and_(outbox.c.attempts == 0, outbox.c.not_before > _NOW),
            ),
        )
    )


_BY_ID = outbox.c.id == bindparam("b_id")
_RELEASE = (
    update(_LEASE)
    .where(
        _LEASE.c.channel == bindparam("b_channel"),
        _LEASE.c.recipient == bindparam("b_recipient"),
        _LEASE.c.owner == bindparam("b_owner"),
    )
    .values(owner=None, until=bindparam("until"))
)
_MARK_SENT = (
    update(outbox)
    .where(_BY_ID)
    .values(
        status=SENT,
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
        failures=outbox.c.failures + bindparam("counted"),
        last_error=bindparam("last_error"),
        not_before=bindparam("not_before"),
    )
)
_MARK_FAILED = (
    update(outbox)
    .where(_BY_ID)
    .values(
        status=FAILED,
        attempts=outbox.c.attempts + 1,
        failures=outbox.c.failures + bindparam("counted"),
        last_error=bindparam("last_error"),
    )
)
_SUPERSEDE = (
    update(outbox)
    .where(
        outbox.c.status == PENDING,
        outbox.c.channel == bindparam("b_channel"),
        outbox.c.recipient == bindparam("b_recipient"),
        outbox.c.dedupe_key.like(bindparam("b_like")),
    )
    .values(status=SUPERSEDED)
)
_WAITING = (
    select(outbox.c.id, outbox.c.dedupe_key, outbox.c.payload)
    .where(
        outbox.c.status == PENDING,
        outbox.c.attempts == 0,
        outbox.c.channel == bindparam("b_channel"),
        outbox.c.recipient == bindparam("b_recipient"),
        outbox.c.dedupe_key.like(bindparam("b_like")),
    )
    .order_by(outbox.c.id.desc())
    .limit(1)
)
_RETRY = (
    update(outbox)
    .where(_BY_ID, outbox.c.status.in_([PENDING, FAILED, DROPPED]))
    .values(status=PENDING, not_before=bindparam("now"), since=bindparam("now"), failures=0)
)
_DROP = (
    update(outbox)
    .where(_BY_ID, outbox.c.status.in_([PENDING, FAILED]))
    .values(status=DROPPED, last_error=bindparam("reason"))
)
_PRUNE_LEASES = delete(_LEASE).where(
    _LEASE.c.owner.is_(None), _LEASE.c.until < bindparam("before", type_=_LEASE.c.until.type)
)
_LIST_COLUMNS = [c for c in outbox.c if c.name != "payload"]
_HOLDERS = select(_LEASE.c.owner).where(_LEASE.c.owner.is_not(None)).distinct()
_FREE = (
    update(_LEASE)
    .where(_LEASE.c.owner.in_(bindparam("owners", expanding=True)))
    .values(owner=None, until=bindparam("now", type_=_LEASE.c.until.type))
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
        not_before: datetime | None = None,
    ) -> int | None:
        """Queue a message, to be sent from ``not_before`` (default: now; a later time holds
        up none of the recipient's other messages meanwhile); None when a message with the
        same ``dedupe_key`` already is."""
        params = {
            "channel": channel,
            "recipient": recipient,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "status": PENDING,
            "attempts": 0,
            "failures": 0,
            "not_before": now if not_before is None else not_before,
            "created_at": now,
            "since": now,
        }
        result = await self.session.execute(_enqueue(self.session.dialect), params)
        value = result.scalar()
        return None if value is None else int(value)

    # -- sending: claim, pace, record -----------------------------------------------------------

    async def claim(
        self, channel: str, owner: str, now: datetime, until: datetime, limit: int
    ) -> list[Row]:
        """Lease up to ``limit`` recipients whose head is due and free, until ``until``; their
        head rows, oldest first. Rows of a recipient leased elsewhere are never returned."""
        params = {"channel": channel, "owner": owner, "now": now, "until": until, "limit": limit}
        leased = (await self.session.execute(_claim(self.session.dialect), params)).scalars()
        if not leased:
            return []
        params = {"channel": channel, "recipients": leased, "now": now}
        return (await self.session.execute(_CLAIMED_HEADS, params)).rows

    async def pace(self, channel: str, now: datetime) -> datetime:
        """The platform's first free send slot; its row stays locked until this transaction
        ends, so the slots one instance reserves are not reserved by another."""
        params = {"channel": channel, "now": now}
        value: datetime = (
            await self.session.execute(_pace_lock(self.session.dialect), params)
        ).scalar_one()
        return value

    async def set_pace(self, channel: str, next_at: datetime) -> None:
        """After :meth:`pace` in the same transaction: the next free slot is now ``next_at``."""
        await self.session.modify(_PACE_SET, {"b_channel": channel, "next_at": next_at})

    async def release(self, channel: str, recipient: str, owner: str, until: datetime) -> bool:
        """Give the recipient back, paced until ``until``; False when ``owner`` no longer
        holds it (its lease ran out and another worker took it): then its outcome is not
        this worker's to record."""
        params = {"b_channel": channel, "b_recipient": recipient, "b_owner": owner, "until": until}
        return await self.session.modify(_RELEASE, params) > 0

    async def next_due(self, channel: str, now: datetime) -> datetime | None:
        """When the earliest head can be claimed (its retry time, its recipient's lease and
        pace, or the time of a row queued for later), so the worker can sleep until then."""
        value: datetime | None = (
            await self.session.execute(_next_due(), {"channel": channel, "now": now})
        ).scalar()
        return value

    async def mark_sent(
        self, message_id: int, now: datetime, platform_message_id: str | None = None
    ) -> None:
        params = {"b_id": message_id, "sent_at": now, "platform_message_id": platform_message_id}
        await self.session.modify(_MARK_SENT, params)

    async def mark_retry(
        self, message_id: int, error: str, not_before: datetime, *, counted: bool = True
    ) -> None:
        """Try again at ``not_before``; ``counted`` when the failure was the message's own
        (not flood control, an outage or a configuration error)."""
        params = {
            "b_id": message_id,
            "last_error": error,
            "not_before": not_before,
            "counted": int(counted),
        }
        await self.session.modify(_MARK_RETRY, params)

    async def supersede(self, channel: str, recipient: str, dedupe_like: str) -> int:
        """Drop pending messages a newer one makes pointless (an older edit of the same card,
        while Slack was down): the queue drains faster and the newest state still arrives.
        ``dedupe_like`` is a LIKE pattern over dedupe keys."""
        params = {"b_channel": channel, "b_recipient": recipient, "b_like": dedupe_like}
        return await self.session.modify(_SUPERSEDE, params)

    async def waiting(self, channel: str, recipient: str, dedupe_like: str) -> Row | None:
        """The newest message queued and never tried whose key matches ``dedupe_like`` (id,
        key, payload): one that a newer message may combine and :meth:`supersede`."""
        params = {"b_channel": channel, "b_recipient": recipient, "b_like": dedupe_like}
        return (await self.session.execute(_WAITING, params)).first()

    async def mark_failed(self, message_id: int, error: str, *, counted: bool = False) -> None:
        """Given up for good — a dead letter (e.g. the customer blocked the bot); kept for
        the record and for ``kesu outbox retry``."""
        params = {"b_id": message_id, "last_error": error, "counted": int(counted)}
        await self.session.modify(_MARK_FAILED, params)

    async def prune_leases(self, before: datetime) -> int:
        """Forget recipients nobody holds whose pace ran out before ``before``."""
        return await self.session.modify(_PRUNE_LEASES, {"before": before})

    async def holders(self) -> list[str]:
        """Every worker holding a recipient now (or when it died)."""
        return [str(o) for o in (await self.session.execute(_HOLDERS)).scalars()]

    async def free(self, owners: Sequence[str], now: datetime) -> int:
        """Take back every recipient these (dead) workers hold; how many."""
        if not owners:
            return 0
        return await self.session.modify(_FREE, {"owners": list(owners), "now": now})

    # -- the operator's view ---------------------------------------------------------------------

    async def get(self, message_id: int) -> Row | None:
        return (
            await self.session.execute(select(outbox).where(_BY_ID), {"b_id": message_id})
        ).first()

    async def retry(self, message_id: int, now: datetime) -> bool:
        """Deliver a dead letter (or a waiting or dropped message) again, now, as if new."""
        return await self.session.modify(_RETRY, {"b_id": message_id, "now": now}) > 0

    async def drop(self, message_id: int, reason: str) -> bool:
        """Never deliver a waiting message or a dead letter; the reason is kept."""
        return await self.session.modify(_DROP, {"b_id": message_id, "reason": reason}) > 0

    async def listing(self, statuses: Sequence[str], limit: int = 100) -> list[Row]:
        """Messages in these states, oldest first, without their payloads (customers' words)."""
        stmt = (
            select(*_LIST_COLUMNS)
            .where(outbox.c.status.in_(bindparam("statuses", expanding=True)))
            .order_by(outbox.c.id)
            .limit(bindparam("limit"))
        )
        rows = await self.session.execute(stmt, {"statuses": list(statuses), "limit": limit})
        return rows.rows

    async def counts(self) -> dict[str, int]:
        stmt = select(outbox.c.status, func.count().label("n")).group_by(outbox.c.status)
        return {row["status"]: int(row["n"]) for row in await self.session.execute(stmt)}
