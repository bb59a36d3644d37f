"""One storage contract, run against every backend (SQLite always, PostgreSQL when configured).

Each test talks to the repositories only, the way services do: inside ``store.write()`` or
``store.read()`` transactions.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from storage.db import Store
from storage.repositories import NotFound, StaleRow, StorageError

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
        "first_response_due": NOW + timedelta(days=1),
        "resolution_due": NOW + timedelta(days=3),
        "created_at": NOW,
        "updated_at": NOW,
    }
    return values | overrides


async def new_case(store: Store, number: str = "TS20261117001") -> dict[str, Any]:
    async with store.write() as tx:
        cid = await tx.customers.ensure("telegram", "42", NOW)
        return await tx.cases.insert(case_values(cid, number))


class TestCustomers:
    async def test_ensure_is_idempotent_per_channel_identity(self, store: Store) -> None:
        async with store.write() as tx:
            a = await tx.customers.ensure("telegram", "42", NOW, display_name="张三")
            b = await tx.customers.ensure("telegram", "42", NOW)
            c = await tx.customers.ensure("web", "42", NOW)
        assert a == b != c

    async def test_later_contact_refreshes_but_never_erases(self, store: Store) -> None:
        async with store.write() as tx:
            cid = await tx.customers.ensure(
                "telegram", "7", NOW, display_name="李四", language="zh-hans"
            )
            await tx.customers.ensure("telegram", "7", NOW + timedelta(hours=1), language="zh-hant")
        async with store.read() as tx:
            row = await tx.customers.get(cid)
        assert row["display_name"] == "李四"
        assert row["language"] == "zh-hant"
        assert row["created_at"] == NOW
        assert row["updated_at"] == NOW + timedelta(hours=1)

    async def test_writing_again_clears_blocked(self, store: Store) -> None:
        async with store.write() as tx:
            cid = await tx.customers.ensure("telegram", "9", NOW)
            await tx.customers.update(cid, NOW, blocked_at=NOW)
            row = await tx.customers.ensure_row("telegram", "9", NOW + timedelta(days=1))
        assert row["id"] == cid
        assert row["blocked_at"] is None

    async def test_update_and_find(self, store: Store) -> None:
        async with store.write() as tx:
            cid = await tx.customers.ensure("telegram", "8", NOW)
            await tx.customers.update(cid, NOW, phone="+8613800138000", blocked_at=NOW)
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
        async with store.write() as tx:
            seqs = [await tx.cases.next_sequence("TS", day) for _ in range(3)]
            other = await tx.cases.next_sequence("YS", day)
            next_day = await tx.cases.next_sequence("TS", tomorrow)
        assert seqs == [1, 2, 3]
        assert other == 1
        assert next_day == 1

    async def test_rolled_back_sequence_is_handed_out_again(self, store: Store) -> None:
        day = date(2026, 11, 17)
        with pytest.raises(RuntimeError):
            async with store.write() as tx:
                assert await tx.cases.next_sequence("TS", day) == 1
                raise RuntimeError("the case insert failed")
        async with store.write() as tx:
            assert await tx.cases.next_sequence("TS", day) == 1

    async def test_concurrent_transactions_never_share_a_number(self, store: Store) -> None:
        day = date(2026, 11, 17)

        async def take() -> int:
            async with store.write() as tx:
                return await tx.cases.next_sequence("TS", day)

        got = await asyncio.gather(*(take() for _ in range(100)))
        assert sorted(got) == list(range(1, 101))


class TestCases:
    async def test_insert_round_trips_every_value(self, store: Store) -> None:
        row = await new_case(store)
        async with store.read() as tx:
            again = await tx.cases.by_number("TS20261117001")
        assert again == row
        assert row["content"] == "加油站员工态度恶劣 😡 <b>&amp;"  # verbatim, markup and all
        assert row["received_at"] == NOW
        assert row["received_at"].tzinfo is UTC
        assert row["version"] == 1

    async def test_numbers_are_unique(self, store: Store) -> None:
        await new_case(store)
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            await new_case(store)

    async def test_update_checks_the_version(self, store: Store) -> None:
        row = await new_case(store)
        async with store.write() as tx:
            updated = await tx.cases.update(row["id"], 1, {"status": "claimed", "assignee": "U1"})
        assert updated["version"] == 2
        assert updated["assignee"] == "U1"
        with pytest.raises(StaleRow):
            async with store.write() as tx:
                await tx.cases.update(row["id"], 1, {"assignee": "U2"})
        async with store.read() as tx:
            assert (await tx.cases.get(row["id"]))["assignee"] == "U1"

    async def test_search_filters_and_orders_newest_first(self, store: Store) -> None:
        async with store.write() as tx:
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
        async with store.read() as tx:
            mine = await tx.cases.search(customer_id=cid)
            open_ = await tx.cases.search(statuses=["new", "claimed"], customer_id=cid)
            assert await tx.cases.count() == 4
            assert await tx.cases.search(limit=1, offset=10) == []
            with pytest.raises(NotFound):
                await tx.cases.get(123_456)
        assert [r["number"] for r in mine] == ["TS20261117003", "TS20261117002", "TS20261117001"]
        assert [r["status"] for r in open_] == ["claimed", "new"]

    async def test_search_by_assignee_and_contact_digits(self, store: Store) -> None:
        async with store.write() as tx:
            customer = await tx.customers.ensure("telegram", "42", NOW)
            await tx.cases.insert(
                case_values(
                    customer, "TS20261117001", assignee="slack:U1", contact="+8613800138000"
                )
            )
            await tx.cases.insert(case_values(customer, "TS20261117002", contact="+85291234567"))
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
            async with store.write() as tx:
                await tx.cases.insert(case_values(999_999, "TS20261117001"))


class TestEvents:
    async def test_events_append_in_order_with_json_changes(self, store: Store) -> None:
        row = await new_case(store)
        async with store.write() as tx:
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
        async with store.read() as tx:
            events = await tx.events.for_case(row["id"])
        assert [e["action"] for e in events] == ["open", "claim", "correct"]
        assert events[0]["changes"] == {"priority": ["C", "B"], "note": ["<!channel>", None]}
        assert events[0]["note"] == "客户要求加急 ✅"


class TestConversations:
    async def test_put_get_replace_delete(self, store: Store) -> None:
        async with store.write() as tx:
            await tx.conversations.put(
                "telegram",
                "42",
                flow="intake",
                state="content",
                data={"parts": ["第一句"]},
                now=NOW,
            )
            await tx.conversations.put(
                "telegram",
                "42",
                flow="intake",
                state="party",
                data={"parts": ["第一句", "第二句"]},
                now=NOW,
            )
        async with store.read() as tx:
            got = await tx.conversations.get("telegram", "42")
            assert await tx.conversations.get("telegram", "43") is None
        assert got is not None
        assert (got["state"], got["data"]) == ("party", {"parts": ["第一句", "第二句"]})
        async with store.write() as tx:
            await tx.conversations.delete("telegram", "42")
        async with store.read() as tx:
            assert await tx.conversations.get("telegram", "42") is None


class TestOutbox:
    async def test_enqueue_deduplicates_and_delivers_in_order(self, store: Store) -> None:
        async with store.write() as tx:
            first = await tx.outbox.enqueue(
                channel="telegram",
                recipient="42",
                payload={"text": "您好"},
                now=NOW,
                dedupe_key="k1",
            )
            dup = await tx.outbox.enqueue(
                channel="telegram",
                recipient="42",
                payload={"text": "您好"},
                now=NOW,
                dedupe_key="k1",
            )
            second = await tx.outbox.enqueue(
                channel="slack", recipient="C1", payload={"text": "card"}, now=NOW
            )
            third = await tx.outbox.enqueue(
                channel="slack", recipient="C1", payload={"text": "card"}, now=NOW
            )
        assert first is not None
        assert dup is None
        assert second is not None
        assert third is not None
        async with store.read() as tx:
            due = await tx.outbox.due(NOW)
        assert [m["id"] for m in due] == [first, second, third]

    async def test_retry_sent_and_failed(self, store: Store) -> None:
        async with store.write() as tx:
            a = await tx.outbox.enqueue(channel="telegram", recipient="1", payload={}, now=NOW)
            b = await tx.outbox.enqueue(channel="telegram", recipient="2", payload={}, now=NOW)
            c = await tx.outbox.enqueue(channel="telegram", recipient="3", payload={}, now=NOW)
            assert a is not None
            assert b is not None
            assert c is not None
            await tx.outbox.mark_retry(a, "429 retry_after=5", NOW + timedelta(seconds=5))
            await tx.outbox.mark_sent(b, NOW, "m-77")
            await tx.outbox.mark_failed(c, "403 blocked by the user")
        async with store.read() as tx:
            assert await tx.outbox.due(NOW) == []
            later = await tx.outbox.due(NOW + timedelta(seconds=5))
        assert [m["id"] for m in later] == [a]
        assert later[0]["attempts"] == 1
        assert later[0]["last_error"] == "429 retry_after=5"

    async def test_supersede_drops_only_matching_pending_rows(self, store: Store) -> None:
        async with store.write() as tx:
            keys = ["slack:case:1:v2:card", "slack:case:1:v3:card", "slack:case:12:v4:card"]
            ids = [
                await tx.outbox.enqueue(
                    channel="slack", recipient="C1", payload={}, now=NOW, dedupe_key=k
                )
                for k in keys
            ]
            sent = await tx.outbox.enqueue(
                channel="slack",
                recipient="C1",
                payload={},
                now=NOW,
                dedupe_key="slack:case:1:v1:card",
            )
            assert sent is not None
            await tx.outbox.mark_sent(sent, NOW, "C1:1.2")
            dropped = await tx.outbox.supersede("slack", "C1", "slack:case:1:v%:card")
        assert dropped == 2
        async with store.read() as tx:
            left = await tx.outbox.due(NOW)
        assert [m["id"] for m in left] == [ids[2]]


class TestMessageRefs:
    async def test_put_replaces_and_finds_both_ways(self, store: Store) -> None:
        async with store.write() as tx:
            await tx.refs.put("slack", "card:7", "C1:100.1", NOW)
            await tx.refs.put("slack", "card:7", "C1:200.2", NOW)  # posted afresh
            await tx.refs.put("slack", "sent:7:3", "C1:300.3", NOW)
            await tx.refs.put("telegram", "card:7", "C1:200.2", NOW)
        async with store.read() as tx:
            assert await tx.refs.many("slack", ["card:7", "card:8"]) == {"card:7": "C1:200.2"}
            assert await tx.refs.many("slack", []) == {}
            assert await tx.refs.ref_of("slack", "C1:200.2", "card:") == "card:7"
            assert await tx.refs.ref_of("slack", "C1:100.1", "card:") is None
            assert await tx.refs.ref_of("slack", "C1:300.3", "card:") is None  # not a card


class TestInboundUpdates:
    async def test_first_time_only_once(self, store: Store) -> None:
        async with store.write() as tx:
            assert await tx.inbound.first_time("telegram", "1001", NOW)
            assert not await tx.inbound.first_time("telegram", "1001", NOW)
            assert await tx.inbound.first_time("slack", "1001", NOW)

    async def test_concurrent_redeliveries_are_seen_once(self, store: Store) -> None:
        async def seen() -> bool:
            async with store.write() as tx:
                return await tx.inbound.first_time("slack", "Ev123", NOW)

        results = await asyncio.gather(*(seen() for _ in range(20)))
        assert results.count(True) == 1
