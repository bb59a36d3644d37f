"""Migrations 0012 and 0013 (issue 15): existing 热点 / 重大 cases are dated
(``severity_since``) and made due, so an open one is reported once after the upgrade, others
are left alone; burst alerts get their table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection

from storage import migrate
from storage.repositories import Tx
from tests.conftest import Backend
from tests.storage import rows as written


async def test_upgrade_from_0011_dates_raised_flags_and_makes_open_ones_due(
    backend: Backend,
) -> None:
    at = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    later = at + timedelta(days=3)
    store = backend.connect()
    try:
        assert await migrate.upgrade(store, "0011") == (None, "0011")

        def populate(sync: Connection) -> list[int]:
            customer_id = written.customer(sync, at)
            return [
                written.case(sync, customer_id, at, n, severity=severity, status=status,
                             updated_at=later, next_due=at + timedelta(days=9))
                for n, severity, status in (
                    (1, "hot", "claimed"), (2, "major", "closed"), (3, "general", "claimed"),
                )
            ]  # fmt: skip

        ids = await store.write_sync(populate)
        assert await migrate.upgrade(store) == ("0011", migrate.head_revision())
        async with store.read() as tx:
            found = [await tx.cases.get(i) for i in ids]
        assert [r["severity_since"] for r in found] == [later, later, None]
        untouched = at + timedelta(days=9)
        assert [r["next_due"] for r in found] == [later, untouched, untouched]
    finally:
        await store.close()


async def test_upgrade_from_0012_adds_burst_alerts_one_active_per_category(
    backend: Backend,
) -> None:
    """Migration 0013 on a populated database: the cases stay, and the new table's partial
    unique index keeps one active alert per category (ended ones do not count)."""
    at = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    store = backend.connect()
    try:
        assert await migrate.upgrade(store, "0012") == (None, "0012")

        def populate(sync: Connection) -> int:
            return written.case(sync, written.customer(sync, at), at, 1, category="billing")

        case_id = await store.write_sync(populate)
        assert await migrate.upgrade(store) == ("0012", migrate.head_revision())

        async def raise_(tx: Tx) -> int | None:
            return await tx.bursts.start("billing", at, 9, 2.0)

        first = await store.write(raise_)
        assert first is not None
        assert await store.write(raise_) is None  # active already: nothing
        assert await store.write(lambda tx: tx.bursts.end(first, at + timedelta(hours=1)))
        assert await store.write(raise_) not in (None, first)
        async with store.read() as tx:
            assert (await tx.cases.get(case_id))["category"] == "billing"
            assert [r["intake"] for r in (await tx.bursts.active()).values()] == [9]
    finally:
        await store.close()
