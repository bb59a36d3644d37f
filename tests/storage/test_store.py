"""The store itself on every backend: the URLs it takes, what it refuses, conflicts it runs
again, closing with work queued, and rows that read and write exactly as SQLAlchemy's own
execution does (so databases written by earlier releases read the same)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from storage import migrate
from storage.db import Store
from storage.repositories import IntegrityViolation, StorageError, Tx
from storage.schema import case_sequences, conversations, customers, outbox
from tests.conftest import Backend

NOW = datetime(2026, 11, 17, 6, 30, 1, 123456, tzinfo=UTC)


def legacy_url(backend: Backend) -> str:
    """The URL as earlier releases (or an operator's .env) may spell it."""
    if backend.name == "sqlite":
        return backend.url.replace("sqlite://", "sqlite+aiosqlite://")
    return f"{backend.url}?ssl=disable&prepared_statement_cache_size=50"


async def test_urls_that_earlier_releases_took_still_work(backend: Backend) -> None:
    store = Store.connect(legacy_url(backend), **backend.engine_options)
    try:
        await migrate.upgrade(store)
        cid = await store.write(lambda tx: tx.customers.ensure("telegram", "42", NOW))
        async with store.read() as tx:
            assert (await tx.customers.get(cid))["channel_user_id"] == "42"
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite://", "in-memory"),
        ("mysql://root@localhost/kesu", "unsupported database"),
        ("postgresql+psycopg://u@h/db", "unsupported PostgreSQL driver"),
        ("not a url", "not a database URL"),
    ],
)
def test_urls_it_cannot_serve_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        Store.connect(url)


def test_a_bare_postgresql_url_means_asyncpg() -> None:
    """README and .env.example offer ``postgresql://…``; SQLAlchemy 2.1 gives a bare URL the
    psycopg driver, which kesu neither ships nor uses. Nothing is opened here."""
    store = Store.connect("postgresql://kesu:pw@127.0.0.1:1/kesu")
    assert store.dialect == "postgresql"
    assert store.shown == "postgresql://kesu:***@127.0.0.1:1/kesu"


async def test_units_locking_rows_in_opposite_orders_both_complete(store: Store) -> None:
    """On PostgreSQL the two deadlock and the server rolls one back, which runs again; on
    SQLite they simply queue. Either way both changes land."""

    async def two(tx: Tx) -> tuple[int, int]:
        return (
            await tx.customers.ensure("telegram", "a", NOW),
            await tx.customers.ensure("telegram", "b", NOW),
        )

    a, b = await store.write(two)

    def crosswise(first: int, second: int, name: str) -> Any:
        async def work(tx: Tx) -> None:
            await tx.customers.update(first, NOW, display_name=name)
            await asyncio.sleep(0.3)  # the other unit takes its first row meanwhile
            await tx.customers.update(second, NOW, display_name=name)

        return work

    await asyncio.gather(store.write(crosswise(a, b, "甲")), store.write(crosswise(b, a, "乙")))
    async with store.read() as tx:
        names = {(await tx.customers.get(i))["display_name"] for i in (a, b)}
    assert len(names) == 1  # one unit ran after the other, whole


async def test_a_rule_the_database_enforces_is_the_stores_own_error(store: Store) -> None:
    async def twice(tx: Tx) -> None:
        await tx.cases.next_sequence("TS", date(2026, 11, 17))
        await tx.session.execute(
            case_sequences.insert(), {"prefix": "TS", "day": date(2026, 11, 17), "last": 9}
        )

    with pytest.raises(IntegrityViolation, match=r"(?i)unique|duplicate"):
        await store.write(twice)


async def test_close_finishes_queued_writes_and_may_be_repeated(backend: Backend) -> None:
    store = backend.connect()
    await migrate.upgrade(store)
    writes = [
        asyncio.create_task(store.write(lambda tx, i=i: tx.inbound.first_time("t", str(i), NOW)))
        for i in range(20)
    ]
    await asyncio.sleep(0)
    await asyncio.gather(store.close(), store.close())  # a second close waits for the first
    assert [await w for w in writes] == [True] * 20
    await store.close()


