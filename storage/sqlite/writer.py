"""SQLite's group commit: one writer connection, units of work run together, one COMMIT.

BEGIN IMMEDIATE and COMMIT run on the writer thread; between them the queued units run on
the event loop, each in its own savepoint (``LoopSession``). Every caller gets its result —
or its error — only once the group is durable. A failed COMMIT, or a transaction SQLite
ended itself, re-runs the whole group (COMMIT_ATTEMPTS in all); a unit whose own run broke
the transaction is set apart to run alone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from storage.compiled import Compiler
from storage.repositories import StorageError, Tx
from storage.repositories.base import DatabaseError
from storage.sqlite.sessions import GroupBroken, LoopSession, on_thread

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Most units of work in one group, and the longest a group keeps taking new ones (seconds):
#: beyond these the callers already waiting gain nothing by waiting for more.
MAX_GROUP = 64
MAX_GROUP_SECONDS = 0.05
#: Transactions tried for one group before its callers get the error.
COMMIT_ATTEMPTS = 3


class StoreBusy(StorageError):
    """Another process held the database's write lock for longer than busy_timeout."""


@dataclass
class WriteStats:
    """What the writer has done since the store opened (benchmarks and tests read it)."""

    groups: int = 0  # COMMITs that succeeded
    units: int = 0  # units of work made durable by them
    failed_commits: int = 0  # COMMITs (or their transactions) that failed; the group re-ran


@dataclass(eq=False)
class _Job:
    """One caller's unit of work (``work``), or a synchronous function run alone (``sync``)."""

    future: asyncio.Future[Any]
    work: Callable[[Tx], Awaitable[Any]] | None = None
    sync: Callable[[Connection], Any] | None = None
    breaks: int = 0  # groups this unit's own run broke


#: (job, succeeded, its value or its exception)
Outcome = tuple[_Job, bool, Any]


