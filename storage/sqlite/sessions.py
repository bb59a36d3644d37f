"""What repositories run on inside SQLite transactions: the writer's session on the event
loop, a reader's on a thread, and the one way both run a statement."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from storage.compiled import Compiler, split
from storage.repositories import StorageError
from storage.repositories.base import DatabaseError, IntegrityViolation, Params, Rows

T = TypeVar("T")


class GroupBroken(BaseException):
    """The transaction under the group is gone (SQLite rolled it back after an I/O error,
    a full disk …): every unit of the group must run again. A BaseException, so that a
    listener's ``except Exception`` around its savepoint cannot swallow it and carry on
    writing outside any transaction."""


def run_statement(
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


async def on_thread(
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


class LoopSession:
    """The writer connection, used on the event loop while the group holds the write lock.

    Savepoints are the driver's own: SQLAlchemy's ``begin_nested`` costs ~60 times more here
    (117 µs a pair against 2 µs, measured), and it need not know, since the group's
    transaction is managed below it.
    """

    dialect = "sqlite"

    def __init__(self, dbapi: sqlite3.Connection, compiler: Compiler) -> None:
        self._dbapi = dbapi
        self._compiler = compiler
        self._depth = 0

    def _in_group(self) -> None:
        if not self._dbapi.in_transaction:
            raise GroupBroken("the group's transaction has ended")

    def _statement(self, statement: Executable, params: Params) -> Rows:
        self._in_group()  # never a statement outside the group: it would commit on its own
        try:
            return run_statement(self._dbapi, self._compiler, statement, params)
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

    def unit(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The savepoint around one unit of work in the group."""
        return self._savepoint("kesu_unit")

    @contextlib.asynccontextmanager
    async def _savepoint(self, name: str) -> AsyncIterator[None]:
        """What is written inside is undone alone if it raises; a transaction that ended
        meanwhile surfaces as GroupBroken, whatever the body raised."""
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
                    raise GroupBroken(str(broken)) from exc
                raise
            self._in_group()
            self._dbapi.execute(f"RELEASE {name}")
        finally:
            if name != "kesu_unit":
                self._depth -= 1


class ThreadSession:
    """A reader connection; each statement runs on a reader thread, rows fetched there."""

    dialect = "sqlite"

    def __init__(
        self, connect: Callable[[], Connection], compiler: Compiler, pool: ThreadPoolExecutor
    ) -> None:
        self._connect = connect
        self._compiler = compiler
        self._pool = pool
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on one connection

    def connection(self) -> Connection:
        """Checked out on the reader thread: opening a file is I/O."""
        if self._conn is None:
            self._conn = self._connect()
            self._conn.begin()  # a BEGIN of our own: one snapshot for the whole transaction
        return self._conn

    def _dbapi(self) -> sqlite3.Connection:
        dbapi = self.connection().connection.dbapi_connection
        assert isinstance(dbapi, sqlite3.Connection)  # noqa: S101
        return dbapi

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        async with self._lock:
            return await on_thread(
                self._pool,
                lambda: run_statement(self._dbapi(), self._compiler, statement, params),
                self._interrupt,
            )

    async def modify(self, statement: Executable, params: Params = None) -> int:
        raise StorageError("a read transaction cannot write: use store.write()")

    def savepoint(self) -> contextlib.AbstractAsyncContextManager[None]:
        raise StorageError("a read transaction has no savepoints: use store.write()")

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        async with self._lock:
            return await on_thread(self._pool, lambda: fn(self.connection()))

    def _interrupt(self) -> None:
        if self._conn is not None:  # sqlite3's interrupt() is meant to be called from afar
            self._dbapi().interrupt()

    def close(self) -> None:
        """Only once no statement is in flight (on_thread waits for the thread)."""
        if self._conn is not None:  # back to the pool; ending a read transaction is no I/O
            self._conn.close()
            self._conn = None
