"""The inbox worker on a real store (every backend), with fake channel handlers: a chat's
updates run once each, in the platform's order, one at a time on any number of workers;
failures are retried, then parked; a handler's writes commit with the row's outcome.

Each fake handler's effect is an outbox row written through the row's transaction, so what the
tests count is what was committed, not how often a handler was called. The worker mostly
reads the real time (``SystemClock``) so that back-off and leases come due; the back-off test
moves a ``FrozenClock`` by hand to check the due times to the microsecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select

from bot.clock import Clock, FrozenClock, SystemClock
from bot.inbox import After, Inbound, Inbox
from storage.db import Store
from storage.repositories import Tx
from storage.schema import Row, inbox, inbox_leases, outbox
from tests.conftest import SHANGHAI, Backend

T = TypeVar("T")
CHANNEL = "x"
STAFF = "staff"  # the recipient of the fake "parked" notices


def update(chat: str, seq: int, *, update_id: str | None = None) -> Inbound:
    return Inbound(
        channel=CHANNEL,
        update_id=update_id or f"{chat}-{seq}",
        chat=chat,
        fingerprint=f"m{seq}",
        seq=seq,
        payload={"text": f"{chat} #{seq}"},
    )


class Desk:
    """A fake channel: each processed update queues one outbox message (its effect), written
    before the handler decides to fail, so a failed try that left anything behind shows."""

    def __init__(self, label: str = "A", clock: Clock | None = None) -> None:
        self.label = label
        self.clock = clock or SystemClock()
        self.calls: list[tuple[str, int, float]] = []  # (chat, seq, monotonic time)
        self.stamps: list[tuple[str, int, datetime]] = []  # (chat, seq, the clock's time)
        self.parked_calls: list[tuple[str, int, str]] = []
        self.failures: dict[tuple[str, int], int] = {}  # tries left to fail; -1: always
        self.afters: dict[tuple[str, int], After] = {}
        self.fail_telling = False
        self._inflight: Counter[str] = Counter()
        self.max_inflight = 0  # most tries of one chat's rows running at once

    async def process(self, tx: Tx, row: Row) -> After | None:
        chat, seq = row["chat"], int(row["seq"])
        self.calls.append((chat, seq, time.monotonic()))
        self.stamps.append((chat, seq, self.clock.now()))
        self._inflight[chat] += 1
        self.max_inflight = max(self.max_inflight, self._inflight[chat])
        try:
            await asyncio.sleep(0)  # let anything else that could run now run
            assert row["payload"] == {"text": f"{chat} #{seq}"}
            await tx.outbox.enqueue(
                channel=CHANNEL,
                recipient=chat,
                payload={"seq": seq, "by": self.label},
                now=self.clock.now(),
            )
            left = self.failures.get((chat, seq), 0)
            if left:
                self.failures[(chat, seq)] = left - 1 if left > 0 else left
                raise RuntimeError(f"boom {chat}/{seq}")
        finally:
            self._inflight[chat] -= 1
        return self.afters.get((chat, seq))

    async def parked(self, tx: Tx, row: Row, reason: str) -> After | None:
        self.parked_calls.append((row["chat"], int(row["seq"]), reason))
        await tx.outbox.enqueue(
            channel=CHANNEL,
            recipient=STAFF,
            payload={"seq": int(row["seq"]), "chat": row["chat"], "reason": reason},
            now=self.clock.now(),
        )
        if self.fail_telling:
            raise RuntimeError("the staff channel is gone")
        return None

    def tries(self, chat: str, seq: int) -> list[float]:
        return [at for c, s, at in self.calls if (c, s) == (chat, seq)]


async def effects(store: Store) -> list[tuple[str, int, str]]:
    """Committed effects, in commit order: (chat, seq, which worker)."""
    async with store.read() as tx:
        rows = await tx.session.execute(
            select(outbox).where(outbox.c.recipient != STAFF).order_by(outbox.c.id)
        )
    return [(r["recipient"], r["payload"]["seq"], r["payload"]["by"]) for r in rows]


async def notices(store: Store) -> list[dict[str, Any]]:
    async with store.read() as tx:
        rows = await tx.session.execute(
            select(outbox).where(outbox.c.recipient == STAFF).order_by(outbox.c.id)
        )
    return [r["payload"] for r in rows]


async def rows(store: Store) -> dict[tuple[str, int], Row]:
    async with store.read() as tx:
        found = await tx.session.execute(select(inbox).order_by(inbox.c.id))
    return {(r["chat"], int(r["seq"])): r for r in found}


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def all_settled(store: Store, n: int) -> Callable[[], Awaitable[bool]]:
    """True once ``n`` rows are stored and none is pending."""

    async def check() -> bool:
        async with store.read() as tx:
            counts = await tx.inbox.counts()
        return sum(counts.values()) == n and not counts.get("pending")

    return check


@contextlib.asynccontextmanager
async def running(worker: Inbox) -> AsyncIterator[None]:
    """The worker's sweep loop for the block; on leaving, its drains have finished too."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def worker(store: Store, desk: Desk, **options: Any) -> Inbox:
    options.setdefault("sweep", 0.05)
    return Inbox(store, desk.clock, {CHANNEL: desk}, **options)


