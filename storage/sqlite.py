"""SQLite, the embedded default: one writer that commits in groups, readers on threads.

Why this shape (measured with ``bench/intake.py``): SQLite allows one writer at a time, and
with ``synchronous=FULL`` every COMMIT waits for an fsync. Running each message's transaction
on its own pays that fsync per message, plus three or four thread hops per statement through
an async driver. Here one connection writes for the whole process:

* BEGIN IMMEDIATE and COMMIT run on a writer thread: waiting for another process's lock (a
  ``kesu`` command beside ``kesu run``) or for the fsync never stops the event loop.
* Between them, the units of work waiting in the queue run one after another on the event
  loop, each inside its own SAVEPOINT, their statements (compiled once,
  ``storage/compiled.py``) executed on the driver directly: the group holds the write lock,
  so no statement waits for a lock, and pages come from SQLite's or the system's cache. No
  statement runs unless the group's transaction is open (see ``_GroupBroken``).
* One COMMIT — one fsync — then makes the whole group durable, and only then does any caller
  get its result, or its error: a unit that raised was rolled back to its savepoint, but it
  may have read what an earlier unit of the group wrote, so its answer waits for that to be
  durable too. If the COMMIT (or the transaction under it) fails, every unit of the group runs
  again in a fresh transaction, three attempts in all, before their callers get the error. A
  unit changes nothing outside the database (``storage.db``), so running it again is
  harmless; a unit whose own run broke the transaction is set apart to run alone.

Readers have their own connections (``query_only``), used on a small thread pool: in WAL mode
they see only committed transactions and never wait for the writer, and a long scan never
holds up the event loop.

Savepoints are the driver's own: SQLAlchemy's ``begin_nested`` costs ~60 times more here
(117 µs a pair against 2 µs, measured), and it need not know, since the group's transaction
is managed below it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from sqlalchemy.sql import Executable

from storage.compiled import Compiler, split
from storage.db import Store, Work
from storage.repositories import StorageError, Tx
from storage.repositories.base import DatabaseError, IntegrityViolation, Params, Rows

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


class _GroupBroken(BaseException):
    """The transaction under the group is gone (SQLite rolled it back after an I/O error,
    a full disk …): every unit of the group must run again. A BaseException, so that a
    listener's ``except Exception`` around its savepoint cannot swallow it and carry on
    writing outside any transaction."""


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
    work: Work[Any] | None = None
    sync: Callable[[Connection], Any] | None = None
    breaks: int = 0  # groups this unit's own run broke


def _run(
    dbapi: sqlite3.Connection, compiler: Compiler, statement: Executable, params: Params
) -> Rows:
    """One statement on the driver: compiled once, values through their type processors."""
    one, many = split(params)
    try:
        if many is not None:
            sql, rows = compiler.many(statement, many)
            return Rows([], dbapi.executemany(sql, rows).rowcount)
        compiled = compiler.get(statement, one)
        sql, args = compiled.args(one)
        cursor = dbapi.execute(sql, args)
        if cursor.description is None:  # DML without RETURNING
            return Rows([], cursor.rowcount)
        keys = [column[0] for column in cursor.description]
        return Rows(compiled.rows(keys, cursor.fetchall()), cursor.rowcount)
    except sqlite3.IntegrityError as exc:
        raise IntegrityViolation(str(exc)) from exc
    except sqlite3.Error as exc:
        raise DatabaseError(str(exc)) from exc


class _LoopSession:
    """The writer connection, used on the event loop while the group holds the write lock."""

    dialect = "sqlite"

    def __init__(self, dbapi: sqlite3.Connection, compiler: Compiler) -> None:
        self._dbapi = dbapi
        self._compiler = compiler
        self._depth = 0

    def _in_group(self) -> None:
        if not self._dbapi.in_transaction:
            raise _GroupBroken("the group's transaction has ended")

    def _statement(self, statement: Executable, params: Params) -> Rows:
        self._in_group()  # never a statement outside the group: it would commit on its own
        try:
            return _run(self._dbapi, self._compiler, statement, params)
        except StorageError:
            self._in_group()  # SQLite may have ended the whole transaction with this error
            raise

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        return self._statement(statement, params)

    async def modify(self, statement: Executable, params: Params = None) -> int:
        return self._statement(statement, params).rowcount

    def savepoint(self) -> contextlib.AbstractAsyncContextManager[None]:
        self._depth += 1
        return self._savepoint(f"kesu_sp{self._depth}")

    @contextlib.asynccontextmanager
    async def _savepoint(self, name: str) -> AsyncIterator[None]:
        """What is written inside is undone alone if it raises; a transaction that ended
        meanwhile surfaces as _GroupBroken, whatever the body raised."""
        try:
            self._in_group()
            self._dbapi.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException as exc:
                self._in_group()
                try:
                    self._dbapi.execute(f"ROLLBACK TO {name}")
                    self._dbapi.execute(f"RELEASE {name}")
                except sqlite3.Error as broken:
                    raise _GroupBroken(str(broken)) from exc
                raise
            self._in_group()
            self._dbapi.execute(f"RELEASE {name}")
        finally:
            if name != "kesu_unit":
                self._depth -= 1

    def unit(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The savepoint around one unit of work in the group."""
        return self._savepoint("kesu_unit")


