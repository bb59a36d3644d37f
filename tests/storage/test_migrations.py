"""Migrations build exactly the schema in ``storage/schema.py``, on every backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect
from sqlalchemy.engine import Connection

from bot.nlp.classifier import Classifier
from bot.services import upkeep
from storage import migrate
from storage.db import Store
from storage.repositories import Tx
from storage.schema import case_events, cases, customers, inbound_updates, metadata, outbox
from tests.conftest import Backend
from tests.storage import rows as written


async def test_upgrade_from_empty_then_again_is_a_no_op(backend: Backend) -> None:
    store = backend.connect()
    try:
        assert await migrate.current_revision(store) is None
        before, after = await migrate.upgrade(store)
        assert (before, after) == (None, migrate.head_revision())
        assert await migrate.upgrade(store) == (after, after)
    finally:
        await store.close()


async def test_migrated_schema_matches_the_metadata(store: Store) -> None:
    diff = await store.read_sync(
        lambda sync: compare_metadata(
            MigrationContext.configure(sync, opts={"compare_type": True}), metadata
        )
    )
    tables = await store.read_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert diff == []
    assert {t.name for t in metadata.sorted_tables} <= tables


async def test_upgrade_of_a_populated_database_of_the_previous_release_keeps_its_rows(
    backend: Backend,
) -> None:
    now = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    store = backend.connect()
    try:
        assert await migrate.upgrade(store, "0003") == (None, "0003")
        tables = await store.read_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert "inbox" not in tables
        assert "inbox_leases" not in tables

        def populate(sync: Connection) -> tuple[int, int]:
            customer_id = sync.execute(
                insert(customers)
                .values(
                    channel="telegram",
                    channel_user_id="42",
                    display_name="张三",
                    created_at=now,
                    updated_at=now,
                )
                .returning(customers.c.id)
            ).scalar_one()
            case_id = sync.execute(
                insert(cases)
                .values(
                    number="TS20261117001",
                    customer_id=customer_id,
                    channel="telegram",
                    status="new",
                    priority="C",
                    severity="general",
                    risk="none",
                    category="other",
                    subject="服务态度",
                    content="加油站员工态度恶劣",
                    escalation_level=0,
                    reopen_count=0,
                    outcome=None,
                    language="zh-hans",
                    received_at=now,
                    first_response_due=now + timedelta(days=1),
                    resolution_due=now + timedelta(days=3),
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(cases.c.id)
            ).scalar_one()
            sync.execute(
                insert(inbound_updates).values(channel="slack", update_id="V123", received_at=now)
            )
            return int(customer_id), int(case_id)

        customer_id, case_id = await store.write_sync(populate)
        head = migrate.head_revision()
        assert await migrate.upgrade(store, "head") == ("0003", head)

        async with store.read() as tx:
            customer = await tx.customers.get(customer_id)
            case = await tx.cases.get(case_id)
        assert (customer["channel_user_id"], customer["display_name"]) == ("42", "张三")
        assert customer["created_at"] == now
        assert (case["number"], case["customer_id"], case["content"]) == (
            "TS20261117001",
            customer_id,
            "加油站员工态度恶劣",
        )
        assert (case["language"], case["version"], case["received_at"]) == ("zh-hans", 1, now)
        tables = await store.read_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert {"inbox", "inbox_leases", "inbound_updates"} <= tables

        async def use_the_new_tables(tx: Tx) -> tuple[bool, int | None, bool]:
            seen_before = not await tx.inbound.first_time("slack", "V123", now)
            row_id = await tx.inbox.add(
                channel="telegram",
                update_id="1",
                chat="42",
                fingerprint="m1",
                seq=1,
                payload={"text": "你好"},
                now=now,
            )
            claimed = await tx.inbox.claim("telegram", "42", "me", now, now + timedelta(seconds=10))
            return seen_before, row_id, claimed

        seen_before, row_id, claimed = await store.write(use_the_new_tables)
        assert seen_before  # the staff action recorded before the upgrade is still known
        assert isinstance(row_id, int)
        assert claimed
        async with store.read() as tx:
            row = await tx.inbox.head("telegram", "42")
            assert await tx.inbox.counts() == {"pending": 1}
        assert row is not None
        assert (row["id"], row["payload"]) == (row_id, {"text": "你好"})
        # The new index for pruning staff-action ids came with it: pruning works.
        assert await store.write(lambda tx: tx.inbox.prune(now + timedelta(days=1))) == 0
        assert await store.write(lambda tx: tx.inbound.first_time("slack", "V123", now))
    finally:
        await store.close()


async def test_upgrade_from_0004_keeps_the_queue_and_claims_it_per_recipient(
    backend: Backend,
) -> None:
    """Messages queued by the release before outbox claims are sent after the upgrade, in
    order, with no failures counted against them yet."""
    now = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    store = backend.connect()
    try:
        assert await migrate.upgrade(store, "0004") == (None, "0004")

        def populate(sync: Connection) -> list[int]:
            rows = [
                {"recipient": "42", "status": "pending", "text": "第一条"},
                {"recipient": "42", "status": "pending", "text": "第二条"},
                {"recipient": "C1", "status": "sent", "text": "card"},
                {"recipient": "43", "status": "failed", "text": "blocked"},
            ]
            return [
                sync.execute(
                    insert(outbox)
                    .values(
                        channel="telegram",
                        recipient=r["recipient"],
                        payload={"text": r["text"]},
                        status=r["status"],
                        attempts=0,
                        not_before=now,
                        created_at=now,
                    )
                    .returning(outbox.c.id)
                ).scalar_one()
                for r in rows
            ]

        ids = await store.write_sync(populate)
        assert await migrate.upgrade(store, "head") == ("0004", migrate.head_revision())
        tables = await store.read_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert {"outbox_leases", "outbox_pace"} <= tables

        async def claim(tx: Tx) -> list[dict[str, object]]:
            return await tx.outbox.claim("telegram", "me", now, now + timedelta(seconds=30), 10)

        claimed = await store.write(claim)
        assert [(r["id"], r["payload"], r["failures"], r["since"]) for r in claimed] == [
            (ids[0], {"text": "第一条"}, 0, None)
        ]
        async with store.read() as tx:
            assert await tx.outbox.counts() == {"pending": 2, "sent": 1, "failed": 1}
        # A message that failed before the upgrade can be sent again, too.
        assert await store.write(lambda tx: tx.outbox.retry(ids[3], now)) is True
    finally:
        await store.close()


async def test_instances_starting_at_once_migrate_once(backend: Backend) -> None:
    """Two instances applying the migrations at the same moment: one migrates, the other
    waits (PostgreSQL: an advisory lock; SQLite: the file's write lock) and finds it done."""
    stores = [backend.connect(), backend.connect()]
    try:
        results = await asyncio.gather(*(migrate.upgrade(s) for s in stores))
        head = migrate.head_revision()
        assert all(after == head for _, after in results)
        assert await migrate.current_revision(stores[0]) == head
    finally:
        for s in stores:
            await s.close()


async def test_upgrade_from_0005_starts_each_clock_and_fills_keywords_once(
    backend: Backend, classifier: Classifier
) -> None:
    """Cases of the release before the SLA clock was stored: the clock started at the last
    reopening, else at the receipt; keywords are computed once, at the next start."""
    received = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    reopened_at = received + timedelta(days=30)
    store = backend.connect()
    try:
        assert await migrate.upgrade(store, "0005") == (None, "0005")

        def populate(sync: Connection) -> list[int]:
            customer_id = sync.execute(
                insert(customers)
                .values(channel="telegram", channel_user_id="42", created_at=received,
                        updated_at=received)
                .returning(customers.c.id)
            ).scalar_one()  # fmt: skip
            ids = []
            for n, (status, words) in enumerate(
                [("new", "快递三天了还没派送"), ("reopened", "物业费乱收费,多收了两百元")], 1
            ):
                ids.append(
                    sync.execute(
                        insert(cases)
                        .values(
                            number=f"TS2026111700{n}", customer_id=customer_id, channel="telegram",
                            status=status, priority="C", severity="general", risk="none",
                            category="billing" if n == 2 else "process", subject="x",
                            content=words, escalation_level=n - 1, reopen_count=n - 1,
                            received_at=received, first_response_due=received,
                            resolution_due=received, version=1, created_at=received,
                            updated_at=received,
                        )
                        .returning(cases.c.id)
                    ).scalar_one()
                )  # fmt: skip
            for at, action in [(received + timedelta(days=3), "reopen"), (reopened_at, "reopen")]:
                sync.execute(
                    insert(case_events).values(
                        case_id=ids[1], at=at, actor="survey", action=action,
                        from_status="closed", to_status="reopened", changes={},
                    )
                )  # fmt: skip
            return ids

        first, second = await store.write_sync(populate)
        assert await migrate.upgrade(store) == ("0005", migrate.head_revision())
        async with store.read() as tx:
            rows = [await tx.cases.get(first), await tx.cases.get(second)]
        assert [r["sla_started_at"] for r in rows] == [received, reopened_at]
        assert [(r["paused_seconds"], r["keywords"]) for r in rows] == [(0, None), (0, None)]

        assert await upkeep.backfill_keywords(store, classifier) == 2
        assert await upkeep.backfill_keywords(store, classifier) == 0  # once
        async with store.read() as tx:
            billing = (await tx.cases.get(second))["keywords"]
            delivery = (await tx.cases.get(first))["keywords"]
        assert "乱收费" in billing or "多收" in billing, billing
        assert delivery
        assert all(isinstance(w, str) for w in delivery)
    finally:
        await store.close()


async def test_upgrade_from_0006_makes_every_working_case_due_for_its_first_sweep(
    backend: Backend,
) -> None:
    """Cases of the release before the clock's steps: a working case is due from its clock's
    start (the first sweep computes its points), a resolved one from its resolution, a paused
    or closed one never; all at deadline version 1."""
    at = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    store = backend.connect()
    try:
        assert await migrate.upgrade(store, "0006") == (None, "0006")

        def populate(sync: Connection) -> list[int]:
            customer_id = sync.execute(
                insert(customers)
                .values(channel="telegram", channel_user_id="42", created_at=at, updated_at=at)
                .returning(customers.c.id)
            ).scalar_one()
            ids = []
            for n, (status, resolved, paused) in enumerate(
                [("new", None, None), ("resolved", at + timedelta(hours=2), None),
                 ("claimed", None, at), ("closed", at, None)], 1
            ):  # fmt: skip
                ids.append(
                    sync.execute(
                        insert(cases)
                        .values(
                            number=f"TS2026111700{n}", customer_id=customer_id, channel="telegram",
                            status=status, priority="C", severity="general", risk="none",
                            category="other", subject="x", content="态度差", escalation_level=0,
                            reopen_count=0, received_at=at, sla_started_at=at,
                            first_response_due=at, resolution_due=at, resolved_at=resolved,
                            clock_paused_at=paused, version=1, created_at=at, updated_at=at,
                        )
                        .returning(cases.c.id)
                    ).scalar_one()
                )  # fmt: skip
            return ids

        ids = await store.write_sync(populate)
        assert await migrate.upgrade(store) == ("0006", migrate.head_revision())
        async with store.read() as tx:
            rows = [await tx.cases.get(i) for i in ids]
            assert await tx.steps.due(at + timedelta(hours=3), 10) == ids[:2]
        assert [r["deadline_version"] for r in rows] == [1, 1, 1, 1]
        assert [r["next_due"] for r in rows] == [at, at + timedelta(hours=2), None, None]

        async def record(tx: Tx) -> set[str]:
            return await tx.steps.record(ids[0], 1, [("resolution@100", at, None)], at)

        assert await store.write(record) == {"resolution@100"}
        assert await store.write(record) == set()  # once per (case, version, step)
    finally:
        await store.close()


async def test_upgrade_from_0007_dates_each_case_at_its_level(backend: Backend) -> None:
    """``level_since`` of existing cases: the last escalation or reopening, else the clock's
    start; in place (SQLite: no table copy while events refer to cases)."""
    at = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    store = backend.connect()
    try:
        assert await migrate.upgrade(store, "0007") == (None, "0007")

        def populate(sync: Connection) -> list[int]:
            customer_id = written.customer(sync, at)
            ids = [written.case(sync, customer_id, at, n, escalation_level=n - 1) for n in (1, 2)]
            for when in (timedelta(hours=1), timedelta(hours=2)):
                sync.execute(
                    insert(case_events).values(
                        case_id=ids[1], at=at + when, actor="system", action="escalate",
                        from_status="claimed", to_status="claimed", changes={},
                    )
                )  # fmt: skip
            return ids

        ids = await store.write_sync(populate)
        assert await migrate.upgrade(store) == ("0007", migrate.head_revision())
        async with store.read() as tx:
            rows = [await tx.cases.get(i) for i in ids]
        assert [r["level_since"] for r in rows] == [at, at + timedelta(hours=2)]
    finally:
        await store.close()


async def test_upgrade_from_0008_dates_what_the_customer_last_heard(backend: Backend) -> None:
    """``customer_heard_at``: the desk's last message about the case, else the clock's start;
    ``confirm_asked_at``: a resolved case was asked when resolved; working cases are swept
    once after the upgrade (their next due instant no later than their first step)."""
    at = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    store = backend.connect()
    try:
        assert await migrate.upgrade(store, "0008") == (None, "0008")

        def populate(sync: Connection) -> list[int]:
            customer_id = written.customer(sync, at)
            ids = [
                written.case(sync, customer_id, at, n, status=status, resolved_at=resolved,
                          next_due=at + timedelta(days=9))
                for n, status, resolved in (
                    (1, "claimed", None), (2, "in_progress", None),
                    (3, "resolved", at + timedelta(hours=5)),
                )
            ]  # fmt: skip
            for action in ("reply", "note"):  # a note among staff is no news for the customer
                sync.execute(
                    insert(case_events).values(
                        case_id=ids[1], at=at + timedelta(hours=3 if action == "note" else 2),
                        actor="slack:U1", action=action, from_status="in_progress",
                        to_status="in_progress", changes={},
                    )
                )  # fmt: skip
            return ids

        ids = await store.write_sync(populate)
        assert await migrate.upgrade(store) == ("0008", migrate.head_revision())
        async with store.read() as tx:
            rows = [await tx.cases.get(i) for i in ids]
        assert [r["customer_heard_at"] for r in rows] == [at, at + timedelta(hours=2), at]
        assert [r["confirm_asked_at"] for r in rows] == [None, None, at + timedelta(hours=5)]
        assert [r["next_due"] for r in rows] == [at, at, at + timedelta(days=9)]
        # 0010: their closures predate the draw, so no survey; the answers' table is there.
        assert [r["survey"] for r in rows] == [None, None, None]
        async with store.read() as tx:
            assert await tx.surveys.of(ids[2], 0) == {}
    finally:
        await store.close()
