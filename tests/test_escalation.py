"""Escalation on breach (issue 14 item 4): a breached deadline moves the case one level up
once, on any number of sweepers and across interrupted sweeps; the customer hears the level's
title and by when, never the reason; the level's review time and its ``escalate_after`` are
deadlines; the top level is
re-notified at most once per working day; the third unanswered follow-up escalates once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.desk import Desk
from bot.domain.cases import Priority
from bot.domain.sla import Sla
from bot.nlp.classifier import Classifier
from bot.services import CaseService, NewComplaint
from bot.services import notify as notify_module
from storage.db import Store
from tests.conftest import SHANGHAI, Backend
from tests.queries import queued

AGENT = "slack:UAGENT001"
CUSTOMER = "customer:telegram:42"


async def open_a(service: CaseService, user: str = "42") -> str:
    """Priority A: first response 1 h, resolution 4 h, on the calendar clock."""
    complaint = NewComplaint("telegram", user, "加油站员工态度恶劣", priority=Priority.A)
    return (await service.open_case(complaint)).number


async def escalations(service: CaseService, number: str) -> list[tuple[str, str | None]]:
    return [(e.actor, e.note) for e in await service.history(number) if e.action == "escalate"]


async def to_customer(store: Store) -> list[str]:
    return [m.text for channel, _, m in await queued(store) if channel == "telegram"]


async def test_a_breach_escalates_once_on_two_sweepers_and_tells_the_customer(
    backend: Backend, store: Store, sla: Sla, clock: FrozenClock
) -> None:
    one = CaseService(store, sla, clock, SHANGHAI, prefix="TS")
    other_store = backend.connect()
    try:
        other = CaseService(other_store, sla, clock, SHANGHAI, prefix="TS")
        number = await open_a(one)
        clock.advance(timedelta(hours=1))  # the first response's breach, 15:30
        a, b = await asyncio.gather(one.sweep.once(clock.now()), other.sweep.once(clock.now()))
        assert [(x.step, x.outcome) for x in a + b] == [("first_response@100", "escalated")]
    finally:
        await other_store.close()
    case = await one.get(number)
    assert (case.escalation_level, case.level_since) == (1, clock.now())
    reason = "超时自动升级:首次响应超时 escalated on breach: no first response"
    assert await escalations(one, number) == [("system", reason)]
    told = (await to_customer(store))[-1]
    # The level's customer-facing title and the resolution deadline (still ahead); no reason.
    assert (
        told
        == f"您的投诉 {number} 已升级,由客服主管负责处理,我们会在 2026-11-17 18:30 前给您答复。"
    )
    assert await one.sweep.once(clock.now()) == []


async def test_the_levels_review_time_is_a_deadline_unless_the_level_acts(
    service: CaseService, clock: FrozenClock
) -> None:
    number = await open_a(service)
    reviewed = await open_a(service, "43")
    clock.advance(timedelta(hours=1))
    await service.sweep.once(clock.now())  # both at 主管, review within 1 h
    await service.add_note(reviewed, "slack:USUPER01", "已安排站长处理")  # the review
    clock.advance(timedelta(hours=1))
    acted = await service.sweep.once(clock.now())
    moved = [(a.number, a.step, a.outcome) for a in acted if a.outcome != "recorded"]
    assert moved == [(number, "review@100", "escalated")]
    assert (await service.get(number)).escalation_level == 2  # 部门经理
    assert (await service.get(reviewed)).escalation_level == 1
    assert (await escalations(service, number))[-1][1] == (
        "超时自动升级:本级未按时复核 escalated on breach: not reviewed in time"
    )


async def test_a_case_unresolved_at_a_level_moves_up_after_its_escalate_after(
    service: CaseService, clock: FrozenClock
) -> None:
    """DOMAIN.md §4: the supervisor reviews within 1 h; if still unresolved, the manager
    within 4 h; the manager forms a task group within 24 h. A reviewed case is not exempt.
    Priority C (resolution in 3 working days), so no SLA breach interferes."""
    numbers = []
    for user in ("42", "43"):
        complaint = NewComplaint("telegram", user, "快递三天没更新物流", priority=Priority.C)
        numbers.append((await service.open_case(complaint)).number)  # Tuesday 14:30
    number, resolved = numbers
    for each in numbers:
        await service.escalate(each, AGENT, "客户要求主管处理")  # at 主管 from 14:30
    clock.advance(timedelta(minutes=30))
    await service.reply(number, "slack:USUPER01", "已安排站长核实")  # reviewed in time
    await service.reply(resolved, "slack:USUPER01", "已核实")
    await service.resolve(resolved, "slack:USUPER01", "已补发快递")
    clock.advance(timedelta(hours=3, minutes=30))  # 18:30: 4 h at 主管
    acted = [(a.number, a.step, a.outcome) for a in await service.sweep.once(clock.now())]
    assert acted == [(number, "level@100", "escalated")]  # the resolved one waits for its customer
    assert (await service.get(number)).escalation_level == 2  # 部门经理
    assert (await escalations(service, number))[-1][1] == (
        "超时自动升级:本级未能按时解决 escalated: unresolved at this level in time"
    )
    clock.advance(timedelta(hours=23, minutes=59))
    assert [a.step for a in await service.sweep.once(clock.now())] == []
    clock.advance(timedelta(minutes=1))  # 24 h at 部门经理: the task group
    acted = [(a.number, a.step, a.outcome) for a in await service.sweep.once(clock.now())]
    assert acted == [(number, "level@100", "escalated")]
    assert (await service.get(number)).escalation_level == 3
    clock.advance(timedelta(hours=12))  # the top has no escalate_after: nothing more moves it
    assert await service.sweep.once(clock.now()) == []


async def test_time_waiting_for_the_customer_does_not_count_at_a_level(
    service: CaseService, clock: FrozenClock
) -> None:
    """A pause (等待客户) moves the level's times on by its length, like the SLA's."""
    complaint = NewComplaint("telegram", "42", "快递三天没更新物流", priority=Priority.C)
    number = (await service.open_case(complaint)).number  # Tuesday 14:30
    await service.escalate(number, AGENT, "客户要求主管处理")  # 主管: escalate after 4 h
    await service.reply(number, "slack:USUPER01", "请提供运单截图")  # reviewed
    clock.advance(timedelta(hours=1))
    await service.pause_clock(number, "slack:USUPER01", "等客户提供运单截图")
    clock.advance(timedelta(hours=5))  # 20:30: the customer sends it
    await service.resume_clock(number, "slack:USUPER01")
    assert await service.sweep.once(clock.now()) == []  # 1 h of 4 used, not 6
    clock.advance(timedelta(hours=3))  # 23:30: 4 h at 主管, pause excluded
    acted = [(a.step, a.outcome) for a in await service.sweep.once(clock.now())]
    assert acted == [("level@100", "escalated")]


async def test_at_the_top_a_breach_re_notifies_once_per_working_day(
    service: CaseService, store: Store, clock: FrozenClock, classifier: Classifier
) -> None:
    desk = Desk(service, classifier, channel="slack", staff_channel="CSTAFF")
    desk.projection.people = lambda role: {"taskforce": ("UTASK01", "STASK")}.get(role, ())
    service.listeners.append(desk.projection.on_change)
    number = await open_a(service)  # Tuesday 14:30
    for _ in range(3):
        await service.escalate(number, AGENT, "金额较大")  # to 专项小组, the top
    clock.advance(timedelta(hours=1))
    acted = await service.sweep.once(clock.now())
    assert [(a.step, a.outcome) for a in acted] == [("first_response@100", "re-notified")]
    assert (await service.get(number)).escalation_level == 3  # never past the top
    for _ in range(3):  # the third follow-up the same day: no second notice
        await service.add_customer_message(number, CUSTOMER, "怎么还没人理我")
    clock.advance(timedelta(hours=3))
    assert [(a.step, a.outcome) for a in await service.sweep.once(clock.now())] == [
        ("resolution@100", "notified today")
    ]
    clock.advance(timedelta(days=1))  # Wednesday: a new working day
    await service.reply(number, "slack:UTASK01", "专项小组正在核实")
    for _ in range(3):
        await service.add_customer_message(number, CUSTOMER, "还是没人理")
    notes = [e.note for e in await service.history(number) if e.actor == "system"]
    assert len(notes) == 2
    assert all(n is not None and "已在最高级别" in n for n in notes)
    lines = [m.card for c, _, m in await queued(store) if c == "slack" and m.card]
    pings = [c for c in lines if c.get("kind") == "line" and c.get("actor") == "system"]
    assert [c["ping"] for c in pings] == [["UTASK01", "STASK"]] * 2


async def test_the_escalation_line_pings_the_levels_people(
    service: CaseService, store: Store, clock: FrozenClock, classifier: Classifier
) -> None:
    desk = Desk(service, classifier, channel="slack", staff_channel="CSTAFF")
    desk.projection.people = lambda role: {"supervisor": ("USUPER01",)}.get(role, ())
    service.listeners.append(desk.projection.on_change)
    await open_a(service)
    clock.advance(timedelta(hours=1))
    await service.sweep.once(clock.now())
    lines = [m.card for c, _, m in await queued(store) if c == "slack" and m.card]
    escalated = [c for c in lines if c.get("kind") == "line" and "升级" in c["what"]]
    assert [(c["role"], c["ping"]) for c in escalated] == [("supervisor", ["USUPER01"])]


async def test_the_third_unanswered_follow_up_escalates_once(
    service: CaseService, clock: FrozenClock
) -> None:
    number = await open_a(service)
    await service.add_customer_message(number, CUSTOMER, "有人吗")
    await service.reply(number, AGENT, "您好,正在处理")  # the count starts again
    for _ in range(4):
        await service.add_customer_message(number, CUSTOMER, "怎么还没处理")
    assert await escalations(service, number) == [
        ("system", "客户第三次催促未获答复 the customer's third follow-up has had no staff reply")
    ]
    assert (await service.get(number)).escalation_level == 1


async def test_a_sweep_interrupted_twice_escalates_once_on_the_next(
    store: Store, sla: Sla, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two restarts mid-escalation (the process dies while the customer's notice is queued):
    each transaction is lost whole, so the third instance escalates once, notice and all."""
    number = await open_a(CaseService(store, sla, clock, SHANGHAI, prefix="TS"))
    clock.advance(timedelta(hours=1))
    real = notify_module.enqueue

    async def dies(*args: object, **kwargs: object) -> None:
        raise ConnectionResetError("the process went away")

    for _ in range(2):
        monkeypatch.setattr(notify_module, "enqueue", dies)
        restarted = CaseService(store, sla, clock, SHANGHAI, prefix="TS")
        assert await restarted.sweep.once(clock.now()) == []
        monkeypatch.setattr(notify_module, "enqueue", real)
        assert await escalations(restarted, number) == []
    last = CaseService(store, sla, clock, SHANGHAI, prefix="TS")
    acted = await last.sweep.once(clock.now())
    assert [(a.step, a.outcome) for a in acted] == [("first_response@100", "escalated")]
    assert len(await escalations(last, number)) == 1
    assert sum("已升级" in t for t in await to_customer(store)) == 1
    assert await last.sweep.once(clock.now()) == []


async def test_a_review_done_before_a_pause_stays_done_after_it(
    service: CaseService, clock: FrozenClock
) -> None:
    """The supervisor reviewed the case (a note), then the desk waited for the customer:
    on resume the review deadline must not come back and escalate a reviewed case."""
    complaint = NewComplaint("telegram", "42", "快递三天没更新物流", priority=Priority.C)
    number = (await service.open_case(complaint)).number  # Tuesday 14:30
    await service.escalate(number, AGENT, "客户要求主管处理")  # 主管: review within 1 h
    clock.advance(timedelta(minutes=10))
    await service.add_note(number, "slack:USUPER01", "已安排站长处理")  # the review
    clock.advance(timedelta(minutes=10))
    await service.pause_clock(number, "slack:USUPER01", "等客户提供运单号")
    clock.advance(timedelta(hours=2))
    await service.resume_clock(number, "slack:USUPER01")
    clock.advance(timedelta(minutes=45))  # past the (moved) review time
    acted = [(a.step, a.outcome) for a in await service.sweep.once(clock.now())]
    assert ("review@100", "escalated") not in acted
    assert (await service.get(number)).escalation_level == 1
