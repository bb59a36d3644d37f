"""What every repository stands on: one async way to run a statement, whatever runs it.

Repositories are written once, against :class:`Session`. Beneath it, each backend runs
statements its own fastest safe way (``storage/sqlite.py``: on the event loop inside a
group-committed transaction, or on a reader thread; ``storage/postgres.py``: asyncpg's
prepared statements through SQLAlchemy's async engine). Hot-path statements are built once —
per dialect when the SQL differs, as module constants otherwise — with ``bindparam`` for
every value, so a call costs a cache lookup instead of building and hashing a statement tree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Result
from sqlalchemy.sql import Executable

from storage.schema import Row

T = TypeVar("T")
S = TypeVar("S")

#: One parameter set, or several for an executemany.
Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


class StorageError(Exception):
    """Base of what storage reports; the message is meant for a person."""


class NotFound(StorageError):
    pass


class StaleRow(StorageError):
    """Somebody changed the row since it was read (two staff clicking at once)."""


class Session(Protocol):
    """One open transaction, as repositories see it."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: which prebuilt statement to pick."""
        ...

    async def execute(self, statement: Executable, params: Params = None) -> Result[Any]:
        """Run a query (or DML with RETURNING); its rows are all fetched already."""
        ...

    async def modify(self, statement: Executable, params: Params = None) -> int:
        """Run DML without RETURNING; how many rows it changed."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested transaction: what is written inside is undone alone if it raises."""
        ...

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` on the underlying synchronous connection (Alembic, inspection)."""
        ...


def per_dialect(build: Callable[[str], S]) -> Callable[[str], S]:
    """Build a statement once per dialect, on first use (for SQL that differs, such as the
    upserts' ON CONFLICT), and hand out that same object ever after."""
    return functools.cache(build)


def insert_for(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which knows ON CONFLICT (upserts stay one statement, no races)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise StorageError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")


def as_row(result_row: Any) -> Row:
    return dict(result_row._mapping)


class Repo:
    """A repository: statements over the session of one transaction."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session
