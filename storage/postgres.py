"""PostgreSQL, for several instances: asyncpg's pool and prepared statements.

One transaction per unit of work is right here: the server commits concurrent transactions
together (its own group commit), and row locks (``FOR UPDATE``, the upserts) serialise what
must be. Statements are compiled once by SQLAlchemy (``storage/compiled.py``) and run with
asyncpg, which prepares each SQL text once per connection and keeps it. A unit that loses a
serialization conflict or a deadlock is rolled back by the server and runs again; any other
error reaches the caller, as the store's DatabaseError with the driver's error as its cause.
A connection lost during COMMIT leaves unknown whether it committed, so that is never retried.

SQLAlchemy's own async engine is used only where a synchronous connection is needed
(Alembic's migrations, schema inspection), and opens its connections just for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Executable

from storage.compiled import Compiler, split
from storage.db import Store, Work
from storage.repositories import StorageError, Tx
from storage.repositories.base import Conflict, DatabaseError, IntegrityViolation, Params, Rows

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Tries of one unit of work that the server rolled back for a conflict.
ATTEMPTS = 3


@contextlib.contextmanager
def _driver_errors() -> Iterator[None]:
    """asyncpg's errors as the store's own, as on SQLite."""
    try:
        yield
    except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError) as exc:
        raise Conflict(str(exc)) from exc
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityViolation(str(exc)) from exc
    except asyncpg.PostgresError as exc:
        raise DatabaseError(str(exc)) from exc


class _Session:
    dialect = "postgresql"

    def __init__(
        self,
        conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
        compiler: Compiler,
        *,
        writable: bool = True,
    ) -> None:
        self._conn = conn
        self._compiler = compiler
        self._writable = writable

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        one, many = split(params)
        if many is not None:
            return Rows([], await self._many(statement, many))
        compiled = self._compiler.get(statement, one)
        sql, args = compiled.args(one)
        with _driver_errors():
            records = await self._conn.fetch(sql, *args)
        if not records:
            return Rows([], 0)
        return Rows(compiled.rows(list(records[0].keys()), records), len(records))

    async def modify(self, statement: Executable, params: Params = None) -> int:
        if not self._writable:
            raise StorageError("a read transaction cannot write: use store.write()")
        one, many = split(params)
        if many is not None:
            return await self._many(statement, many)
        sql, args = self._compiler.get(statement, one).args(one)
        with _driver_errors():
            status: str = await self._conn.execute(sql, *args)  # e.g. "UPDATE 3"
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else -1

    async def _many(self, statement: Executable, params: Any) -> int:
        if not self._writable:
            raise StorageError("a read transaction cannot write: use store.write()")
        sql, rows = self._compiler.many(statement, params)
        with _driver_errors():
            await self._conn.executemany(sql, rows)
        return -1  # asyncpg does not count the rows of an executemany

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self._conn.transaction():  # nested: a SAVEPOINT
            yield


async def _session_untouched(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing beyond what asyncpg
    still does (an open transaction is rolled back). kesu never changes a session's state —
    no LISTEN, SET, session advisory lock or cursor outside a transaction — so asyncpg's
    default reset query (``RESET ALL; UNLISTEN *; …``) would be one more round trip for every
    transaction: measured, 1.2 of ~13 statements per inbound message."""


class PostgresStore(Store):
    def __init__(
        self,
        url: URL,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout: float = 120.0,
        connect_args: dict[str, Any] | None = None,
    ) -> None:
        self.dialect = "postgresql"
        self.url = url.set(drivername="postgresql+asyncpg")
        self._connect_args = dict(connect_args or {})
        self._max_size = max(1, pool_size + max_overflow)
        self._timeout = pool_timeout
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._closing = False
        self._active = 0  # transactions holding or awaiting a connection
        self._idle = asyncio.Event()
        self._idle.set()
        # SQLAlchemy's engine: its dialect compiles every statement; its connections (opened
        # only then) serve Alembic and inspection.
        self._engine = create_async_engine(
            self.url, poolclass=NullPool, connect_args=self._connect_args
        )
        self.compiler = Compiler(self._engine.dialect)
        # The URL's parts and query (?ssl=require …) as SQLAlchemy's asyncpg dialect reads
        # them, so a URL that worked with SQLAlchemy's engine works here too.
        _, options = self._engine.dialect.create_connect_args(self.url)
        if "prepared_statement_cache_size" in options:  # SQLAlchemy's name for asyncpg's
            options["statement_cache_size"] = options.pop("prepared_statement_cache_size")
        self._options: dict[str, Any] = {**options, **self._connect_args}

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection in a transaction; close() waits until every one is back."""
        if self._closing:
            raise StorageError("the store is closed")
        self._active += 1
        self._idle.clear()
        try:
            pool = await self._connections()
            async with pool.acquire(timeout=self._timeout) as conn:
                yield conn
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    async def _connections(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        min_size=1,
                        max_size=self._max_size,
                        init=_json_codec,
                        reset=_session_untouched,
                        **self._options,
                    )
        return self._pool

    async def write(self, work: Work[T]) -> T:
        self._refuse_nested_write()
        token = self._enter_write()
        try:
            async with self._connection() as conn:
                for attempt in range(1, ATTEMPTS + 1):
                    try:
                        async with conn.transaction():
                            return await work(Tx(_Session(conn, self.compiler)))
                    except Conflict as exc:
                        if attempt == ATTEMPTS:
                            raise
                        log.info("postgresql: %s on attempt %d; running the transaction again",
                                 exc, attempt)  # fmt: skip
                        await asyncio.sleep(0.01 * 2**attempt)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._leave_write(token)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        # BEGIN READ ONLY: the server refuses a write too.
        async with self._connection() as conn, conn.transaction(readonly=True):
            yield Tx(_Session(conn, self.compiler, writable=False))

    async def write_sync(self, fn: Callable[[Connection], T]) -> T:
        async with self._engine.connect() as conn, conn.begin():
            return await conn.run_sync(fn)

    async def read_sync(self, fn: Callable[[Connection], T]) -> T:
        async with self._engine.connect() as conn, conn.begin():
            return await conn.run_sync(fn)

    async def close(self) -> None:
        """Let the transactions under way finish, then close every connection."""
        self._closing = True
        await self._idle.wait()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self._engine.dispose()


async def _json_codec(conn: asyncpg.Connection) -> None:
    """JSON columns in and out as SQLAlchemy's asyncpg dialect has them: the statement's
    processor serialises to text, the codec decodes what the server returns."""
    await conn.set_type_codec(
        "json",
        encoder=str.encode,
        decoder=lambda data: json.loads(data.decode()),
        schema="pg_catalog",
        format="binary",
    )