async def put_lease(store: Store, chat: str, owner: str, seconds: float) -> None:
    until = SystemClock().now() + timedelta(seconds=seconds)
    await store.write(
        lambda tx: tx.session.modify(
            insert(inbox_leases).values(channel=CHANNEL, chat=chat, owner=owner, until=until)
        )
    )


# -- order ----------------------------------------------------------------------------------


async def test_a_batch_runs_in_seq_order_and_chats_run_concurrently(store: Store) -> None:
    desk = Desk()
    b_done = asyncio.Event()
    a_saw_b: list[bool] = []

    async def a_after() -> None:
        # Chat a's worker waits here, between its rows, for chat b's first row: were the two
        # chats processed one after the other, this would time out.
        try:
            await asyncio.wait_for(b_done.wait(), 5)
        except TimeoutError:
            a_saw_b.append(False)
        else:
            a_saw_b.append(True)

    async def b_after() -> None:
        b_done.set()

    desk.afters[("a", 1)] = a_after
    desk.afters[("b", 1)] = b_after
    inbox_ = worker(store, desk)
    async with running(inbox_):
        # Stored in one transaction, in reverse: seq 2 has the lower row id.
        ids = await inbox_.receive([update("a", 2), update("a", 1), update("b", 2), update("b", 1)])
        assert all(isinstance(i, int) for i in ids)
        assert ids == sorted(ids)  # type: ignore[type-var]
        await eventually(all_settled(store, 4))
    assert a_saw_b == [True]
    done = await effects(store)
    assert [seq for chat, seq, _ in done if chat == "a"] == [1, 2]
    assert [seq for chat, seq, _ in done if chat == "b"] == [1, 2]
    assert sorted((c, s) for c, s, _ in desk.calls) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]


async def test_rows_received_in_separate_batches_out_of_order_run_in_seq_order(
    store: Store,
) -> None:
    desk = Desk()
    inbox_ = worker(store, desk)
    await put_lease(store, "a", "busy-worker", 60)  # nothing of chat a runs until it goes
    async with running(inbox_):
        for seq in (3, 1, 2):
            await inbox_.receive([update("a", seq)])
        await asyncio.sleep(0.1)
        assert desk.calls == []
        await store.write(lambda tx: tx.session.modify(delete(inbox_leases)))
        inbox_.wake()
        await eventually(all_settled(store, 3))
    assert [(c, s) for c, s, _ in desk.calls] == [("a", 1), ("a", 2), ("a", 3)]
    assert [seq for _, seq, _ in await effects(store)] == [1, 2, 3]


async def test_two_updates_of_one_chat_received_by_two_tasks_are_processed_in_order(
    store: Store,
) -> None:
    desk = Desk()
    gate = asyncio.Event()
    first_done = asyncio.Event()

    async def hold() -> None:  # between rows 1 and 2, outside any transaction
        first_done.set()
        await asyncio.wait_for(gate.wait(), 5)

    desk.afters[("a", 1)] = hold
    inbox_ = worker(store, desk)
    async with running(inbox_):
        await inbox_.receive([update("a", 1)])
        await asyncio.wait_for(first_done.wait(), 5)
        # Two receivers at once (two webhook requests): seq 3 and seq 2, both stored while
        # the chat's worker is busy, whichever commits first.
        await asyncio.gather(inbox_.receive([update("a", 3)]), inbox_.receive([update("a", 2)]))
        gate.set()
        await eventually(all_settled(store, 3))
    assert [(c, s) for c, s, _ in desk.calls] == [("a", 1), ("a", 2), ("a", 3)]
    assert [seq for _, seq, _ in await effects(store)] == [1, 2, 3]
    assert desk.max_inflight == 1