class GroupWriter:
    def __init__(
        self,
        engine: Engine,
        compiler: Compiler,
        *,
        path: str,
        busy_timeout: float,
        max_group: int,
        mark_writing: Callable[[], contextvars.Token[bool]],
        unmark_writing: Callable[[contextvars.Token[bool]], None],
    ) -> None:
        self.engine = engine
        self.compiler = compiler
        self.path = path
        self.busy_timeout = busy_timeout
        self.max_group = max_group
        self.stats = WriteStats()
        self.task: asyncio.Task[None] | None = None
        self._mark_writing, self._unmark_writing = mark_writing, unmark_writing
        self._queue: collections.deque[_Job] = collections.deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._conn: Connection | None = None
        self._dbapi: sqlite3.Connection | None = None
        self._session: LoopSession | None = None
        self._commits = 0  # COMMITs the writer thread completed (survives a cancellation)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="kesu-sqlite-write")

    async def run(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """``work`` in the next group; its value once that group is durable."""
        result: T = await self._submit(_Job(asyncio.get_running_loop().create_future(), work=work))
        return result

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` alone in a transaction of its own, on the writer thread."""
        result: T = await self._submit(_Job(asyncio.get_running_loop().create_future(), sync=fn))
        return result

    async def close(self) -> None:
        """Run what is queued, then close the connection."""
        self._closing = True
        self._wake.set()
        if self.task is not None:
            await asyncio.wait([self.task])  # its outcome was its callers' to see
        if self._conn is not None:
            conn = self._conn
            self._conn = self._dbapi = self._session = None
            await self._on_thread(conn.close)
        self._thread.shutdown(wait=False)  # idle now: nothing to wait for

    def _submit(self, job: _Job) -> asyncio.Future[Any]:
        if self._closing:
            raise StorageError("the store is closed")
        self._queue.append(job)
        if self.task is None or self.task.done():
            # A context of its own: nothing of the first caller's (such as "inside a unit of
            # work") leaks into the writer.
            self.task = asyncio.get_running_loop().create_task(
                self._loop(), name="kesu-sqlite-writer", context=contextvars.Context()
            )
        self._wake.set()
        return job.future

    async def _loop(self) -> None:
        try:
            while self._queue or not self._closing:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                job = self._queue.popleft()
                if job.future.cancelled():
                    continue  # its caller stopped waiting before it started: nothing to do
                try:
                    if job.sync is not None:
                        await self._run_alone(job)
                    else:
                        await self._run_group(job)
                except Exception as exc:  # a bug here must not strand every later caller
                    log.exception("sqlite writer: unexpected failure")
                    _fail(job, exc)
        finally:  # stopped (closed, or cancelled with the loop): nobody may wait forever
            while self._queue:
                _fail(self._queue.popleft(), StorageError("the store stopped; nothing was written"))

    async def _run_alone(self, job: _Job) -> None:
        assert job.sync is not None  # noqa: S101 (the caller checked)
        sync = job.sync

        def run() -> Any:
            self._begin()
            conn, dbapi = self._connection()
            try:
                value = sync(conn)
                dbapi.commit()
            except BaseException:
                dbapi.rollback()
                raise
            return value

        try:
            value = await self._on_thread(run)
        except Exception as exc:
            _fail(job, self._explain(exc))
        else:
            _succeed(job, value)

    async def _run_group(self, first: _Job) -> None:
        jobs = [first]
        try:
            await self._attempts(jobs)
        except BaseException as exc:  # the writer itself is being cancelled (loop shutdown)
            with contextlib.suppress(Exception):
                await self._on_thread(self._rollback)
            for job in jobs:
                _fail(
                    job, StorageError(f"the store stopped before this write was durable: {exc!r}")
                )
            raise

    async def _attempts(self, jobs: list[_Job]) -> None:
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                await self._on_thread(self._begin)
            except Exception as exc:  # the lock stayed taken: everyone waiting waited for it
                error = self._explain(exc)
                for job in [*jobs, *self._take_waiting()]:
                    _fail(job, error)
                return
            outcomes: list[Outcome] = []
            commits = self._commits
            try:
                await self._run_units(jobs, outcomes, grow=attempt == 1)
                await self._on_thread(self._commit)
            except asyncio.CancelledError:
                if self._commits > commits:  # the COMMIT went through before we heard
                    self._deliver(outcomes)
                raise
            except (Exception, GroupBroken) as exc:
                await self._on_thread(self._rollback)
                self.stats.failed_commits += 1
                self._set_apart(jobs, outcomes, exc)
                jobs[:] = [job for job in jobs if not job.future.done()]
                if attempt == COMMIT_ATTEMPTS or not jobs:
                    for job in jobs:
                        _fail(job, self._explain(exc))
                    log.error("sqlite: a group of %d transactions failed %d times: %s",
                              len(jobs), attempt, exc)  # fmt: skip
                    return
                log.warning("sqlite: a group of %d transactions failed (%s); running them again",
                            len(jobs), exc)  # fmt: skip
                await asyncio.sleep(0.05 * 2**attempt)
                continue
            self._deliver(outcomes)
            return

    def _deliver(self, outcomes: list[Outcome]) -> None:
        """The group is durable: only now may anyone act on what its units did — or on their
        errors, which may rest on what earlier units of the group wrote."""
        self.stats.groups += 1
        self.stats.units += sum(ok for _, ok, _ in outcomes)
        for job, ok, value in outcomes:
            if ok:
                _succeed(job, value)
            else:
                _fail(job, value)

    def _set_apart(self, jobs: list[_Job], outcomes: list[Outcome], exc: BaseException) -> None:
        """A unit whose own run broke the transaction (it was running when it ended) leaves
        the group and queues to run on its own, so one bad unit cannot fail the others; after
        COMMIT_ATTEMPTS such breaks it fails alone."""
        if not isinstance(exc, GroupBroken) or len(jobs) < 2:
            return
        done = {job for job, _, _ in outcomes}
        suspect = next((job for job in jobs if job not in done), None)
        if suspect is None:
            return
        jobs.remove(suspect)
        suspect.breaks += 1
        if suspect.breaks >= COMMIT_ATTEMPTS:
            _fail(suspect, StorageError(f"this transaction kept ending its group: {exc}"))
        else:
            self._queue.appendleft(suspect)

    async def _run_units(self, jobs: list[_Job], outcomes: list[Outcome], *, grow: bool) -> None:
        """Run each unit in its own savepoint; with ``grow``, units queued meanwhile join the
        group (``jobs`` grows) until it is full."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_GROUP_SECONDS
        i = 0
        while True:
            if i == len(jobs):
                if not grow or len(jobs) >= self.max_group or loop.time() > deadline:
                    return
                nxt = self._next_waiting()
                if nxt is None:
                    return
                jobs.append(nxt)
            job = jobs[i]
            i += 1
            if job.future.done():
                continue  # its caller gave up
            ok, value = await self._run_unit(job)
            outcomes.append((job, ok, value))

    async def _run_unit(self, job: _Job) -> tuple[bool, Any]:
        assert job.work is not None  # noqa: S101 (only units of work join a group)
        assert self._session is not None  # noqa: S101 (the group has begun)
        token = self._mark_writing()
        try:
            async with self._session.unit():
                value = await job.work(Tx(self._session))
        except GroupBroken:
            raise
        except BaseException as exc:
            task = asyncio.current_task()
            if not isinstance(exc, Exception) and task is not None and task.cancelling():
                raise  # the writer is being stopped: the group's rollback handles it
            return False, exc
        finally:
            self._unmark_writing(token)
        return True, value

    def _next_waiting(self) -> _Job | None:
        """The next queued unit of work, if it can join a group (a sync job runs alone)."""
        while self._queue and self._queue[0].work is not None:
            job = self._queue.popleft()
            if not job.future.cancelled():
                return job
        return None

    def _take_waiting(self) -> list[_Job]:
        taken: list[_Job] = []
        while (job := self._next_waiting()) is not None:
            taken.append(job)
        return taken

    # On the writer thread: the only calls that may wait for another process or the disk.

    def _connection(self) -> tuple[Connection, sqlite3.Connection]:
        if self._conn is None:
            conn = self.engine.connect()
            # SQLAlchemy's own transaction stays open for the connection's life and does
            # nothing (pysqlite's BEGIN is ours to issue): each group's BEGIN IMMEDIATE and
            # COMMIT go to the driver, and Alembic sees a transaction it must not end.
            conn.begin()
            dbapi = conn.connection.dbapi_connection
            assert isinstance(dbapi, sqlite3.Connection)  # noqa: S101
            self._conn, self._dbapi = conn, dbapi
            self._session = LoopSession(dbapi, self.compiler)
        assert self._dbapi is not None  # noqa: S101
        return self._conn, self._dbapi

    def _begin(self) -> None:
        _conn, dbapi = self._connection()
        if dbapi.in_transaction:  # left open by an interrupted group: it never committed
            log.warning("sqlite: rolling back a transaction an interrupted group left open")
            dbapi.rollback()
        # IMMEDIATE takes the write lock now, waiting (busy_timeout) for another process's
        # write to end; a deferred BEGIN would fail later on the lock upgrade instead.
        dbapi.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        assert self._dbapi is not None  # noqa: S101
        self._dbapi.commit()
        self._commits += 1

    def _rollback(self) -> None:
        if self._dbapi is None:
            return
        try:
            self._dbapi.rollback()
        except sqlite3.Error:
            log.exception("sqlite: rollback after a failed group failed too")

    async def _on_thread(self, fn: Callable[[], T]) -> T:
        return await on_thread(self._thread, fn)

    def _explain(self, exc: BaseException) -> BaseException:
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        if isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig):
            return StoreBusy(
                f"another process held the database {self.path} for more than "
                f"{self.busy_timeout:g} s; nothing was written"
            )
        if isinstance(exc, GroupBroken):
            return DatabaseError(f"the transaction ended under this write: {exc}")
        return exc


def _succeed(job: _Job, value: Any) -> None:
    if not job.future.done():
        job.future.set_result(value)


def _fail(job: _Job, exc: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(exc)
