"""Migration 0012 (issue 15): existing 热点 / 重大 cases are dated (``severity_since``) and made
due, so an open one is reported once after the upgrade; others are left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection

from storage import migrate
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
