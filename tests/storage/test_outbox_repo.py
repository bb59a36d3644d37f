"""The outbox's claims on every backend: a recipient leased to one worker at a time, its
oldest pending row only, the per-chat pace and the platform's shared pace, expired leases
taken over, outcomes recorded only by the lease's holder, dead letters and their retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from storage.db import Store
from storage.repositories import Tx
from storage.schema import Row, outbox_leases

NOW = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
SOON = NOW + timedelta(seconds=30)


async def enqueue(tx: Tx, recipient: str, key: str | None = None, **kw: Any) -> int:
    kw.setdefault("channel", "telegram")
    kw.setdefault("now", NOW)
    kw.setdefault("payload", {"text": f"to {recipient}"})
    found = await tx.outbox.enqueue(recipient=recipient, dedupe_key=key, **kw)
    assert found is not None
    return found


async def claim(
    store: Store, owner: str, *, now: datetime = NOW, limit: int = 10, channel: str = "telegram"
) -> list[int]:
    async def work(tx: Tx) -> list[Row]:
        return await tx.outbox.claim(channel, owner, now, now + timedelta(seconds=30), limit)

    return [r["id"] for r in await store.write(work)]


async def lease_of(store: Store, recipient: str, channel: str = "telegram") -> Row | None:
    stmt = select(outbox_leases).where(
        outbox_leases.c.channel == channel, outbox_leases.c.recipient == recipient
    )
    async with store.read() as tx:
        return (await tx.session.execute(stmt)).first()


async def row(store: Store, message_id: int) -> Row:
    async with store.read() as tx:
        found = await tx.outbox.get(message_id)
    assert found is not None
    return found


class TestClaims:
    async def test_a_claim_takes_each_free_recipients_oldest_due_row(self, store: Store) -> None:
        async def work(tx: Tx) -> list[int]:
            return [
                await enqueue(tx, "A"),  # A's head
                await enqueue(tx, "A"),  # behind A's head: not a head
                await enqueue(tx, "B", now=NOW + timedelta(seconds=10)),  # not due yet
                await enqueue(tx, "C1", channel="slack"),  # another platform's head
            ]

        a1, a2, b1, c1 = await store.write(work)
        assert await claim(store, "w1") == [a1]
        lease = await lease_of(store, "A")
        assert lease is not None
        assert (lease["owner"], lease["until"]) == ("w1", SOON)
        # A is leased: nobody gets A's next row, not even the holder.
        assert await claim(store, "w2") == []
        assert await claim(store, "w1") == []
        assert await claim(store, "w2", channel="slack") == [c1]
        async with store.read() as tx:
            assert await tx.outbox.next_due("telegram", NOW) == NOW + timedelta(seconds=10)  # B
            assert await tx.outbox.next_due("web", NOW) is None

        # The holder records and releases with the per-chat pace: A waits a second more.
        async def sent(tx: Tx) -> bool:
            await tx.outbox.mark_sent(a1, NOW, "m-1")
            return await tx.outbox.release("telegram", "A", "w1", NOW + timedelta(seconds=1))

        assert await store.write(sent) is True
        assert await claim(store, "w2") == []  # paced
        async with store.read() as tx:
            assert await tx.outbox.next_due("telegram", NOW) == NOW + timedelta(seconds=1)
        assert await claim(store, "w2", now=NOW + timedelta(seconds=1)) == [a2]
        assert await claim(store, "w3", now=NOW + timedelta(seconds=10)) == [b1]  # A: w2 has it

    async def test_the_limit_counts_recipients_oldest_first(self, store: Store) -> None:
        async def work(tx: Tx) -> list[int]:
            return [await enqueue(tx, str(n)) for n in range(5)]

        ids = await store.write(work)
        assert await claim(store, "w1", limit=2) == ids[:2]
        assert await claim(store, "w2", limit=10) == ids[2:]

    async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_record(
        self, store: Store
    ) -> None:
        a1 = await store.write(lambda tx: enqueue(tx, "A"))
        assert await claim(store, "w1") == [a1]
        assert await claim(store, "w2", now=SOON - timedelta(seconds=1)) == []  # still held
        assert await claim(store, "w2", now=SOON) == [a1]  # w1 died (or hung) meanwhile

        async def late(tx: Tx) -> bool:
            return await tx.outbox.release("telegram", "A", "w1", SOON)

        assert await store.write(late) is False  # w1's outcome is no longer w1's to record
        lease = await lease_of(store, "A")
        assert lease is not None
        assert lease["owner"] == "w2"

    async def test_a_retry_holds_its_recipient_and_moves_next_due(self, store: Store) -> None:
        async def work(tx: Tx) -> tuple[int, int]:
            return await enqueue(tx, "A"), await enqueue(tx, "A")

        a1, _ = await store.write(work)
        assert await claim(store, "w1") == [a1]

        async def retry(tx: Tx) -> None:
            await tx.outbox.mark_retry(a1, "500 internal", NOW + timedelta(seconds=5))
            await tx.outbox.release("telegram", "A", "w1", NOW)

        await store.write(retry)
        assert await claim(store, "w1") == []  # the head waits, and A's next waits behind it
        async with store.read() as tx:
            assert await tx.outbox.next_due("telegram", NOW) == NOW + timedelta(seconds=5)
        assert await claim(store, "w1", now=NOW + timedelta(seconds=5)) == [a1]
        got = await row(store, a1)
        assert (got["attempts"], got["failures"], got["last_error"]) == (1, 1, "500 internal")

    async def test_a_row_queued_for_later_holds_up_nothing_until_its_time(
        self, store: Store
    ) -> None:
        """A held-back acknowledgement (queued with a later ``not_before``) must not hold its
        chat's replies behind it; once due, or once tried, it is the head like any row."""
        later = NOW + timedelta(seconds=10)

        async def work(tx: Tx) -> tuple[int, int]:
            return await enqueue(tx, "A", not_before=later), await enqueue(tx, "A")

        a1, a2 = await store.write(work)
        got = await row(store, a1)
        assert (got["not_before"], got["created_at"]) == (later, NOW)
        assert await claim(store, "w1") == [a2]  # the row behind it goes now

        async def sent(tx: Tx) -> None:
            await tx.outbox.mark_sent(a2, NOW, "m-1")
            await tx.outbox.release("telegram", "A", "w1", NOW + timedelta(seconds=1))

        await store.write(sent)
        async with store.read() as tx:
            assert await tx.outbox.next_due("telegram", NOW + timedelta(seconds=1)) == later
        assert await claim(store, "w1", now=later - timedelta(seconds=1)) == []
        assert await claim(store, "w1", now=later) == [a1]

        async def retry(tx: Tx) -> int:
            await tx.outbox.mark_retry(a1, "500 internal", later + timedelta(seconds=5))
            await tx.outbox.release("telegram", "A", "w1", later)
            return await enqueue(tx, "A", now=later)

        a3 = await store.write(retry)
        # Tried once, it holds its recipient as any retry does: a3 waits behind it.
        assert await claim(store, "w1", now=later) == []
        async with store.read() as tx:
            assert await tx.outbox.next_due("telegram", later) == later + timedelta(seconds=5)
        assert await claim(store, "w1", now=later + timedelta(seconds=5)) == [a1]
        assert a3 > a1

    async def test_uncounted_failures_do_not_bring_a_dead_letter_closer(self, store: Store) -> None:
        a1 = await store.write(lambda tx: enqueue(tx, "A"))
        await store.write(lambda tx: tx.outbox.mark_retry(a1, "429", NOW, counted=False))
        got = await row(store, a1)
        assert (got["attempts"], got["failures"]) == (1, 0)

    async def test_sent_and_failed_leave_the_queue(self, store: Store) -> None:
        async def work(tx: Tx) -> tuple[int, int]:
            b, c = await enqueue(tx, "2"), await enqueue(tx, "3")
            await tx.outbox.mark_sent(b, NOW, "m-77")
            await tx.outbox.mark_failed(c, "403 blocked by the user")
            return b, c

        await store.write(work)
        assert await claim(store, "w1") == []
        async with store.read() as tx:
            assert await tx.outbox.next_due("telegram", NOW) is None


