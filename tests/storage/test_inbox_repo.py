"""The inbox repository on every backend: storing updates once, a chat's head, the chat
leases, which chats have work due, a row's outcomes, and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from storage.db import Store
from storage.repositories import Tx
from storage.schema import Row, inbound_updates, inbox, inbox_leases

NOW = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


async def add(
    tx: Tx,
    chat: str,
    seq: int,
    *,
    channel: str = "telegram",
    update_id: str | None = None,
    fingerprint: str | None = None,
    payload: Any = None,
    now: datetime = NOW,
) -> int | None:
    return await tx.inbox.add(
        channel=channel,
        update_id=update_id if update_id is not None else f"{chat}-{seq}",
        chat=chat,
        fingerprint=fingerprint if fingerprint is not None else f"m{seq}",
        seq=seq,
        payload=payload if payload is not None else {"text": f"{chat} #{seq} 你好"},
        now=now,
    )


async def added(tx: Tx, chat: str, seq: int, **kw: Any) -> int:
    row_id = await add(tx, chat, seq, **kw)
    assert row_id is not None
    return row_id


async def inbox_count(tx: Tx) -> int:
    return int((await tx.session.execute(select(func.count()).select_from(inbox))).scalar_one())


async def lease_of(tx: Tx, channel: str, chat: str) -> Row | None:
    stmt = select(inbox_leases).where(
        inbox_leases.c.channel == channel, inbox_leases.c.chat == chat
    )
    return (await tx.session.execute(stmt)).first()


async def put_lease(
    tx: Tx, chat: str, owner: str, until: datetime, channel: str = "telegram"
) -> None:
    await tx.session.modify(
        insert(inbox_leases).values(channel=channel, chat=chat, owner=owner, until=until)
    )


async def get(store: Store, row_id: int) -> Row:
    async with store.read() as tx:
        row = await tx.inbox.get(row_id)
    assert row is not None
    return row


class TestAdd:
    async def test_a_redelivery_is_recognised_and_stores_nothing(self, store: Store) -> None:
        async def work(tx: Tx) -> tuple[int | None, int | None, int]:
            first = await add(tx, "c1", 1, update_id="100", fingerprint="m1", payload={"v": 1})
            again = await add(
                tx, "c1", 1, update_id="100", fingerprint="m1", payload={"v": 2}, now=LATER
            )
            return first, again, await inbox_count(tx)

        first, again, count = await store.write(work)
        assert isinstance(first, int)
        assert again is None
        assert count == 1
        row = await get(store, first)
        assert row["payload"] == {"v": 1}  # the redelivery changed nothing
        assert row["received_at"] == NOW
        assert (row["status"], row["attempts"], row["due_at"]) == ("pending", 0, NOW)
        assert (row["channel"], row["update_id"], row["chat"], row["fingerprint"], row["seq"]) == (
            "telegram",
            "100",
            "c1",
            "m1",
            1,
        )

    async def test_the_same_update_id_for_another_chat_or_message_is_a_new_row(
        self, store: Store
    ) -> None:
        async def work(tx: Tx) -> list[int | None]:
            return [
                await add(tx, "c1", 1, update_id="100", fingerprint="m1"),
                await add(tx, "c2", 1, update_id="100", fingerprint="m1"),  # another chat
                await add(tx, "c1", 2, update_id="100", fingerprint="m2"),  # another message
                await add(tx, "c1", 1, update_id="100", fingerprint="m1", channel="slack"),
                await add(tx, "c2", 1, update_id="100", fingerprint="m1"),  # redelivered
            ]

        ids = await store.write(work)
        assert ids[4] is None
        assert all(isinstance(i, int) for i in ids[:4])
        assert len(set(ids[:4])) == 4
        async with store.read() as tx:
            assert await inbox_count(tx) == 4

    async def test_a_redelivery_of_a_processed_row_is_still_recognised(self, store: Store) -> None:
        row_id = await store.write(lambda tx: added(tx, "c1", 1))
        await store.write(lambda tx: tx.inbox.done(row_id, NOW))
        assert await store.write(lambda tx: add(tx, "c1", 1, now=LATER)) is None


class TestHead:
    async def test_the_oldest_pending_row_by_seq_then_id(self, store: Store) -> None:
        async def work(tx: Tx) -> dict[str, int]:
            return {
                "s5": await added(tx, "c1", 5),
                "s3a": await added(tx, "c1", 3, update_id="u3a", fingerprint="a"),
                "s3b": await added(tx, "c1", 3, update_id="u3b", fingerprint="b"),
                "other": await added(tx, "c2", 1),  # another chat, lower seq
                "slack": await added(tx, "c1", 1, channel="slack"),  # another channel
            }

        ids = await store.write(work)

        async def head_id() -> int | None:
            async with store.read() as tx:
                row = await tx.inbox.head("telegram", "c1")
            return None if row is None else int(row["id"])

        assert await head_id() == ids["s3a"]
        await store.write(lambda tx: tx.inbox.done(ids["s3a"], NOW))
        assert await head_id() == ids["s3b"]
        await store.write(lambda tx: tx.inbox.park(ids["s3b"], 5, "boom", NOW))
        assert await head_id() == ids["s5"]
        # A row waiting for a retry is still the head: nothing later runs before it.
        await store.write(lambda tx: tx.inbox.failed(ids["s5"], 1, "boom", LATER))
        assert await head_id() == ids["s5"]
        await store.write(lambda tx: tx.inbox.drop(ids["s5"], "spam", NOW))
        assert await head_id() is None
        async with store.read() as tx:
            slack = await tx.inbox.head("slack", "c1")
            nobody = await tx.inbox.head("telegram", "nobody")
        assert slack is not None
        assert slack["id"] == ids["slack"]
        assert nobody is None

    async def test_the_head_is_the_lowest_seq_whatever_the_order_of_arrival(
        self, store: Store
    ) -> None:
        async def work(tx: Tx) -> tuple[int, int]:
            late = await added(tx, "c1", 2)
            early = await added(tx, "c1", 1)
            return late, early

        _late, early = await store.write(work)
        async with store.read() as tx:
            row = await tx.inbox.head("telegram", "c1")
        assert row is not None
        assert row["id"] == early


class TestLeases:
    async def test_claim_and_release(self, store: Store) -> None:
        async def claim(owner: str, now: datetime, until: datetime, chat: str = "c1") -> bool:
            return await store.write(lambda tx: tx.inbox.claim("telegram", chat, owner, now, until))

        async def lease(chat: str = "c1") -> Row | None:
            async with store.read() as tx:
                return await lease_of(tx, "telegram", chat)

        t = NOW
        assert await claim("A", t, t + timedelta(seconds=10))  # free
        held = await lease()
        assert held is not None
        assert (held["owner"], held["until"]) == ("A", t + timedelta(seconds=10))
        # Held by another owner and not expired: refused, and left as it was.
        assert not await claim("B", t + timedelta(seconds=5), t + timedelta(seconds=15))
        held = await lease()
        assert held is not None
        assert (held["owner"], held["until"]) == ("A", t + timedelta(seconds=10))
        # Another chat, or the same chat on another channel, is not affected.
        assert await claim("B", t, t + timedelta(seconds=10), chat="c2")
        assert await store.write(
            lambda tx: tx.inbox.claim("slack", "c1", "B", t, t + timedelta(seconds=10))
        )
        # Its own: extended.
        assert await claim("A", t + timedelta(seconds=5), t + timedelta(seconds=20))
        held = await lease()
        assert held is not None
        assert (held["owner"], held["until"]) == ("A", t + timedelta(seconds=20))
        # Expired: taken over.
        assert await claim("B", t + timedelta(seconds=21), t + timedelta(seconds=31))
        held = await lease()
        assert held is not None
        assert (held["owner"], held["until"]) == ("B", t + timedelta(seconds=31))
        assert not await claim("A", t + timedelta(seconds=22), t + timedelta(seconds=32))
        # Only the holder releases.
        await store.write(lambda tx: tx.inbox.release("telegram", "c1", "A"))
        held = await lease()
        assert held is not None
        assert held["owner"] == "B"
        await store.write(lambda tx: tx.inbox.release("telegram", "c1", "B"))
        assert await lease() is None
        assert await lease("c2") is not None  # another chat's lease stays
        assert await claim("A", t + timedelta(seconds=23), t + timedelta(seconds=33))


class TestDueChats:
    async def test_only_chats_whose_oldest_pending_row_is_due_and_free(self, store: Store) -> None:
        future = NOW + timedelta(seconds=30)
        past = NOW - timedelta(seconds=1)

        async def work(tx: Tx) -> None:
            # c1: its head waits for a retry, a later row is due: not listed (order).
            head = await added(tx, "c1", 1)
            await tx.inbox.failed(head, 1, "boom", future)
            await added(tx, "c1", 2)
            # c2: due, no lease.
            await added(tx, "c2", 1)
            await added(tx, "c2", 2)
            # c3: due, leased by another worker until the future.
            await added(tx, "c3", 1)
            await put_lease(tx, "c3", "other", future)
            # c4: due, another worker's lease expired.
            await added(tx, "c4", 1)
            await put_lease(tx, "c4", "other", past)
            # c5: due, my own lease.
            await added(tx, "c5", 1)
            await put_lease(tx, "c5", "me", future)
            # c6: nothing pending.
            for seq, outcome in enumerate(("done", "park", "drop")):
                row_id = await added(tx, "c6", seq)
                if outcome == "done":
                    await tx.inbox.done(row_id, NOW)
                elif outcome == "park":
                    await tx.inbox.park(row_id, 5, "boom", NOW)
                else:
                    await tx.inbox.drop(row_id, "spam", NOW)
            # c7: received after now (not due yet).
            await added(tx, "c7", 1, now=future)
            # c8: its parked head does not hold back the row after it.
            parked = await added(tx, "c8", 1)
            await tx.inbox.park(parked, 5, "boom", NOW)
            await added(tx, "c8", 2)
            # c3 on another channel: the lease is per channel.
            await added(tx, "c3", 1, channel="slack")

        await store.write(work)
        async with store.read() as tx:
            due = await tx.inbox.due_chats(NOW, "me")
            due_of_other = await tx.inbox.due_chats(NOW, "other")
            one = await tx.inbox.due_chats(NOW, "me", limit=1)
            later = await tx.inbox.due_chats(future, "me")
        assert due == [
            ("telegram", "c2"),
            ("telegram", "c4"),
            ("telegram", "c5"),
            ("telegram", "c8"),
            ("slack", "c3"),
        ]  # each chat once, oldest head first
        assert set(due_of_other) == {
            ("telegram", "c2"),
            ("telegram", "c3"),
            ("telegram", "c4"),
            ("telegram", "c8"),
            ("slack", "c3"),
        }
        assert one == [("telegram", "c2")]
        # Once the back-off has passed, c1 is due; c3's lease is still held until `future`
        # (exactly then: not expired yet), c5's is mine, c7 has arrived.
        assert set(later) == {
            ("telegram", "c1"),
            ("telegram", "c2"),
            ("telegram", "c4"),
            ("telegram", "c5"),
            ("telegram", "c7"),
            ("telegram", "c8"),
            ("slack", "c3"),
        }


class TestOutcomes:
    async def test_done_clears_the_payload(self, store: Store) -> None:
        row_id = await store.write(lambda tx: added(tx, "c1", 1))
        await store.write(lambda tx: tx.inbox.failed(row_id, 1, "boom", NOW))
        await store.write(lambda tx: tx.inbox.done(row_id, LATER))
        row = await get(store, row_id)
        assert row["status"] == "done"
        assert row["payload"] is None
        assert row["processed_at"] == LATER
        assert row["error"] is None
        assert row["update_id"] == "c1-1"  # what recognising a redelivery needs stays

    async def test_failed_counts_the_attempt_and_defers_the_row(self, store: Store) -> None:
        row_id = await store.write(lambda tx: added(tx, "c1", 1))
        await store.write(lambda tx: tx.inbox.failed(row_id, 2, "ValueError: boom", LATER))
        row = await get(store, row_id)
        assert (row["status"], row["attempts"], row["error"], row["due_at"]) == (
            "pending",
            2,
            "ValueError: boom",
            LATER,
        )
        assert row["payload"] == {"text": "c1 #1 你好"}
        assert row["processed_at"] is None

    async def test_park_keeps_the_payload_and_retry_runs_it_again(self, store: Store) -> None:
        row_id = await store.write(lambda tx: added(tx, "c1", 1))
        await store.write(lambda tx: tx.inbox.park(row_id, 5, "KeyError: 'x'", NOW))
        row = await get(store, row_id)
        assert (row["status"], row["attempts"], row["error"], row["processed_at"]) == (
            "parked",
            5,
            "KeyError: 'x'",
            NOW,
        )
        assert row["payload"] == {"text": "c1 #1 你好"}

        assert await store.write(lambda tx: tx.inbox.retry(row_id, LATER))
        row = await get(store, row_id)
        assert (row["status"], row["attempts"], row["due_at"], row["processed_at"]) == (
            "pending",
            0,
            LATER,
            None,
        )
        assert row["payload"] == {"text": "c1 #1 你好"}
        async with store.read() as tx:
            head = await tx.inbox.head("telegram", "c1")
        assert head is not None
        assert head["id"] == row_id

    async def test_drop_clears_the_payload_and_records_the_reason(self, store: Store) -> None:
        async def work(tx: Tx) -> tuple[int, int]:
            return await added(tx, "c1", 1), await added(tx, "c1", 2)

        parked, pending = await store.write(work)
        await store.write(lambda tx: tx.inbox.park(parked, 5, "boom", NOW))
        assert await store.write(lambda tx: tx.inbox.drop(parked, "a test message", LATER))
        assert await store.write(lambda tx: tx.inbox.drop(pending, "spam", LATER))
        for row_id, reason in ((parked, "a test message"), (pending, "spam")):
            row = await get(store, row_id)
            assert (row["status"], row["payload"], row["error"], row["processed_at"]) == (
                "dropped",
                None,
                reason,
                LATER,
            )
        # A dropped row is not run again.
        assert not await store.write(lambda tx: tx.inbox.retry(parked, LATER))
        assert (await get(store, parked))["status"] == "dropped"

    async def test_a_done_row_can_be_neither_retried_nor_dropped(self, store: Store) -> None:
        row_id = await store.write(lambda tx: added(tx, "c1", 1))
        await store.write(lambda tx: tx.inbox.done(row_id, NOW))
        before = await get(store, row_id)
        assert not await store.write(lambda tx: tx.inbox.retry(row_id, LATER))
        assert not await store.write(lambda tx: tx.inbox.drop(row_id, "spam", LATER))
        assert await get(store, row_id) == before
        assert not await store.write(lambda tx: tx.inbox.retry(999_999, LATER))
        assert not await store.write(lambda tx: tx.inbox.drop(999_999, "x", LATER))
        async with store.read() as tx:
            assert await tx.inbox.get(999_999) is None


class TestPrune:
    async def test_forgets_old_processed_rows_ids_and_leases_only(self, store: Store) -> None:
        old = NOW - timedelta(days=7)
        cutoff = NOW - timedelta(days=6)
        recent = NOW - timedelta(days=1)

        async def work(tx: Tx) -> dict[str, int]:
            ids = {
                "old_done": await added(tx, "c1", 1, now=old),
                "old_dropped": await added(tx, "c1", 2, now=old),
                "old_parked": await added(tx, "c1", 3, now=old),
                "old_pending": await added(tx, "c1", 4, now=old),
                "new_done": await added(tx, "c1", 5, now=recent),
                "new_dropped": await added(tx, "c1", 6, now=recent),
            }
            await tx.inbox.done(ids["old_done"], old)
            await tx.inbox.drop(ids["old_dropped"], "spam", old)
            await tx.inbox.park(ids["old_parked"], 5, "boom", old)
            await tx.inbox.done(ids["new_done"], recent)
            await tx.inbox.drop(ids["new_dropped"], "spam", recent)
            assert await tx.inbound.first_time("slack", "old-view", old)
            assert await tx.inbound.first_time("slack", "new-view", recent)
            await put_lease(tx, "dead", "gone", old)
            await put_lease(tx, "live", "here", NOW + timedelta(seconds=10))
            return ids

        ids = await store.write(work)
        assert await store.write(lambda tx: tx.inbox.prune(cutoff)) == 2
        async with store.read() as tx:
            left = {key for key, row_id in ids.items() if await tx.inbox.get(row_id) is not None}
            views = (await tx.session.execute(select(inbound_updates.c.update_id))).scalars()
            leases = (await tx.session.execute(select(inbox_leases.c.chat))).scalars()
        assert left == {"old_parked", "old_pending", "new_done", "new_dropped"}
        assert views == ["new-view"]
        assert leases == ["live"]
        # A pruned id may come again: it is then a new update.
        assert await store.write(lambda tx: add(tx, "c1", 1, now=NOW)) is not None
        assert await store.write(lambda tx: tx.inbound.first_time("slack", "old-view", NOW))


class TestListing:
    async def test_listing_and_counts(self, store: Store) -> None:
        async def work(tx: Tx) -> list[int]:
            ids = [await added(tx, "c1", seq) for seq in range(1, 7)]
            await tx.inbox.done(ids[0], NOW)
            await tx.inbox.park(ids[1], 5, "boom", NOW)
            await tx.inbox.park(ids[2], 5, "bang", NOW)
            await tx.inbox.drop(ids[3], "spam", NOW)
            return ids

        ids = await store.write(work)
        async with store.read() as tx:
            parked = await tx.inbox.listing(["parked"])
            stuck = await tx.inbox.listing(["parked", "pending"])
            first = await tx.inbox.listing(["parked", "pending"], limit=1)
            none = await tx.inbox.listing(["nothing"])
            counts = await tx.inbox.counts()
        assert [r["id"] for r in parked] == ids[1:3]
        assert [r["error"] for r in parked] == ["boom", "bang"]
        assert all("payload" not in r for r in stuck)
        assert [r["id"] for r in stuck] == [ids[1], ids[2], ids[4], ids[5]]
        assert [r["id"] for r in first] == [ids[1]]
        assert none == []
        assert counts == {"done": 1, "parked": 2, "dropped": 1, "pending": 2}

    async def test_counts_of_an_empty_inbox(self, store: Store) -> None:
        async with store.read() as tx:
            assert await tx.inbox.counts() == {}
            assert await tx.inbox.listing(["pending"]) == []