class _ThreadSession:
    """A reader connection; each statement runs on a reader thread, rows fetched there."""

    dialect = "sqlite"

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on one connection

    def connection(self) -> Connection:
        """Checked out on the reader thread: opening a file is I/O."""
        if self._conn is None:
            self._conn = self._store.readers.connect()
            self._conn.begin()  # our BEGIN (see _begin_deferred): one snapshot throughout
        return self._conn

    def _dbapi(self) -> sqlite3.Connection:
        dbapi = self.connection().connection.dbapi_connection
        assert isinstance(dbapi, sqlite3.Connection)  # noqa: S101
        return dbapi

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        async with self._lock:
            return await self._store.on_reader(
                lambda: _run(self._dbapi(), self._store.compiler, statement, params),
                interrupt=self._interrupt,
            )

    async def modify(self, statement: Executable, params: Params = None) -> int:
        raise StorageError("a read transaction cannot write: use store.write()")

    def savepoint(self) -> contextlib.AbstractAsyncContextManager[None]:
        raise StorageError("a read transaction has no savepoints: use store.write()")

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        async with self._lock:
            return await self._store.on_reader(lambda: fn(self.connection()))

    def _interrupt(self) -> None:
        if self._conn is not None:  # sqlite3's interrupt() is meant to be called from afar
            self._dbapi().interrupt()

    def close(self) -> None:
        """Only once no statement is in flight (on_reader waits for the thread)."""
        if self._conn is not None:  # back to the pool; ending a read transaction is no I/O
            self._conn.close()
            self._conn = None


