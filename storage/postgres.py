"""PostgreSQL, for several instances: SQLAlchemy's async engine over asyncpg.

One transaction per unit of work is right here: the server commits concurrent transactions
together (its own group commit), and row locks (``FOR UPDATE``, the upserts) serialise what
must be. asyncpg prepares each statement once per connection (SQLAlchemy's dialect keeps the
prepared statements), and the repositories' statements are built once, so a call costs a
cache lookup and a round trip. A unit that loses a serialization conflict or a deadlock is
rolled back by the server and runs again; any other error reaches the caller — a connection
lost during COMMIT leaves unknown whether it committed, so that is never retried here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from sqlalchemy.engine import URL, Connection, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.sql import Executable

from storage.db import Store, Work
from storage.repositories import StorageError, Tx
from storage.repositories.base import Params

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Tries of one unit of work that the server rolled back for a conflict.
ATTEMPTS = 3
_RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected


class _Session:
    dialect = "postgresql"

    def __init__(self, conn: AsyncConnection, *, writable: bool = True) -> None:
        self._conn = conn
        self._writable = writable

    async def execute(self, statement: Executable, params: Params = None) -> Result[Any]:
        return await self._conn.execute(statement, params)

    async def modify(self, statement: Executable, params: Params = None) -> int:
        if not self._writable:
            raise StorageError("a read transaction cannot write: use store.write()")
        return int((await self._conn.execute(statement, params)).rowcount)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self._conn.begin_nested():
            yield

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        return await self._conn.run_sync(fn)


class PostgresStore(Store):
    def __init__(self, url: URL, **engine_options: Any) -> None:
        engine_options.setdefault("pool_size", 10)
        engine_options.setdefault("max_overflow", 10)
        engine_options.setdefault("pool_timeout", 120)
        self.engine = create_async_engine(url, **engine_options)
        self.dialect = "postgresql"

    async def write(self, work: Work[T]) -> T:
        token = self._enter_write()
        try:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    async with self.engine.connect() as conn, conn.begin():
                        return await work(Tx(_Session(conn)))
                except DBAPIError as exc:
                    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
                    if attempt == ATTEMPTS or code not in _RETRYABLE:
                        raise
                    log.info("postgresql: %s on attempt %d; running the transaction again",
                             code, attempt)  # fmt: skip
                    await asyncio.sleep(0.01 * 2**attempt)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._leave_write(token)

    async def write_sync(self, fn: Callable[[Connection], T]) -> T:
        async with self.engine.connect() as conn, conn.begin():
            return await conn.run_sync(fn)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        async with self.engine.connect() as conn:
            # BEGIN READ ONLY: the server refuses a write too, at no extra round trip.
            await conn.execution_options(postgresql_readonly=True)
            async with conn.begin():
                yield Tx(_Session(conn, writable=False))

    async def close(self) -> None:
        await self.engine.dispose()
