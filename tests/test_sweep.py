"""The clock's sweep (issue 14 item 1): next_due kept true by every change, each step once on
any number of instances, after downtime only the latest point of each deadline."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import FrozenClock
from bot.domain.cases import Priority
from bot.domain.sla import Sla
from bot.services import CaseService, NewComplaint
from storage.db import Store
from tests.conftest import SHANGHAI, Backend

AGENT = "slack:UAGENT001"


async def open_a(service: CaseService, user: str = "42") -> str:
    """Priority A: 1 h / 4 h on the calendar clock, so points fall at any hour."""
    complaint = NewComplaint("telegram", user, "加油站员工态度恶劣", priority=Priority.A)
    return (await service.open_case(complaint)).number


async def done(
    service: CaseService, number: str, version: int | None = None
) -> dict[str, str | None]:
    case = await service.get(number)
    async with service.store.read() as tx:
        return await tx.steps.done(case.id, version or case.deadline_version)


async def test_every_change_keeps_next_due_and_the_deadline_version(
    service: CaseService, clock: FrozenClock
) -> None:
    opened_at = clock.now()
    number = await open_a(service)
    case = await service.get(number)
    assert (case.deadline_version, case.next_due) == (1, opened_at + timedelta(minutes=30))
    await service.claim(number, AGENT)  # no deadline moves: same version
    assert (await service.get(number)).deadline_version == 1
    await service.correct(number, AGENT, "priority", "C", "不紧急")
    case = await service.get(number)
    assert case.deadline_version == 2
    assert case.next_due is not None
    assert case.next_due > opened_at + timedelta(hours=1)
    await service.pause_clock(number, AGENT, "等收据照片")
    case = await service.get(number)
    assert (case.deadline_version, case.next_due) == (3, None)  # paused: nothing due
    clock.advance(timedelta(minutes=10))
    await service.resume_clock(number, AGENT)
    assert (await service.get(number)).deadline_version == 4
    clock.advance(timedelta(minutes=1))
    await service.reply(number, AGENT, "您好,我们正在处理")  # the customer heard: a new silence
    assert (await service.get(number)).deadline_version == 5
    await service.add_note(number, AGENT, "已联系站长")  # no news for the customer: same version
    assert (await service.get(number)).deadline_version == 5
    await service.resolve(number, AGENT, "已道歉并补偿")
    case = await service.get(number)
    assert case.deadline_version == 6
    assert case.next_due == service.closure.confirm_due(case)
    await service.closure.not_solved(number, "customer:telegram:42", 0)
    case = await service.get(number)
    assert case.deadline_version == 7
    assert case.next_due is not None
    assert case.next_due > clock.now()


async def test_each_point_is_recorded_once_when_due(
    service: CaseService, clock: FrozenClock
) -> None:
    number = await open_a(service)
    assert await service.sweep.once(clock.now()) == []
    clock.advance(timedelta(minutes=30))
    acted = await service.sweep.once(clock.now())
    assert [(a.step, a.mark, a.outcome) for a in acted] == [("first_response@50", None, "recorded")]
    assert await service.sweep.once(clock.now()) == []  # re-runnable
    assert (await service.get(number)).next_due == clock.now() + timedelta(minutes=18)


async def test_after_downtime_only_the_latest_point_acts_marked_late(
    service: CaseService, clock: FrozenClock
) -> None:
    number = await open_a(service)
    clock.advance(timedelta(hours=2, minutes=30))  # past the first response's breach
    acted = await service.sweep.once(clock.now())
    assert [(a.step, a.mark) for a in acted] == [
        ("first_response@100", "late"),
        ("resolution@50", "late"),
    ]
    # Version 1's record: the breach escalated the case, which starts version 2 (level_since).
    assert await done(service, number, version=1) == {
        "first_response@50": "skipped",
        "first_response@80": "skipped",
        "first_response@100": "late",
        "resolution@50": "late",
    }


async def test_a_resume_does_not_repeat_a_point_already_recorded(
    service: CaseService, clock: FrozenClock
) -> None:
    number = await open_a(service)
    clock.advance(timedelta(minutes=35))
    assert [a.step for a in await service.sweep.once(clock.now())] == ["first_response@50"]
    await service.pause_clock(number, AGENT, "等收据照片")
    clock.advance(timedelta(minutes=5))
    await service.resume_clock(number, AGENT)  # 50% point moved 5 min, still passed
    assert await service.sweep.once(clock.now()) == []
    assert await done(service, number) == {"first_response@50": "carried"}


async def test_two_instances_sweeping_at_once_record_each_step_once(
    backend: Backend, store: Store, sla: Sla, clock: FrozenClock
) -> None:
    one = CaseService(store, sla, clock, SHANGHAI, prefix="TS")
    other_store = backend.connect()
    try:
        other = CaseService(other_store, sla, clock, SHANGHAI, prefix="TS")
        numbers = [await open_a(one, str(100 + i)) for i in range(6)]
        clock.advance(timedelta(minutes=31))
        a, b = await asyncio.gather(one.sweep.once(clock.now()), other.sweep.once(clock.now()))
        assert sorted(x.number for x in a + b) == sorted(numbers)
        assert all(x.step == "first_response@50" for x in a + b)
    finally:
        await other_store.close()