class SqliteStore(Store):
    def __init__(
        self,
        path: str,
        *,
        readers: int = 4,
        busy_timeout: float = 30.0,
        max_group: int = MAX_GROUP,
    ) -> None:
        if readers < 1 or max_group < 1 or busy_timeout < 0:
            raise StorageError("readers and max_group must be ≥ 1, busy_timeout ≥ 0")
        self.path = path
        self.busy_timeout = busy_timeout
        self.max_group = max_group
        self.dialect = "sqlite"
        self.stats = WriteStats()
        self._queue: collections.deque[_Job] = collections.deque()
        self._wake = asyncio.Event()
        self._writer_task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = asyncio.Event()
        self._conn: Connection | None = None
        self._dbapi: sqlite3.Connection | None = None
        self._session: _LoopSession | None = None
        self._commits = 0  # COMMITs the writer thread completed (survives a cancellation)
        url = URL.create("sqlite", database=path)
        connect_args = {"check_same_thread": False, "timeout": busy_timeout}
        self.writer = create_engine(
            url, poolclass=QueuePool, pool_size=1, max_overflow=0, connect_args=connect_args
        )
        self.readers = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=readers,
            max_overflow=0,
            connect_args=connect_args,
        )
        event.listen(self.writer, "connect", _writer_pragmas)
        event.listen(self.readers, "connect", _reader_pragmas)
        event.listen(self.readers, "begin", _begin_deferred)
        self.compiler = Compiler(self.writer.dialect)
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="kesu-sqlite-write")
        self._read_threads = ThreadPoolExecutor(readers, thread_name_prefix="kesu-sqlite-read")
        self._readers = readers
        # Never more read transactions than connections: a reader thread then never waits
        # for a connection that only a transaction waiting for that thread would return.
        self._read_slots = asyncio.Semaphore(readers)

    # -- writing -----------------------------------------------------------------------------

    async def write(self, work: Work[T]) -> T:
        self._refuse_nested_write()
        job = _Job(asyncio.get_running_loop().create_future(), work=work)
        self._submit(job)
        result: T = await job.future
        return result

    async def write_sync(self, fn: Callable[[Connection], T]) -> T:
        self._refuse_nested_write()
        job = _Job(asyncio.get_running_loop().create_future(), sync=fn)
        self._submit(job)
        result: T = await job.future
        return result

    def _submit(self, job: _Job) -> None:
        if self._closing:
            raise StorageError("the store is closed")
        self._queue.append(job)
        if self._writer_task is None or self._writer_task.done():
            # A context of its own: nothing of the first caller's (such as "inside a unit of
            # work") leaks into the writer.
            self._writer_task = asyncio.get_running_loop().create_task(
                self._write_loop(), name="kesu-sqlite-writer", context=contextvars.Context()
            )
        self._wake.set()

    async def _write_loop(self) -> None:
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
            conn, dbapi = self._writer_connection()
            try:
                value = sync(conn)
                dbapi.commit()
            except BaseException:
                dbapi.rollback()
                raise
            return value

        try:
            value = await self._on_writer(run)
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
                await self._on_writer(self._rollback)
            for job in jobs:
                _fail(
                    job, StorageError(f"the store stopped before this write was durable: {exc!r}")
                )
            raise

    async def _attempts(self, jobs: list[_Job]) -> None:
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                await self._on_writer(self._begin)
            except Exception as exc:  # the lock stayed taken: everyone waiting waited for it
                error = self._explain(exc)
                for job in [*jobs, *self._take_waiting()]:
                    _fail(job, error)
                return
            outcomes: list[tuple[_Job, bool, Any]] = []
            commits = self._commits
            try:
                await self._run_units(jobs, outcomes, grow=attempt == 1)
                await self._on_writer(self._commit)
            except asyncio.CancelledError:
                if self._commits > commits:  # the COMMIT went through before we heard
                    self._deliver(outcomes)
                raise
            except (Exception, _GroupBroken) as exc:
                await self._on_writer(self._rollback)
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

    def _deliver(self, outcomes: list[tuple[_Job, bool, Any]]) -> None:
        """The group is durable: only now may anyone act on what its units did — or on their
        errors, which may rest on what earlier units of the group wrote."""
        self.stats.groups += 1
        self.stats.units += sum(ok for _, ok, _ in outcomes)
        for job, ok, value in outcomes:
            if ok:
                _succeed(job, value)
            else:
                _fail(job, value)

    def _set_apart(
        self, jobs: list[_Job], outcomes: list[tuple[_Job, bool, Any]], exc: BaseException
    ) -> None:
        """A unit whose own run broke the transaction (it was running when it ended) leaves
        the group and queues to run on its own, so one bad unit cannot fail the others; after
        COMMIT_ATTEMPTS such breaks it fails alone."""
        if not isinstance(exc, _GroupBroken) or len(jobs) < 2:
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

    async def _run_units(
        self, jobs: list[_Job], outcomes: list[tuple[_Job, bool, Any]], *, grow: bool
    ) -> None:
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
        token = self._enter_write()
        try:
            async with self._session.unit():
                value = await job.work(Tx(self._session))
        except _GroupBroken:
            raise
        except BaseException as exc:
            task = asyncio.current_task()
            if not isinstance(exc, Exception) and task is not None and task.cancelling():
                raise  # the writer is being stopped: the group's rollback handles it
            return False, exc
        finally:
            self._leave_write(token)
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

    def _writer_connection(self) -> tuple[Connection, sqlite3.Connection]:
        if self._conn is None:
            conn = self.writer.connect()
            # SQLAlchemy's own transaction stays open for the connection's life and does
            # nothing (pysqlite's BEGIN is ours to issue): each group's BEGIN IMMEDIATE and
            # COMMIT go to the driver, and Alembic sees a transaction it must not end.
            conn.begin()
            dbapi = conn.connection.dbapi_connection
            assert isinstance(dbapi, sqlite3.Connection)  # noqa: S101
            self._conn, self._dbapi = conn, dbapi
            self._session = _LoopSession(dbapi, self.compiler)
        assert self._dbapi is not None  # noqa: S101
        return self._conn, self._dbapi

    def _begin(self) -> None:
        _conn, dbapi = self._writer_connection()
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

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        return await _on_thread(self._write_thread, fn)

    def _explain(self, exc: BaseException) -> BaseException:
        if _is_locked(exc):
            return StoreBusy(
                f"another process held the database {self.path} for more than "
                f"{self.busy_timeout:g} s; nothing was written"
            )
        if isinstance(exc, _GroupBroken):
            return DatabaseError(f"the transaction ended under this write: {exc}")
        return exc

    # -- reading -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        if self._closing:
            raise StorageError("the store is closed")
        async with self._read_slots:
            session = _ThreadSession(self)
            try:
                yield Tx(session)
            finally:
                session.close()

    async def read_sync(self, fn: Callable[[Connection], T]) -> T:
        async with self.read() as tx:
            session = tx.session
            assert isinstance(session, _ThreadSession)  # noqa: S101
            return await session.run_sync(fn)

    async def on_reader(
        self, fn: Callable[[], T], interrupt: Callable[[], None] | None = None
    ) -> T:
        return await _on_thread(self._read_threads, fn, interrupt)

    # -- closing -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Finish the writes already queued and the reads under way, then close. Safe to
        call again (a second call waits for the first)."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            await self._close()
        finally:
            self._closed.set()

    async def _close(self) -> None:
        self._wake.set()
        if self._writer_task is not None:
            await asyncio.wait([self._writer_task])  # its outcome was its callers' to see
        for _ in range(self._readers):  # every read transaction has ended
            await self._read_slots.acquire()
        if self._conn is not None:
            conn = self._conn
            self._conn = self._dbapi = self._session = None
            await self._on_writer(conn.close)
        self._write_thread.shutdown(wait=False)  # idle now: nothing to wait for
        self._read_threads.shutdown(wait=False)
        self.writer.dispose()
        self.readers.dispose()