async def test_a_redelivery_is_not_processed_again(store: Store) -> None:
    desk = Desk()
    inbox_ = worker(store, desk)
    async with running(inbox_):
        first = await inbox_.receive([update("a", 1)])
        await eventually(all_settled(store, 1))
        again = await inbox_.receive([update("a", 1), update("a", 2)])
        await eventually(all_settled(store, 2))
    assert isinstance(first[0], int)
    assert again[0] is None
    assert isinstance(again[1], int)
    assert [(c, s) for c, s, _ in desk.calls] == [("a", 1), ("a", 2)]
    assert [seq for _, seq, _ in await effects(store)] == [1, 2]


async def test_a_chats_rows_run_back_to_back_without_waiting_for_the_sweep(
    store: Store,
) -> None:
    desk = Desk()
    inbox_ = worker(store, desk, sweep=30)  # no sweep comes within the test
    async with running(inbox_):
        await inbox_.receive([update("a", s) for s in (1, 2, 3)])
        await eventually(all_settled(store, 3), within=5)
    assert [(c, s) for c, s, _ in desk.calls] == [("a", 1), ("a", 2), ("a", 3)]


async def test_an_update_arriving_as_the_chats_worker_lets_go_is_not_left_for_the_sweep(
    store: Store,
) -> None:
    desk = Desk()
    inbox_ = worker(store, desk, sweep=30)

    async def meanwhile() -> None:
        # Row 1 is committed and was the chat's last: its worker is about to let go.
        await inbox_.receive([update("a", 2)])

    desk.afters[("a", 1)] = meanwhile
    async with running(inbox_):
        await inbox_.receive([update("a", 1)])
        await eventually(all_settled(store, 2), within=5)
    assert [(c, s) for c, s, _ in desk.calls] == [("a", 1), ("a", 2)]


async def test_with_room_for_one_chat_the_others_wait_and_then_run(store: Store) -> None:
    desk = Desk()
    seen_while_a_busy: list[int] = []

    async def busy() -> None:  # chat a's worker, still busy after its first row
        await asyncio.sleep(0.2)
        seen_while_a_busy.append(len(desk.calls))

    desk.afters[("a", 1)] = busy
    inbox_ = worker(store, desk, concurrency=1, sweep=30)
    async with running(inbox_):
        await inbox_.receive([update("a", 1), update("b", 1), update("c", 1), update("a", 2)])
        await eventually(all_settled(store, 4), within=5)
    assert seen_while_a_busy == [1]  # b and c did not start beside a
    assert sorted((c, s) for c, s, _ in desk.calls) == [("a", 1), ("a", 2), ("b", 1), ("c", 1)]
    assert [s for c, s, _ in desk.calls if c == "a"] == [1, 2]


async def test_a_redelivery_at_the_same_instant_is_still_a_redelivery(store: Store) -> None:
    clock = FrozenClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))  # always the same now
    desk = Desk(clock=clock)
    inbox_ = worker(store, desk, sweep=30)
    async with running(inbox_):
        first = await inbox_.receive([update("a", 1)])
        again = await inbox_.receive([update("a", 1)])
        await eventually(all_settled(store, 1), within=5)
    assert isinstance(first[0], int)
    assert again == [None]
    assert [(c, s) for c, s, _ in desk.calls] == [("a", 1)]


async def test_a_batch_of_two_channels_is_stored_and_processed_whole(store: Store) -> None:
    desk = Desk()
    inbox_ = Inbox(store, desk.clock, {CHANNEL: desk, "y": desk}, sweep=30)
    other_channel = dataclasses.replace(update("b", 1), channel="y")
    async with running(inbox_):
        ids = await inbox_.receive([update("a", 1), other_channel])
        assert all(isinstance(i, int) for i in ids), ids
        await eventually(all_settled(store, 2), within=5)
    assert sorted((c, s) for c, s, _ in desk.calls) == [("a", 1), ("b", 1)]


# -- failures -------------------------------------------------------------------------------