class TestPace:
    async def test_slots_are_reserved_one_transaction_at_a_time(self, store: Store) -> None:
        async def reserve(tx: Tx) -> datetime:
            start = await tx.outbox.pace("telegram", NOW)
            await tx.outbox.set_pace("telegram", max(start, NOW) + timedelta(seconds=1))
            return start

        assert await store.write(reserve) == NOW  # first use: free now
        assert await store.write(reserve) == NOW + timedelta(seconds=1)

    async def test_pace_is_per_platform(self, store: Store) -> None:
        async def push(tx: Tx) -> None:
            await tx.outbox.pace("telegram", NOW)
            await tx.outbox.set_pace("telegram", SOON)

        await store.write(push)
        assert await store.write(lambda tx: tx.outbox.pace("slack", NOW)) == NOW
        assert await store.write(lambda tx: tx.outbox.pace("telegram", NOW)) == SOON


class TestDeadLetters:
    async def test_list_retry_and_drop(self, store: Store) -> None:
        async def work(tx: Tx) -> tuple[int, int, int]:
            a, b, c = await enqueue(tx, "A"), await enqueue(tx, "B"), await enqueue(tx, "C")
            await tx.outbox.mark_failed(a, "unexpected: KeyError 'card'")
            await tx.outbox.mark_sent(c, NOW, "m-1")
            return a, b, c

        a, b, c = await store.write(work)
        async with store.read() as tx:
            failed = await tx.outbox.listing(["failed"])
            waiting = await tx.outbox.listing(["pending", "failed"], limit=1)
            counts = await tx.outbox.counts()
        assert [(r["id"], r["last_error"]) for r in failed] == [(a, "unexpected: KeyError 'card'")]
        assert "payload" not in failed[0]  # customers' words stay out of listings
        assert [r["id"] for r in waiting] == [a]
        assert counts == {"failed": 1, "pending": 1, "sent": 1}

        later = NOW + timedelta(hours=3)
        assert await store.write(lambda tx: tx.outbox.retry(a, later)) is True
        assert await store.write(lambda tx: tx.outbox.retry(c, later)) is False  # sent: no
        again = await row(store, a)
        assert (again["status"], again["not_before"], again["since"], again["failures"]) == (
            "pending", later, later, 0,
        )  # fmt: skip
        assert await store.write(lambda tx: tx.outbox.drop(b, "dropped: wrong chat")) is True
        assert await store.write(lambda tx: tx.outbox.drop(c, "dropped: no")) is False
        dropped = await row(store, b)
        assert (dropped["status"], dropped["last_error"]) == ("dropped", "dropped: wrong chat")
        assert await claim(store, "w1", now=later) == [a]

    async def test_prune_forgets_only_free_recipients_whose_pace_ran_out(
        self, store: Store
    ) -> None:
        async def work(tx: Tx) -> None:
            for who in ("A", "B"):
                await enqueue(tx, who)

        await store.write(work)
        await claim(store, "w1")
        await store.write(lambda tx: tx.outbox.release("telegram", "A", "w1", NOW))
        assert await store.write(lambda tx: tx.outbox.prune_leases(NOW + timedelta(hours=1))) == 1
        assert await lease_of(store, "A") is None
        assert await lease_of(store, "B") is not None  # still held: kept
