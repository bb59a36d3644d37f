"""Use cases end to end on a real store (every backend): the case lifecycle as a desk lives it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.clock import FrozenClock
from bot.domain.cases import DomainError, IllegalTransition, Priority, Severity, Status
from bot.services import CaseNotFound, CaseService, NewComplaint
from storage.db import Store
from storage.repositories import Events
from tests.conftest import SHANGHAI
from tests.queries import case_count, pending


def complaint(user: str = "42", **overrides: Any) -> NewComplaint:
    values: dict[str, Any] = {
        "channel": "telegram",
        "channel_user_id": user,
        "content": "昨天在贵公司加油站加的油有问题,车子打不着火了!",
        "subject": "油品质量",
        "category": "product",
    }
    return NewComplaint(**(values | overrides))


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


async def test_opening_gives_number_deadlines_and_an_opening_event(
    service: CaseService, clock: FrozenClock
) -> None:
    case = await service.open_case(complaint(priority=Priority.B))
    assert case.number == "TS20261117001"
    assert case.status is Status.NEW
    assert case.content == "昨天在贵公司加油站加的油有问题,车子打不着火了!"
    assert case.received_at == clock.now()
    # Tuesday 14:30 + 4 working hours = Wednesday 09:30.
    assert case.first_response_due == local(2026, 11, 18, 9, 30)
    assert case.resolution_due == local(2026, 11, 18, 14, 30)
    (event,) = await service.history(case.number)
    assert (event.action, event.from_status, event.to_status) == ("open", None, "new")
    assert event.actor == "customer:telegram:42"
    assert event.changes["priority"] == [None, "B"]


async def test_the_daily_sequence_restarts_in_the_desks_time_zone(
    service: CaseService, clock: FrozenClock
) -> None:
    clock.set(local(2026, 11, 17, 23, 59))
    first = await service.open_case(complaint())
    clock.set(local(2026, 11, 18, 0, 1))  # 16:01 UTC on the 17th: already the 18th in Beijing
    second = await service.open_case(complaint())
    third = await service.open_case(complaint())
    assert [first.number, second.number, third.number] == [
        "TS20261117001",
        "TS20261118001",
        "TS20261118002",
    ]


async def test_empty_complaint_is_refused(service: CaseService) -> None:
    with pytest.raises(DomainError, match="content is empty"):
        await service.open_case(complaint(content=" \n "))


async def test_whole_life_of_a_case(service: CaseService, clock: FrozenClock) -> None:
    case = await service.open_case(complaint())
    n = case.number
    assert (await service.claim(n, "slack:U1")).assignee == "slack:U1"
    clock.advance(timedelta(minutes=20))
    started = await service.start(n, "slack:U1", "已电话联系客户")
    assert started.status is Status.IN_PROGRESS
    assert started.first_responded_at == clock.now()
    resolved = await service.resolve(n, "slack:U1", "已为客户免费检修并赔偿油费")
    assert resolved.status is Status.RESOLVED
    closed = await service.close(n, "customer:telegram:42", "客户确认")
    assert closed.status is Status.CLOSED
    assert closed.closed_at == clock.now()
    actions = [(e.action, e.from_status, e.to_status) for e in await service.history(n)]
    assert actions == [
        ("open", None, "new"),
        ("claim", "new", "claimed"),
        ("start", "claimed", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("close", "resolved", "closed"),
    ]


async def test_illegal_actions_raise_and_leave_no_trace(service: CaseService) -> None:
    case = await service.open_case(complaint())
    with pytest.raises(IllegalTransition, match="cannot resolve when case TS20261117001 is new"):
        await service.resolve(case.number, "slack:U1", "done")
    await service.claim(case.number, "slack:U1")
    with pytest.raises(IllegalTransition, match="claimed"):
        await service.claim(case.number, "slack:U2")
    assert (await service.get(case.number)).assignee == "slack:U1"
    assert len(await service.history(case.number)) == 2


async def test_two_staff_claiming_at_the_same_instant_one_wins(service: CaseService) -> None:
    case = await service.open_case(complaint())
    results = await asyncio.gather(
        *(service.claim(case.number, f"slack:U{i}") for i in range(5)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, IllegalTransition)]
    assert len(winners) == 1
    assert len(losers) == 4
    assert (await service.get(case.number)).assignee == winners[0].assignee


async def test_correction_keeps_old_value_and_reason_and_recomputes_deadlines(
    service: CaseService,
) -> None:
    case = await service.open_case(complaint())
    assert case.priority is Priority.C
    fixed = await service.correct(case.number, "slack:U1", "priority", "A", "涉及安全隐患")
    assert fixed.priority is Priority.A
    assert fixed.first_response_due == case.received_at + timedelta(hours=1)
    last = (await service.history(case.number))[-1]
    assert last.action == "correct"
    assert last.changes["priority"] == ["C", "A"]
    assert last.note == "涉及安全隐患"
    assert "first_response_due" in last.changes


@pytest.mark.parametrize(
    ("field", "value", "reason", "message"),
    [
        ("content", "改写的内容", "typo", "cannot be corrected"),
        ("received_at", "2026-01-01", "typo", "cannot be corrected"),
        ("priority", "Z", "typo", "not a valid priority"),
        ("severity", "urgent", "typo", "not a valid severity"),
        ("category", "", "typo", "cannot be empty"),
        ("party", "第三加油站", " ", "reason"),
    ],
)
async def test_bad_corrections_are_refused(
    service: CaseService, field: str, value: str, reason: str, message: str
) -> None:
    case = await service.open_case(complaint())
    with pytest.raises(DomainError, match=message):
        await service.correct(case.number, "slack:U1", field, value, reason)


async def test_severity_correction(service: CaseService) -> None:
    case = await service.open_case(complaint())
    fixed = await service.correct(case.number, "slack:U1", "severity", "hot", "三名客户同样投诉")
    assert fixed.severity is Severity.HOT


async def test_reopen_restarts_handling_one_level_up(
    service: CaseService, clock: FrozenClock
) -> None:
    case = await service.open_case(complaint(priority=Priority.B))
    await service.claim(case.number, "slack:U1")
    await service.resolve(case.number, "slack:U1", "已退款")
    await service.close(case.number, "customer:telegram:42")
    clock.advance(timedelta(days=2))
    again = await service.reopen(case.number, "survey", "回访:问题未解决")
    assert again.status is Status.REOPENED
    assert again.reopen_count == 1
    assert again.escalation_level == 1
    assert again.assignee is None
    assert again.closed_at is None
    assert again.first_response_due > case.first_response_due
    assert (await service.claim(case.number, "slack:U9")).status is Status.CLAIMED


async def test_invalid_complaint_is_closed_with_its_explanation(service: CaseService) -> None:
    case = await service.open_case(complaint())
    with pytest.raises(DomainError, match="explanation"):
        await service.mark_invalid(case.number, "slack:U1", "")
    done = await service.mark_invalid(
        case.number, "slack:U1", "该优惠活动已于上月结束,已向客户说明"
    )
    assert done.status is Status.INVALID
    assert not done.status.is_open
    with pytest.raises(IllegalTransition):
        await service.reopen(case.number, "slack:U1", "x")


async def test_escalation_climbs_the_chain_and_stops_at_the_top(service: CaseService) -> None:
    case = await service.open_case(complaint())
    for level in (1, 2, 3):
        assert (
            await service.escalate(case.number, "scheduler", "超时未处理")
        ).escalation_level == level
    with pytest.raises(DomainError, match="top of the escalation chain"):
        await service.escalate(case.number, "scheduler", "超时未处理")


async def test_pausing_the_clock_moves_the_deadlines(
    service: CaseService, clock: FrozenClock
) -> None:
    case = await service.open_case(complaint(priority=Priority.B))  # Tue 14:30
    await service.claim(case.number, "slack:U1")
    await service.start(case.number, "slack:U1")
    paused = await service.pause_clock(case.number, "slack:U1", "等待客户提供加油小票照片")
    assert paused.clock_paused_at == clock.now()
    with pytest.raises(DomainError, match="already paused"):
        await service.pause_clock(case.number, "slack:U1", "again")
    clock.advance(timedelta(hours=3))
    resumed = await service.resume_clock(case.number, "customer:telegram:42")
    assert resumed.clock_paused_at is None
    # Resolution is on the calendar clock (24 h): three hours later.
    assert resumed.resolution_due == case.resolution_due + timedelta(hours=3)
    assert resumed.first_response_due == case.first_response_due  # already met, untouched
    with pytest.raises(DomainError, match="not paused"):
        await service.resume_clock(case.number, "slack:U1")


async def test_release_assign_and_notes(service: CaseService) -> None:
    case = await service.open_case(complaint())
    await service.claim(case.number, "slack:U1")
    released = await service.release(case.number, "slack:U1")
    assert (released.status, released.assignee) == (Status.NEW, None)
    assigned = await service.assign(case.number, "slack:SUP", "slack:U2", "熟悉该站点")
    assert (assigned.status, assigned.assignee) == (Status.CLAIMED, "slack:U2")
    noted = await service.add_note(case.number, "slack:U2", "已联系站长核实")
    assert noted.version == assigned.version + 1
    assert (await service.history(case.number))[-1].note == "已联系站长核实"
    with pytest.raises(DomainError, match="somebody"):
        await service.assign(case.number, "slack:SUP", "  ")
    with pytest.raises(DomainError, match="person who made it"):
        await service.add_note(case.number, "", "x")


async def test_unknown_and_malformed_numbers(service: CaseService) -> None:
    with pytest.raises(CaseNotFound, match="no case TS20261117999"):
        await service.get("ts20261117999")
    with pytest.raises(DomainError, match="not a case number"):
        await service.get("hello")


async def test_list_cases_by_status(service: CaseService) -> None:
    a = await service.open_case(complaint())
    b = await service.open_case(complaint(user="43"))
    await service.claim(b.number, "slack:U1")
    assert [c.number for c in await service.list_cases(statuses=[Status.NEW])] == [a.number]
    assert len(await service.list_cases()) == 2


# -- concurrency and atomicity ----------------------------------------------------------------


async def test_a_thousand_concurrent_openings_get_a_gapless_sequence(
    service: CaseService,
) -> None:
    cases = await asyncio.gather(*(service.open_case(complaint(user=str(i))) for i in range(1000)))
    numbers = {c.number for c in cases}
    assert len(numbers) == 1000
    assert numbers == {f"TS20261117{i:03d}" for i in range(1, 1001)}


async def test_a_failed_opening_leaves_no_half_case_and_no_gap(
    service: CaseService, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Events.append

    async def broken(self: Events, **kwargs: Any) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(Events, "append", broken)
    with pytest.raises(OSError, match="disk full"):
        await service.open_case(complaint())
    monkeypatch.setattr(Events, "append", original)
    async with store.read() as tx:
        assert await case_count(tx) == 0
    # The number the failed opening had drawn was never used, so it is handed out now.
    assert (await service.open_case(complaint())).number == "TS20261117001"


async def test_a_failing_listener_never_costs_the_change(
    service: CaseService, store: Store
) -> None:
    """The staff card may fail to be queued; the customer's complaint is still recorded, and
    whatever the broken listener wrote before failing is undone (savepoint)."""
    calls: list[str] = []

    async def broken(tx: Any, change: Any) -> None:
        await tx.outbox.enqueue(channel="slack", recipient="C1", payload={}, now=change.at)
        calls.append(change.action.value)
        raise RuntimeError("cannot draw the card")

    async def fine(tx: Any, change: Any) -> None:
        await tx.outbox.enqueue(channel="slack", recipient="C2", payload={}, now=change.at)

    service.listeners.extend([broken, fine])
    case = await service.open_case(complaint())
    await service.claim(case.number, "slack:U1")
    assert calls == ["open", "claim"]
    assert (await service.get(case.number)).assignee == "slack:U1"
    async with store.read() as tx:
        rows = await pending(tx)
    assert [r["recipient"] for r in rows] == ["C2", "C2"]