def _rows(conn: Connection, table: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(table).order_by(*table.primary_key))]


async def test_rows_written_by_sqlalchemys_own_execution_read_the_same(store: Store) -> None:
    """Databases written by earlier releases (SQLAlchemy's normal execution) read back
    exactly through the store's compiled statements: aware datetimes, JSON, dates."""
    payload = {"text": "您好 ✅ <b>&amp;", "buttons": [[{"data": "i:done"}]], "card": None}

    def old_release(conn: Connection) -> None:
        conn.execute(
            customers.insert(),
            {"channel": "telegram", "channel_user_id": "7", "display_name": "張三",
             "created_at": NOW, "updated_at": NOW},
        )  # fmt: skip
        conn.execute(
            outbox.insert(),
            {"channel": "telegram", "recipient": "7", "payload": payload, "status": "pending",
             "attempts": 0, "not_before": NOW, "created_at": NOW},
        )  # fmt: skip
        conn.execute(
            conversations.insert(),
            {"channel": "telegram", "chat_id": "7", "flow": "intake", "state": "content",
             "data": {"parts": ["第一句"], "none": None}, "updated_at": NOW},
        )  # fmt: skip
        conn.execute(
            case_sequences.insert(), {"prefix": "TS", "day": date(2026, 11, 17), "last": 4}
        )

    await store.write_sync(old_release)
    async with store.read() as tx:
        customer = await tx.customers.find("telegram", "7")
        heads = await tx.outbox.listing(["pending"])
        conversation = await tx.conversations.get("telegram", "7")
    assert customer is not None
    assert (customer["display_name"], customer["created_at"]) == ("張三", NOW)
    assert customer["created_at"].tzinfo is UTC
    assert [h["not_before"] for h in heads] == [NOW]
    queued = await store.write(lambda tx: tx.outbox.claim("telegram", "w", NOW, NOW, 5))
    assert [q["payload"] for q in queued] == [payload]
    assert conversation is not None
    assert conversation["data"] == {"parts": ["第一句"], "none": None}
    assert await store.write(lambda tx: tx.cases.next_sequence("TS", date(2026, 11, 17))) == 5


async def test_rows_the_store_writes_read_the_same_through_sqlalchemys_own_execution(
    store: Store,
) -> None:
    later = NOW + timedelta(minutes=5)
    payload = {"text": "已受理 TS20261117001", "buttons": None, "n": 1.5, "ok": True}

    async def work(tx: Tx) -> None:
        await tx.customers.ensure("telegram", "8", NOW, display_name="李四", language="zh-hant")
        await tx.outbox.enqueue(
            channel="telegram", recipient="8", payload=payload, now=later, dedupe_key="k"
        )
        await tx.conversations.put(
            "telegram", "8", flow="intake", state="confirm", data={"a": [1, "é"]}, now=NOW
        )
        await tx.cases.next_sequence("YS", date(2026, 11, 18))

    await store.write(work)
    (customer,) = await store.read_sync(lambda conn: _rows(conn, customers))
    (row,) = await store.read_sync(lambda conn: _rows(conn, outbox))
    (conversation,) = await store.read_sync(lambda conn: _rows(conn, conversations))
    (sequence,) = await store.read_sync(lambda conn: _rows(conn, case_sequences))
    assert (customer["display_name"], customer["language"]) == ("李四", "zh-hant")
    assert customer["created_at"] == NOW
    assert (row["payload"], row["not_before"], row["dedupe_key"]) == (payload, later, "k")
    assert conversation["data"] == {"a": [1, "é"]}
    assert (sequence["prefix"], sequence["day"], sequence["last"]) == ("YS", date(2026, 11, 18), 1)


async def test_a_sqlite_file_path_with_spaces_and_chinese(tmp_path: Path) -> None:
    folder = tmp_path / "客诉 数据"
    folder.mkdir()
    store = Store.connect(f"sqlite:///{folder / 'kesu.db'}")
    try:
        await migrate.upgrade(store)
        assert await store.write(lambda tx: tx.inbound.first_time("t", "1", NOW))
        assert (folder / "kesu.db").exists()
    finally:
        await store.close()