async def test_a_failing_row_is_retried_with_back_off_then_parked_and_the_chat_flows_on(
    store: Store,
) -> None:
    desk = Desk()
    desk.failures[("a", 1)] = -1  # always
    desk.failures[("b", 1)] = 1  # once
    inbox_ = worker(store, desk, attempts=3, backoff=0.05, sweep=0.05)
    async with running(inbox_):
        await inbox_.receive([update("a", 1), update("a", 2), update("b", 1), update("b", 2)])
        await eventually(all_settled(store, 4))

    tries = desk.tries("a", 1)
    assert len(tries) == 3
    # Back-off: 0.05 s, then 0.1 s (a little slack for two clocks read at different moments).
    assert tries[1] - tries[0] >= 0.045
    assert tries[2] - tries[1] >= 0.095
    # The chat's later row waited for the park, then ran.
    assert [s for c, s, _ in desk.calls if c == "a"] == [1, 1, 1, 2]
    assert [s for c, s, _ in desk.calls if c == "b"] == [1, 1, 2]

    reason = "RuntimeError: boom a/1"
    assert desk.parked_calls == [("a", 1, reason)]
    assert await notices(store) == [{"seq": 1, "chat": "a", "reason": reason}]
    found = await rows(store)
    parked = found[("a", 1)]
    assert (parked["status"], parked["attempts"], parked["error"]) == ("parked", 3, reason)
    assert parked["payload"] == {"text": "a #1"}  # kept for `kesu inbox retry`
    assert {key: r["status"] for key, r in found.items()} == {
        ("a", 1): "parked",
        ("a", 2): "done",
        ("b", 1): "done",
        ("b", 2): "done",
    }
    # Every failed try's writes were undone: each row that succeeded had its effect once.
    done = await effects(store)
    assert sorted((c, s) for c, s, _ in done) == [("a", 2), ("b", 1), ("b", 2)]
    assert [s for c, s, _ in done if c == "b"] == [1, 2]


