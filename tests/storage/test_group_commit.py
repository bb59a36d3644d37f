"""SQLite's group commit, tested the way it breaks: a failing unit inside a group, a COMMIT
that fails, a transaction SQLite ends by itself, another process holding the write lock, a
caller that gives up, and readers looking while a group is still open.

Units submitted in one go (``asyncio.gather``) all reach the queue before the writer runs,
so they form one group; ``store.stats`` says how many groups committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from storage import migrate
from storage.db import Store
from storage.repositories import StorageError, Tx
from storage.schema import inbound_updates
from storage.sqlite import SqliteStore, StoreBusy

NOW = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = Store.connect(f"sqlite:///{tmp_path / 'kesu.db'}", busy_timeout=5.0)
    assert isinstance(store, SqliteStore)
    await migrate.upgrade(store)
    try:
        yield store
    finally:
        await store.close()


async def seen(store: Store, *ids: str) -> list[str]:
    """Which of these inbound ids are committed, in the order asked."""
    stmt = select(inbound_updates.c.update_id).where(inbound_updates.c.update_id.in_(ids))
    async with store.read() as tx:
        found = set((await tx.session.execute(stmt)).scalars())
    return [i for i in ids if i in found]


def record(update_id: str, calls: list[str] | None = None) -> Callable[[Tx], Awaitable[str]]:
    """A unit of work recording one inbound id (and, in ``calls``, that it ran)."""

    async def work(tx: Tx) -> str:
        if calls is not None:
            calls.append(update_id)
        assert await tx.inbound.first_time("t", update_id, NOW)
        return update_id

    return work


async def test_one_failing_unit_leaves_the_others_of_its_group_committed(
    sqlite_store: SqliteStore,
) -> None:
    async def failing(tx: Tx) -> str:
        await tx.inbound.first_time("t", "bad", NOW)
        raise ValueError("a flow bug in message 5")

    before = sqlite_store.stats.groups
    units = [record(f"u{i}") for i in range(10)]
    units[5] = failing
    results = await asyncio.gather(
        *(sqlite_store.write(u) for u in units),
        return_exceptions=True,
    )
    assert sqlite_store.stats.groups == before + 1  # one group, one COMMIT
    assert isinstance(results[5], ValueError)
    assert [r for i, r in enumerate(results) if i != 5] == [f"u{i}" for i in range(10) if i != 5]
    assert await seen(sqlite_store, "bad", "u0", "u4", "u6", "u9") == ["u0", "u4", "u6", "u9"]


async def test_a_failed_commit_runs_every_unit_of_the_group_again_and_loses_none(
    sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = sqlite_store.group._commit
    failures = [sqlite3.OperationalError("disk I/O error")]

    def commit() -> None:
        if failures:
            raise failures.pop()
        real_commit()

    monkeypatch.setattr(sqlite_store.group, "_commit", commit)
    calls: list[str] = []
    ids = [f"c{i}" for i in range(8)]
    results = await asyncio.gather(*(sqlite_store.write(record(i, calls)) for i in ids))
    assert results == ids
    assert sorted(calls) == sorted(ids * 2)  # each unit ran twice: once lost, once durable
    assert sqlite_store.stats.failed_commits == 1
    assert await seen(sqlite_store, *ids) == ids  # each recorded exactly once (first_time held)


async def test_a_commit_that_keeps_failing_fails_every_caller_and_writes_nothing(
    sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def commit() -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlite_store.group, "_commit", commit)
    results = await asyncio.gather(
        *(sqlite_store.write(record(f"f{i}")) for i in range(4)),
        return_exceptions=True,
    )
    assert all(isinstance(r, sqlite3.OperationalError) for r in results), results
    monkeypatch.undo()
    assert await seen(sqlite_store, "f0", "f1", "f2", "f3") == []


async def test_a_transaction_sqlite_ended_itself_reruns_the_whole_group(
    sqlite_store: SqliteStore,
) -> None:
    """SQLite rolls the whole transaction back on some errors (a full disk, an I/O error):
    the units before the failing one are gone too and must run again."""
    broke: list[bool] = []

    async def breaks_once(tx: Tx) -> str:
        await tx.inbound.first_time("t", "b", NOW)
        if not broke:
            broke.append(True)
            await tx.session.modify(text("ROLLBACK"))
            raise sqlite3.OperationalError("disk I/O error")
        return "b"

    calls: list[str] = []
    results = await asyncio.gather(
        sqlite_store.write(record("a", calls)),
        sqlite_store.write(breaks_once),
        sqlite_store.write(record("c", calls)),
    )
    assert results == ["a", "b", "c"]
    assert calls.count("a") == 2  # its first run was rolled back with the transaction
    assert await seen(sqlite_store, "a", "b", "c") == ["a", "b", "c"]


async def test_callers_resume_only_once_their_group_is_durable(
    sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = sqlite_store.group._commit
    committed: list[float] = []

    def commit() -> None:
        time.sleep(0.2)  # a slow disk
        real_commit()
        committed.append(time.monotonic())

    monkeypatch.setattr(sqlite_store.group, "_commit", commit)
    await sqlite_store.write(record("x"))
    resumed = time.monotonic()
    assert committed
    assert resumed >= committed[-1]


async def test_readers_never_see_a_group_that_has_not_committed(
    sqlite_store: SqliteStore,
) -> None:
    gate = asyncio.Event()

    async def slow(tx: Tx) -> None:
        await tx.customers.ensure("telegram", "42", NOW)
        async with sqlite_store.read() as peek:  # from inside the unit itself
            assert await peek.customers.find("telegram", "42") is None
        await gate.wait()

    writing = asyncio.create_task(sqlite_store.write(slow))
    await asyncio.sleep(0.2)
    async with sqlite_store.read() as tx:  # another task, while the unit is open
        assert await tx.customers.find("telegram", "42") is None
    gate.set()
    await writing
    async with sqlite_store.read() as tx:
        assert await tx.customers.find("telegram", "42") is not None


async def test_a_caller_that_gave_up_before_its_turn_runs_nothing(
    sqlite_store: SqliteStore,
) -> None:
    gate = asyncio.Event()

    async def blocking(tx: Tx) -> None:
        await gate.wait()

    ran: list[str] = []
    first = asyncio.create_task(sqlite_store.write(blocking))
    await asyncio.sleep(0.1)  # the writer is inside `blocking` now
    later = asyncio.create_task(sqlite_store.write(record("late", ran)))
    await asyncio.sleep(0.05)
    later.cancel()
    gate.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await later
    assert await sqlite_store.write(record("after")) == "after"
    assert ran == []
    assert await seen(sqlite_store, "late") == []


LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO inbound_updates VALUES ('t', 'other-process', '2026-11-17 06:30:00')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


async def hold_lock(path: str, seconds: float) -> asyncio.subprocess.Process:
    """Another process (as a `kesu` command would) holding the database's write lock."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCK_HOLDER, path, str(seconds), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"locked\n"
    return proc


