"""The SQLite store: its connections, its writer, its readers."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from storage.compiled import Compiler
from storage.db import Store, Work
from storage.repositories import StorageError, Tx
from storage.sqlite.sessions import ThreadSession
from storage.sqlite.writer import MAX_GROUP, GroupWriter, WriteStats

T = TypeVar("T")


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
        self.dialect = "sqlite"
        url = URL.create("sqlite", database=path)
        connect_args = {"check_same_thread": False, "timeout": busy_timeout}
        writer = create_engine(
            url, poolclass=QueuePool, pool_size=1, max_overflow=0, connect_args=connect_args
        )
        self.readers = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=readers,
            max_overflow=0,
            connect_args=connect_args,
        )
        event.listen(writer, "connect", _writer_pragmas)
        event.listen(self.readers, "connect", _reader_pragmas)
        event.listen(self.readers, "begin", _begin_deferred)
        self.compiler = Compiler(writer.dialect)
        self.group = GroupWriter(
            writer,
            self.compiler,
            path=path,
            busy_timeout=busy_timeout,
            max_group=max_group,
            mark_writing=self._enter_write,
            unmark_writing=self._leave_write,
        )
        self._read_threads = ThreadPoolExecutor(readers, thread_name_prefix="kesu-sqlite-read")
        self._readers = readers
        # Never more read transactions than connections: a reader thread then never waits
        # for a connection that only a transaction waiting for that thread would return.
        self._read_slots = asyncio.Semaphore(readers)
        self._closing = False
        self._closed = asyncio.Event()

    @property
    def stats(self) -> WriteStats:
        return self.group.stats

    async def write(self, work: Work[T]) -> T:
        self._refuse_nested_write()
        return await self.group.run(work)

    async def write_sync(self, fn: Callable[[Connection], T]) -> T:
        self._refuse_nested_write()
        return await self.group.run_sync(fn)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        async with self._reading() as session:
            yield Tx(session)

    async def read_sync(self, fn: Callable[[Connection], T]) -> T:
        async with self._reading() as session:
            return await session.run_sync(fn)

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[ThreadSession]:
        if self._closing:
            raise StorageError("the store is closed")
        async with self._read_slots:
            session = ThreadSession(self.readers.connect, self.compiler, self._read_threads)
            try:
                yield session
            finally:
                session.close()

    async def close(self) -> None:
        """Finish the writes already queued and the reads under way, then close. Safe to
        call again (a second call waits for the first)."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            await self.group.close()
            for _ in range(self._readers):  # every read transaction has ended
                await self._read_slots.acquire()
            self._read_threads.shutdown(wait=False)  # idle now: nothing to wait for
            self.group.engine.dispose()
            self.readers.dispose()
        finally:
            self._closed.set()


def _pragmas(dbapi_connection: Any) -> None:
    # The driver issues no BEGIN of its own: ours are explicit (SQLAlchemy's recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    _wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _wal(cursor: Any, attempts: int = 50) -> None:
    """WAL mode, set once per file. Switching needs the file to itself, and SQLite may
    answer "database is locked" while another process holds a lock on a new file (seen in
    the suite: two instances starting together, one migrating, the other's first connection
    switching): so a file already in WAL is left alone, and the switch is tried again for
    up to ~5 s."""
    for attempt in range(attempts):
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)


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