async def test_back_off_doubles_and_a_row_arriving_meanwhile_waits_behind_the_head(
    store: Store,
) -> None:
    clock = FrozenClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))
    t0 = clock.now()
    desk = Desk(clock=clock)
    desk.failures[("a", 1)] = -1
    inbox_ = worker(store, desk, attempts=3, backoff=2.0, sweep=30)  # woken by hand

    def tried(n: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return int((await rows(store))[("a", 1)]["attempts"]) == n

        return check

    async with running(inbox_):
        await inbox_.receive([update("a", 1), update("a", 2)])
        await eventually(tried(1))
        assert (await rows(store))[("a", 1)]["due_at"] == t0 + timedelta(seconds=2)
        # A new row of the chat wakes its worker; the head is not due: nothing runs.
        await inbox_.receive([update("a", 3)])
        await asyncio.sleep(0.2)
        clock.advance(timedelta(seconds=1.5))
        inbox_.wake()
        await asyncio.sleep(0.2)
        assert [(c, s) for c, s, _ in desk.calls] == [("a", 1)]

        clock.set(t0 + timedelta(seconds=2))
        inbox_.wake()
        await eventually(tried(2))
        assert (await rows(store))[("a", 1)]["due_at"] == t0 + timedelta(seconds=6)  # doubled

        clock.set(t0 + timedelta(seconds=6))
        inbox_.wake()
        await eventually(all_settled(store, 3))
    assert desk.stamps == [
        ("a", 1, t0),
        ("a", 1, t0 + timedelta(seconds=2)),
        ("a", 1, t0 + timedelta(seconds=6)),
        ("a", 2, t0 + timedelta(seconds=6)),
        ("a", 3, t0 + timedelta(seconds=6)),
    ]
    found = await rows(store)
    assert [found[("a", s)]["status"] for s in (1, 2, 3)] == ["parked", "done", "done"]


async def test_a_handler_that_raises_after_writing_leaves_nothing(store: Store) -> None:
    desk = Desk()
    desk.failures[("a", 1)] = -1
    inbox_ = worker(store, desk, attempts=1)
    async with running(inbox_):
        await inbox_.receive([update("a", 1), update("a", 2)])
        await eventually(all_settled(store, 2))
    assert [(c, s) for c, s, _ in desk.calls] == [("a", 1), ("a", 2)]
    assert [(c, s) for c, s, _ in await effects(store)] == [("a", 2)]  # a/1's write undone
    assert len(await notices(store)) == 1
    found = await rows(store)
    assert found[("a", 1)]["status"] == "parked"
    assert found[("a", 1)]["attempts"] == 1


async def test_telling_about_a_parked_row_may_fail_the_row_stays_parked(store: Store) -> None:
    desk = Desk()
    desk.failures[("a", 1)] = -1
    desk.fail_telling = True
    inbox_ = worker(store, desk, attempts=1)
    async with running(inbox_):
        await inbox_.receive([update("a", 1), update("a", 2)])
        await eventually(all_settled(store, 2))
    assert desk.parked_calls == [("a", 1, "RuntimeError: boom a/1")]
    assert await notices(store) == []  # the failed notice's write was undone
    found = await rows(store)
    assert (found[("a", 1)]["status"], found[("a", 2)]["status"]) == ("parked", "done")
    assert [(c, s) for c, s, _ in await effects(store)] == [("a", 2)]


async def test_a_row_no_running_channel_can_process_is_parked(store: Store) -> None:
    inbox_ = Inbox(store, SystemClock(), {}, attempts=1, sweep=0.05)
    async with running(inbox_):
        await inbox_.receive([update("a", 1)])
        await eventually(all_settled(store, 1))
    row = (await rows(store))[("a", 1)]
    assert row["status"] == "parked"
    assert row["error"] == "LookupError: no running channel 'x' can process it"


class LosesTransactions:
    """A store whose next ``lose`` write transactions run their work, then roll back (as a
    commit that failed would)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lose = 0
        self.lost = 0

    def read(self) -> Any:
        return self.store.read()

    async def write(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        if not self.lose:
            return await self.store.write(work)
        self.lose -= 1

        async def rolled_back(tx: Tx) -> T:
            await work(tx)
            self.lost += 1
            raise RuntimeError("the transaction was rolled back")

        return await self.store.write(rolled_back)


async def test_the_handlers_writes_and_the_rows_outcome_commit_together(store: Store) -> None:
    desk = Desk()
    afters: list[int] = []

    async def after() -> None:
        afters.append(1)

    desk.afters[("a", 1)] = after
    flaky = LosesTransactions(store)
    inbox_ = worker(flaky, desk)  # type: ignore[arg-type]
    await inbox_.receive([update("a", 1)])
    flaky.lose = 1  # the first row's transaction, which the receive just started
    await eventually(lambda: _true(flaky.lost == 1 and len(desk.calls) == 1))
    assert (await rows(store))[("a", 1)]["status"] == "pending"
    assert await effects(store) == []
    assert afters == []  # nothing runs after a transaction that did not commit
    async with running(inbox_):  # the sweep finds it again
        await eventually(all_settled(store, 1))
    assert len(desk.calls) == 2
    assert [(c, s) for c, s, _ in await effects(store)] == [("a", 1)]
    assert afters == [1]


async def _true(value: bool) -> bool:
    return value


# -- several workers, dead workers, stopping --------------------------------------------------


async def test_two_workers_never_process_a_row_twice_and_keep_each_chats_order(
    store: Store, backend: Backend
) -> None:
    other_store = backend.connect()
    try:
        desk_a, desk_b = Desk("A"), Desk("B")
        one = worker(store, desk_a, sweep=0.02)
        two = worker(other_store, desk_b, sweep=0.02)
        assert one.owner != two.owner
        chats = ["c1", "c2", "c3", "c4"]
        k = 0  # batches received
        async with running(one), running(two):
            # Which worker wins a chat is a race: receive until both have taken part (almost
            # always within the first eight batches).
            while k < 8 or (k < 40 and {by for _, _, by in await effects(store)} != {"A", "B"}):
                receiver = one if k % 2 == 0 else two
                if k % 4 == 1:  # now and then, every chat is free when the other one receives
                    await eventually(all_settled(store, len(chats) * 2 * k))
                # Each batch holds two rows of every chat, the later one first.
                await receiver.receive(
                    [update(chat, seq) for chat in chats for seq in (2 * k + 1, 2 * k)]
                )
                k += 1
            await eventually(all_settled(store, len(chats) * 2 * k))
        done = await effects(store)
        assert len(done) == len(chats) * 2 * k
        assert len({(c, s) for c, s, _ in done}) == len(done)  # none twice
        per_chat: dict[str, list[int]] = defaultdict(list)
        for chat, seq, _ in done:
            per_chat[chat].append(seq)
        for chat in chats:
            assert per_chat[chat] == list(range(2 * k)), chat
        assert {by for _, _, by in done} == {"A", "B"}  # both workers took part
        assert desk_a.max_inflight <= 1
        assert desk_b.max_inflight <= 1
        # Without failures, no row was tried more than once by either worker.
        tried = Counter((c, s) for c, s, _ in desk_a.calls + desk_b.calls)
        assert set(tried.values()) == {1}
        async with store.read() as tx:
            leases = (await tx.session.execute(select(inbox_leases))).rows
        assert leases == []  # every chat let go once drained
    finally:
        await other_store.close()


async def test_a_worker_that_waited_for_a_chat_does_not_run_the_row_it_waited_behind(
    store: Store, backend: Backend
) -> None:
    """Worker A is inside a row's transaction; worker B tries the same chat meanwhile and
    waits for A's lease (PostgreSQL: on the lease row's lock; SQLite: for the write lock).
    When A commits the row as done and lets the chat go, B must see it done."""
    other_store = backend.connect()
    try:
        desk_a, desk_b = Desk("A"), Desk("B")
        inside, go_on = asyncio.Event(), asyncio.Event()
        original = desk_a.process

        async def slow(tx: Tx, row: Row) -> After | None:
            inside.set()
            await asyncio.wait_for(go_on.wait(), 5)  # A's transaction stays open here
            return await original(tx, row)

        desk_a.process = slow  # type: ignore[method-assign]
        one = worker(store, desk_a, sweep=30)
        two = worker(other_store, desk_b, sweep=0.02)
        async with running(one):
            await one.receive([update("a", 1)])
            await asyncio.wait_for(inside.wait(), 5)
            async with running(two):
                await asyncio.sleep(0.3)  # B's sweep finds the chat and waits for it
                go_on.set()
                await eventually(all_settled(store, 1))
                await asyncio.sleep(0.2)  # B, once let through, does what it would do
        assert [(c, s) for c, s, _ in desk_b.calls] == []
        assert [(c, s, by) for c, s, by in await effects(store)] == [("a", 1, "A")]
    finally:
        await other_store.close()


async def test_a_dead_workers_lease_delays_its_chat_until_it_expires(store: Store) -> None:
    desk = Desk()
    inbox_ = worker(store, desk, sweep=0.05)
    await put_lease(store, "a", "dead-worker", 0.4)
    async with store.read() as tx:
        lease = (await tx.session.execute(select(inbox_leases))).one()
    async with running(inbox_):
        await inbox_.receive([update("a", 1), update("b", 1)])
        await eventually(all_settled(store, 2))
    found = await rows(store)
    # Chat b was not held up; chat a waited for the lease to expire, then ran once.
    assert found[("b", 1)]["processed_at"] < lease["until"]
    assert found[("a", 1)]["processed_at"] >= lease["until"]
    assert [(c, s) for c, s, _ in desk.calls].count(("a", 1)) == 1
    async with store.read() as tx:
        assert (await tx.session.execute(select(inbox_leases))).rows == []


async def test_run_returns_promptly_once_stop_is_set(store: Store) -> None:
    inbox_ = worker(store, Desk(), sweep=30)
    stop = asyncio.Event()
    task = asyncio.create_task(inbox_.run(stop))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 1)
    assert time.monotonic() - started < 0.5


async def test_stopping_finishes_the_row_under_way_and_leaves_the_rest(store: Store) -> None:
    desk = Desk()
    gate, first_done = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        first_done.set()
        await asyncio.wait_for(gate.wait(), 5)

    desk.afters[("a", 1)] = hold
    inbox_ = worker(store, desk, sweep=30)
    stop = asyncio.Event()
    task = asyncio.create_task(inbox_.run(stop))
    await inbox_.receive([update("a", 1), update("a", 2), update("a", 3)])
    await asyncio.wait_for(first_done.wait(), 5)
    stop.set()
    await asyncio.sleep(0.05)
    assert not task.done()  # it waits for the chat's worker to finish its row
    gate.set()
    await asyncio.wait_for(task, 1)
    found = await rows(store)
    assert [found[("a", s)]["status"] for s in (1, 2, 3)] == ["done", "pending", "pending"]
    assert [(c, s) for c, s, _ in desk.calls] == [("a", 1)]