async def test_another_process_holding_the_lock_delays_writes_but_never_the_event_loop(
    sqlite_store: SqliteStore,
) -> None:
    lags: list[float] = []
    ticking = True

    async def ticker() -> None:
        while ticking:
            start = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - start - 0.01)

    tick = asyncio.create_task(ticker())
    proc = await hold_lock(sqlite_store.path, 1.5)
    started = time.monotonic()
    async with sqlite_store.read() as tx:  # readers do not wait for another writer
        assert await tx.customers.find("telegram", "nobody") is None
    read_took = time.monotonic() - started
    results = await asyncio.gather(*(sqlite_store.write(record(f"w{i}")) for i in range(5)))
    waited = time.monotonic() - started
    ticking = False
    await tick
    await proc.wait()
    assert results == [f"w{i}" for i in range(5)]
    assert read_took < 0.5
    assert waited > 1.0  # they queued behind the other process …
    # … while the event loop kept running: a loop blocked on the lock would lag the whole
    # 1.5 s; the margin is for a loaded 2-core CI machine (a 0.33 s tick was seen there).
    assert max(lags) < 0.75
    assert await seen(sqlite_store, "other-process", "w0", "w4") == ["other-process", "w0", "w4"]


async def test_a_lock_held_past_busy_timeout_is_a_clear_error_and_then_writes_resume(
    tmp_path: Path,
) -> None:
    store = Store.connect(f"sqlite:///{tmp_path / 'busy.db'}", busy_timeout=0.3)
    await migrate.upgrade(store)
    try:
        assert isinstance(store, SqliteStore)
        proc = await hold_lock(store.path, 1.5)
        results = await asyncio.gather(
            *(store.write(record(f"b{i}")) for i in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreBusy) for r in results), results
        assert "more than 0.3 s" in str(results[0])
        await proc.wait()
        assert await store.write(record("later")) == "later"
    finally:
        await store.close()


async def test_a_transaction_ended_inside_a_listeners_savepoint_never_lets_the_unit_go_on(
    sqlite_store: SqliteStore,
) -> None:
    """A listener's savepoint catches its own errors (``Changes.project``, the desk's card),
    but a transaction SQLite ended under it must not let the unit carry on: its next statements
    would commit one by one, outside the group. The whole group runs again instead."""
    broke: list[bool] = []
    first_seen: list[bool] = []

    async def unit(tx: Tx) -> bool:
        await tx.inbound.first_time("t", "a", NOW)
        try:
            async with tx.savepoint():
                if not broke:
                    broke.append(True)
                    await tx.session.modify(text("ROLLBACK"))  # as SQLITE_FULL or IOERR do
                    raise sqlite3.OperationalError("database or disk is full")
        except Exception:  # noqa: S110 (the listener's own error handling, as in Changes.project)
            pass
        first = await tx.inbound.first_time("t", "msg-1", NOW)  # the dispatcher's dedupe
        first_seen.append(first)
        return first

    assert await sqlite_store.write(unit) is True
    assert first_seen == [True]  # the broken run never reached it; the durable one did
    assert sqlite_store.stats.failed_commits == 1
    assert await seen(sqlite_store, "a", "msg-1") == ["a", "msg-1"]