async def _on_thread(
    pool: ThreadPoolExecutor, fn: Callable[[], T], interrupt: Callable[[], None] | None = None
) -> T:
    """``fn`` on ``pool``. Cancelled, it still waits for the thread to finish (``interrupt``
    shortens that), so nobody acts on the connection while the thread still uses it."""
    future = asyncio.get_running_loop().run_in_executor(pool, fn)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if interrupt is not None:
            interrupt()
        await asyncio.wait([future])
        raise


def _succeed(job: _Job, value: Any) -> None:
    if not job.future.done():
        job.future.set_result(value)


def _fail(job: _Job, exc: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(exc)


def _is_locked(exc: BaseException) -> bool:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def _pragmas(dbapi_connection: Any) -> None:
    # The driver issues no BEGIN of its own: ours are explicit (SQLAlchemy's recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _writer_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    _pragmas(dbapi_connection)
    # A committed case survives a power cut: the WAL is synced at every COMMIT.
    dbapi_connection.execute("PRAGMA synchronous=FULL")


def _reader_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    _pragmas(dbapi_connection)
    dbapi_connection.execute("PRAGMA query_only=ON")  # a write through a reader is a bug


def _begin_deferred(conn: Connection) -> None:
    # One snapshot for the whole read transaction (the driver would not BEGIN for a SELECT).
    conn.exec_driver_sql("BEGIN")
