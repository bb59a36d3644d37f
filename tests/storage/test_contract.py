"""One storage contract, run against every backend (SQLite always, PostgreSQL when configured).

Each test talks to the repositories the way services do: inside ``store.write(work)`` units of
work and ``store.read()`` transactions. Every query production code runs is here, with its
filters and orderings, so a statement built once per dialect is checked on each.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from storage.db import Store
from storage.repositories import NotFound, StaleRow, StorageError, Tx
from tests.queries import case_count, pending

NOW = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)


def case_values(customer_id: int, number: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "number": number,
        "customer_id": customer_id,
        "channel": "telegram",
        "status": "new",
        "priority": "C",
        "severity": "general",
        "risk": "none",
        "category": "other",
        "subject": "服务态度",
        "content": "加油站员工态度恶劣 😡 <b>&amp;",
        "escalation_level": 0,
        "reopen_count": 0,
        "received_at": NOW,
        "sla_started_at": NOW,
        "first_response_due": NOW + timedelta(days=1),
        "resolution_due": NOW + timedelta(days=3),
        "created_at": NOW,
        "updated_at": NOW,
    }
    return values | overrides


async def new_case(store: Store, number: str = "TS20261117001") -> dict[str, Any]:
    async def work(tx: Tx) -> dict[str, Any]:
        cid = await tx.customers.ensure("telegram", "42", NOW)
        return await tx.cases.insert(case_values(cid, number))

    return await store.write(work)


async def enqueue(tx: Tx, recipient: str, key: str | None = None, **kw: Any) -> int:
    kw.setdefault("channel", "telegram")
    kw.setdefault("now", NOW)
    kw.setdefault("payload", {"text": f"to {recipient}"})
    found = await tx.outbox.enqueue(recipient=recipient, dedupe_key=key, **kw)
    assert found is not None
    return found


class TestCustomers:
    async def test_ensure_is_idempotent_per_channel_identity(self, store: Store) -> None:
        async def work(tx: Tx) -> tuple[int, int, int]:
            a = await tx.customers.ensure("telegram", "42", NOW, display_name="张三")
            b = await tx.customers.ensure("telegram", "42", NOW)
            c = await tx.customers.ensure("web", "42", NOW)
            return a, b, c

        a, b, c = await store.write(work)
        assert a == b != c

    async def test_later_contact_refreshes_but_never_erases(self, store: Store) -> None:
        async def work(tx: Tx) -> int:
            cid = await tx.customers.ensure(
                "telegram", "7", NOW, display_name="李四", language="zh-hans"
            )
            await tx.customers.ensure("telegram", "7", NOW + timedelta(hours=1), language="zh-hant")
            return cid

        cid = await store.write(work)
        async with store.read() as tx:
            row = await tx.customers.get(cid)
        assert row["display_name"] == "李四"
        assert row["language"] == "zh-hant"
        assert row["created_at"] == NOW
        assert row["updated_at"] == NOW + timedelta(hours=1)

    async def test_writing_again_clears_blocked(self, store: Store) -> None:
        async def work(tx: Tx) -> tuple[int, dict[str, Any]]:
            cid = await tx.customers.ensure("telegram", "9", NOW)
            await tx.customers.update(cid, NOW, blocked_at=NOW)
            return cid, await tx.customers.ensure_row("telegram", "9", NOW + timedelta(days=1))

        cid, row = await store.write(work)
        assert row["id"] == cid
        assert row["blocked_at"] is None

    async def test_update_and_find(self, store: Store) -> None:
        async def work(tx: Tx) -> None:
            cid = await tx.customers.ensure("telegram", "8", NOW)
            await tx.customers.update(cid, NOW, phone="+8613800138000", blocked_at=NOW)
            with pytest.raises(NotFound):
                await tx.customers.update(999_999, NOW, phone="1")

        await store.write(work)
        async with store.read() as tx:
            found = await tx.customers.find("telegram", "8")
            assert await tx.customers.find("telegram", "nobody") is None
            with pytest.raises(NotFound):
                await tx.customers.get(999_999)
        assert found is not None
        assert found["phone"] == "+8613800138000"
        assert found["blocked_at"] == NOW


class TestCaseSequences:
    async def test_sequence_counts_per_prefix_and_day(self, store: Store) -> None:
        day, tomorrow = date(2026, 11, 17), date(2026, 11, 18)

        async def work(tx: Tx) -> tuple[list[int], int, int]:
            seqs = [await tx.cases.next_sequence("TS", day) for _ in range(3)]
            other = await tx.cases.next_sequence("YS", day)
            return seqs, other, await tx.cases.next_sequence("TS", tomorrow)

        assert await store.write(work) == ([1, 2, 3], 1, 1)

    async def test_rolled_back_sequence_is_handed_out_again(self, store: Store) -> None:
        day = date(2026, 11, 17)

        async def failing(tx: Tx) -> None:
            assert await tx.cases.next_sequence("TS", day) == 1
            raise RuntimeError("the case insert failed")

        with pytest.raises(RuntimeError):
            await store.write(failing)
        assert await store.write(lambda tx: tx.cases.next_sequence("TS", day)) == 1

    async def test_concurrent_transactions_never_share_a_number(self, store: Store) -> None:
        day = date(2026, 11, 17)
        got = await asyncio.gather(
            *(store.write(lambda tx: tx.cases.next_sequence("TS", day)) for _ in range(100))
        )
        assert sorted(got) == list(range(1, 101))


class TestCases:
    async def test_insert_round_trips_every_value(self, store: Store) -> None:
        row = await new_case(store)
        async with store.read() as tx:
            again = await tx.cases.by_number("TS20261117001")
            by_id = await tx.cases.get(row["id"])
            assert await tx.cases.by_number("TS20261117999") is None
        assert again == row == by_id
        assert row["content"] == "加油站员工态度恶劣 😡 <b>&amp;"  # verbatim, markup and all
        assert row["received_at"] == NOW
        assert row["received_at"].tzinfo is UTC
        assert row["version"] == 1

    async def test_locking_reads_inside_a_write(self, store: Store) -> None:
        row = await new_case(store)

        async def work(tx: Tx) -> tuple[Any, Any]:
            return (
                await tx.cases.get(row["id"], for_update=True),
                await tx.cases.by_number("TS20261117001", for_update=True),
            )

        assert await store.write(work) == (row, row)

    async def test_numbers_are_unique(self, store: Store) -> None:
        await new_case(store)
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            await new_case(store)

    async def test_update_checks_the_version(self, store: Store) -> None:
        row = await new_case(store)
        updated = await store.write(
            lambda tx: tx.cases.update(row["id"], 1, {"status": "claimed", "assignee": "U1"})
        )
        assert updated["version"] == 2
        assert updated["assignee"] == "U1"
        with pytest.raises(StaleRow):
            await store.write(lambda tx: tx.cases.update(row["id"], 1, {"assignee": "U2"}))
        async with store.read() as tx:
            assert (await tx.cases.get(row["id"]))["assignee"] == "U1"

    async def test_search_filters_and_orders_newest_first(self, store: Store) -> None:
        async def work(tx: Tx) -> int:
            cid = await tx.customers.ensure("telegram", "1", NOW)
            other = await tx.customers.ensure("telegram", "2", NOW)
            for i, status in enumerate(["new", "claimed", "closed"], start=1):
                await tx.cases.insert(
                    case_values(
                        cid,
                        f"TS2026111700{i}",
                        status=status,
                        received_at=NOW + timedelta(minutes=i),
                    )
                )
            await tx.cases.insert(case_values(other, "TS20261117009"))
            return cid

        cid = await store.write(work)
        async with store.read() as tx:
            mine = await tx.cases.search(customer_id=cid)
            open_ = await tx.cases.search(statuses=["new", "claimed"], customer_id=cid)
            recent = await tx.cases.search(customer_id=cid, since=NOW + timedelta(minutes=2))
            page = await tx.cases.search(customer_id=cid, limit=1, offset=1)
            assert await tx.cases.search(statuses=[]) == []
            assert await case_count(tx) == 4
            assert await tx.cases.search(limit=1, offset=10) == []
            with pytest.raises(NotFound):
                await tx.cases.get(123_456)
        assert [r["number"] for r in mine] == ["TS20261117003", "TS20261117002", "TS20261117001"]
        assert [r["status"] for r in open_] == ["claimed", "new"]
        assert [r["number"] for r in recent] == ["TS20261117003", "TS20261117002"]
        assert [r["number"] for r in page] == ["TS20261117002"]

    async def test_search_by_due_puts_the_deadline_that_matters_first(self, store: Store) -> None:
        async def work(tx: Tx) -> None:
            cid = await tx.customers.ensure("telegram", "1", NOW)
            # 001: first response given, resolution due in 3 days; 002: first response due in
            # 1 day; 003: first response due in 2 hours; 004: closed (filtered out below).
            await tx.cases.insert(case_values(cid, "TS20261117001", first_responded_at=NOW))
            await tx.cases.insert(case_values(cid, "TS20261117002"))
            soon = NOW + timedelta(hours=2)
            await tx.cases.insert(case_values(cid, "TS20261117003", first_response_due=soon))
            await tx.cases.insert(case_values(cid, "TS20261117004", status="closed"))

        await store.write(work)
        async with store.read() as tx:
            rows = await tx.cases.search(statuses=["new"], order="due", limit=10)
            first_two = await tx.cases.search(statuses=["new"], order="due", limit=2)
        assert [r["number"] for r in rows] == ["TS20261117003", "TS20261117002", "TS20261117001"]
        assert [r["number"] for r in first_two] == ["TS20261117003", "TS20261117002"]

    async def test_search_by_assignee_and_contact_digits(self, store: Store) -> None:
        async def work(tx: Tx) -> None:
            customer = await tx.customers.ensure("telegram", "42", NOW)
            await tx.cases.insert(
                case_values(
                    customer, "TS20261117001", assignee="slack:U1", contact="+8613800138000"
                )
            )
            await tx.cases.insert(case_values(customer, "TS20261117002", contact="+85291234567"))

        await store.write(work)
        async with store.read() as tx:
            mine = await tx.cases.search(assignee="slack:U1")
            by_phone = await tx.cases.search(contact_digits="13800138000")
            hk = await tx.cases.search(contact_digits="91234567")
            with pytest.raises(StorageError):
                await tx.cases.search(contact_digits="%")
        assert [r["number"] for r in mine] == ["TS20261117001"]
        assert [r["number"] for r in by_phone] == ["TS20261117001"]
        assert [r["number"] for r in hk] == ["TS20261117002"]

    async def test_foreign_keys_are_enforced(self, store: Store) -> None:
        with pytest.raises(Exception, match=r"(?i)foreign key"):
            await store.write(lambda tx: tx.cases.insert(case_values(999_999, "TS20261117001")))


class TestEvents:
    async def test_events_append_in_order_with_json_changes(self, store: Store) -> None:
        row = await new_case(store)

        async def work(tx: Tx) -> None:
            for action in ("open", "claim", "correct"):
                await tx.events.append(
                    case_id=row["id"],
                    at=NOW,
                    actor="slack:U1",
                    action=action,
                    from_status="new",
                    to_status="claimed",
                    changes={"priority": ("C", "B"), "note": ["<!channel>", None]},
                    note="客户要求加急 ✅",
                )

        await store.write(work)
        async with store.read() as tx:
            events = await tx.events.for_case(row["id"])
            assert await tx.events.for_case(999_999) == []
        assert [e["action"] for e in events] == ["open", "claim", "correct"]
        assert events[0]["changes"] == {"priority": ["C", "B"], "note": ["<!channel>", None]}
        assert events[0]["note"] == "客户要求加急 ✅"


class TestAttachments:
    async def test_added_in_order_per_case(self, store: Store) -> None:
        row = await new_case(store)
        items = [
            {"file_id": "AgAD-1", "kind": "photo", "size": 2048},
            {
                "file_id": "BQAD-2",
                "kind": "document",
                "mime": "application/pdf",
                "name": "收据.pdf",
            },
        ]

        async def work(tx: Tx) -> None:
            await tx.attachments.add(row["id"], "telegram", items, NOW)
            await tx.attachments.add(row["id"], "telegram", [], NOW)  # nothing: no statement

        await store.write(work)
        async with store.read() as tx:
            files = await tx.attachments.for_case(row["id"])
        assert [(f["file_id"], f["kind"], f["name"]) for f in files] == [
            ("AgAD-1", "photo", None),
            ("BQAD-2", "document", "收据.pdf"),
        ]


class TestConversations:
    async def test_put_get_replace_delete(self, store: Store) -> None:
        async def work(tx: Tx) -> None:
            for state, parts in (("content", ["第一句"]), ("party", ["第一句", "第二句"])):
                await tx.conversations.put(
                    "telegram", "42", flow="intake", state=state, data={"parts": parts}, now=NOW
                )

        await store.write(work)
        async with store.read() as tx:
            got = await tx.conversations.get("telegram", "42")
            assert await tx.conversations.get("telegram", "43") is None
        assert got is not None
        assert (got["state"], got["data"]) == ("party", {"parts": ["第一句", "第二句"]})
        locked = await store.write(
            lambda tx: tx.conversations.get("telegram", "42", for_update=True)
        )
        assert locked == got
        await store.write(lambda tx: tx.conversations.delete("telegram", "42"))
        async with store.read() as tx:
            assert await tx.conversations.get("telegram", "42") is None


class TestOutbox:
    async def test_enqueue_deduplicates(self, store: Store) -> None:
        async def work(tx: Tx) -> list[int | None]:
            return [
                await tx.outbox.enqueue(
                    channel="telegram", recipient="42", payload={"text": "您好"}, now=NOW,
                    dedupe_key="k1",
                ),
                await tx.outbox.enqueue(
                    channel="telegram", recipient="42", payload={"text": "您好"}, now=NOW,
                    dedupe_key="k1",
                ),
                await tx.outbox.enqueue(
                    channel="slack", recipient="C1", payload={"text": "card"}, now=NOW
                ),
                await tx.outbox.enqueue(
                    channel="slack", recipient="C1", payload={"text": "card"}, now=NOW
                ),
            ]  # fmt: skip

        first, dup, second, third = await store.write(work)
        assert dup is None
        async with store.read() as tx:
            queued = await pending(tx)
        assert [m["id"] for m in queued] == [first, second, third]
        assert queued[0]["payload"] == {"text": "您好"}

    async def test_supersede_drops_only_matching_pending_rows(self, store: Store) -> None:
        async def work(tx: Tx) -> tuple[list[int], int]:
            keys = ["slack:case:1:v2:card", "slack:case:1:v3:card", "slack:case:12:v4:card"]
            ids = [await enqueue(tx, "C1", k, channel="slack") for k in keys]
            sent = await enqueue(tx, "C1", "slack:case:1:v1:card", channel="slack")
            await tx.outbox.mark_sent(sent, NOW, "C1:1.2")
            other = await enqueue(tx, "C2", "slack:case:1:v5:card", channel="slack")
            return [*ids, other], await tx.outbox.supersede("slack", "C1", "slack:case:1:v%:card")

        ids, dropped = await store.write(work)
        assert dropped == 2
        async with store.read() as tx:
            left = await pending(tx)
        assert [m["id"] for m in left] == [ids[2], ids[3]]


class TestMessageRefs:
    async def test_put_replaces_and_finds_both_ways(self, store: Store) -> None:
        async def work(tx: Tx) -> None:
            await tx.refs.put("slack", "card:7", "C1:100.1", NOW)
            await tx.refs.put("slack", "card:7", "C1:200.2", NOW)  # posted afresh
            await tx.refs.put("slack", "sent:7:3", "C1:300.3", NOW)
            await tx.refs.put("slack", "cardX7", "C1:400.4", NOW)
            await tx.refs.put("telegram", "card:7", "C1:200.2", NOW)

        await store.write(work)
        async with store.read() as tx:
            assert await tx.refs.many("slack", ["card:7", "card:8"]) == {"card:7": "C1:200.2"}
            assert await tx.refs.many("slack", []) == {}
            assert await tx.refs.ref_of("slack", "C1:200.2", "card:") == "card:7"
            assert await tx.refs.ref_of("slack", "C1:100.1", "card:") is None
            assert await tx.refs.ref_of("slack", "C1:300.3", "card:") is None  # not a card
            # LIKE's wildcards in a prefix are ordinary characters.
            assert await tx.refs.ref_of("slack", "C1:400.4", "card_") is None
            assert await tx.refs.ref_of("slack", "C1:400.4", "card%") is None
            assert await tx.refs.ref_of("slack", "C1:400.4", "cardX") == "cardX7"


class TestInboundUpdates:
    async def test_first_time_only_once(self, store: Store) -> None:
        async def work(tx: Tx) -> list[bool]:
            return [
                await tx.inbound.first_time("telegram", "1001", NOW),
                await tx.inbound.first_time("telegram", "1001", NOW),
                await tx.inbound.first_time("slack", "1001", NOW),
            ]

        assert await store.write(work) == [True, False, True]

    async def test_concurrent_redeliveries_are_seen_once(self, store: Store) -> None:
        results = await asyncio.gather(
            *(
                store.write(lambda tx: tx.inbound.first_time("slack", "Ev123", NOW))
                for _ in range(20)
            )
        )
        assert results.count(True) == 1


class TestTransactions:
    async def test_a_read_transaction_cannot_write(self, store: Store) -> None:
        async with store.read() as tx:
            with pytest.raises(StorageError, match="read"):
                await tx.outbox.mark_sent(1, NOW)

    async def test_a_write_inside_a_unit_of_work_is_refused_not_deadlocked(
        self, store: Store
    ) -> None:
        async def outer(tx: Tx) -> None:
            await store.write(lambda inner: inner.inbound.first_time("x", "1", NOW))

        with pytest.raises(StorageError, match="inside a unit of work"):
            await asyncio.wait_for(store.write(outer), 10)

    async def test_a_savepoint_undoes_only_its_own_writes(self, store: Store) -> None:
        async def work(tx: Tx) -> None:
            await tx.inbound.first_time("x", "kept", NOW)
            with pytest.raises(RuntimeError):
                async with tx.savepoint():
                    await tx.inbound.first_time("x", "undone", NOW)
                    raise RuntimeError("a listener failed")
            async with tx.savepoint():
                await tx.inbound.first_time("x", "kept too", NOW)

        await store.write(work)

        async def seen(tx: Tx) -> list[bool]:
            return [
                not await tx.inbound.first_time("x", k, NOW) for k in ("kept", "undone", "kept too")
            ]

        assert await store.write(seen) == [True, False, True]

    async def test_a_failed_unit_changes_nothing_and_the_next_one_runs(self, store: Store) -> None:
        async def failing(tx: Tx) -> None:
            await tx.customers.ensure("telegram", "gone", NOW)
            raise ValueError("flow bug")

        with pytest.raises(ValueError, match="flow bug"):
            await store.write(failing)
        assert await store.write(lambda tx: tx.customers.ensure("telegram", "kept", NOW)) > 0
        async with store.read() as tx:
            assert await tx.customers.find("telegram", "gone") is None
            assert await tx.customers.find("telegram", "kept") is not None