async def test_a_units_error_waits_for_its_group_since_it_may_rest_on_what_never_commits(
    sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B refuses because it saw what A wrote in the same group; if that group never commits,
    B must not have been told "already claimed" about a claim that does not exist."""

    def commit() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_store.group, "_commit", commit)

    async def claim(tx: Tx) -> str:
        if not await tx.inbound.first_time("t", "claim:case-1", NOW):
            raise ValueError("already claimed")
        return "claimed"

    results = await asyncio.gather(
        sqlite_store.write(claim), sqlite_store.write(claim), return_exceptions=True
    )
    assert [type(r) for r in results] == [sqlite3.OperationalError] * 2, results

    monkeypatch.undo()
    results = await asyncio.gather(
        sqlite_store.write(claim), sqlite_store.write(claim), return_exceptions=True
    )
    assert results[0] == "claimed"
    assert isinstance(results[1], ValueError)  # now true: the first claim is durable


async def test_a_unit_that_keeps_ending_the_transaction_is_set_apart_and_fails_alone(
    sqlite_store: SqliteStore,
) -> None:
    async def breaks_always(tx: Tx) -> str:
        await tx.inbound.first_time("t", "bad", NOW)
        await tx.session.modify(text("ROLLBACK"))
        raise sqlite3.OperationalError("disk I/O error")

    units = [record(f"g{i}") for i in range(6)]
    units.insert(3, breaks_always)
    results = await asyncio.gather(*(sqlite_store.write(u) for u in units), return_exceptions=True)
    assert isinstance(results[3], StorageError)
    assert "ended" in str(results[3])  # whether it failed set apart or in a group of its own
    assert [r for i, r in enumerate(results) if i != 3] == [f"g{i}" for i in range(6)]
    assert await seen(sqlite_store, "bad", "g0", "g5") == ["g0", "g5"]


async def test_groups_hold_at_most_max_group_units_and_a_sync_job_runs_alone(
    tmp_path: Path,
) -> None:
    store = Store.connect(f"sqlite:///{tmp_path / 'small.db'}", max_group=4)
    assert isinstance(store, SqliteStore)
    await migrate.upgrade(store)
    try:
        before = store.stats.groups
        ran_alone: list[bool] = []

        def alone(conn: object) -> str:
            ran_alone.append(True)
            return "migrated"

        results = await asyncio.gather(
            *(store.write(record(f"m{i}")) for i in range(6)),
            store.write_sync(alone),
            *(store.write(record(f"n{i}")) for i in range(4)),
        )
        assert results == [*(f"m{i}" for i in range(6)), "migrated", *(f"n{i}" for i in range(4))]
        assert ran_alone == [True]
        # 6 units: a group of 4 and one of 2; the sync job alone; then the 4 after it.
        assert store.stats.groups - before == 3
        assert store.stats.units >= 10
    finally:
        await store.close()


async def test_a_writer_cancelled_while_waiting_for_the_lock_leaves_no_lock_behind(
    sqlite_store: SqliteStore,
) -> None:
    proc = await hold_lock(sqlite_store.path, 1.0)
    waiting = asyncio.create_task(sqlite_store.write(record("cancelled")))
    await asyncio.sleep(0.2)  # the writer thread is in BEGIN IMMEDIATE, waiting
    writer = sqlite_store.group.task
    assert writer is not None
    writer.cancel()
    with pytest.raises(StorageError, match="stopped"):
        await waiting
    await proc.wait()
    # Another process can take the lock at once: nothing was left holding it …
    other = sqlite3.connect(sqlite_store.path, timeout=2, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    # … and the store writes again.
    assert await sqlite_store.write(record("after")) == "after"
    assert await seen(sqlite_store, "cancelled", "after") == ["after"]


async def test_a_cancelled_read_is_interrupted_without_blocking_the_event_loop(
    sqlite_store: SqliteStore,
) -> None:
    endless = text(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
        "SELECT count(*) FROM c"
    )

    async def scan() -> None:
        async with sqlite_store.read() as tx:
            await tx.session.execute(endless)

    reading = asyncio.create_task(scan())
    await asyncio.sleep(0.3)
    started = time.monotonic()
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert time.monotonic() - started < 1.0  # interrupted, not run to its end
    async with sqlite_store.read() as tx:  # the connection went back to the pool usable
        assert await tx.customers.find("telegram", "nobody") is None


async def test_close_finishes_queued_writes_and_then_refuses_more(tmp_path: Path) -> None:
    store = Store.connect(f"sqlite:///{tmp_path / 'closing.db'}")
    await migrate.upgrade(store)
    writes = [asyncio.create_task(store.write(record(f"q{i}"))) for i in range(50)]
    await asyncio.sleep(0)  # queued
    await store.close()
    assert [await w for w in writes] == [f"q{i}" for i in range(50)]
    with pytest.raises(StorageError, match="closed"):
        await store.write(record("late"))
    with pytest.raises(StorageError, match="closed"):
        async with store.read():
            pass
