"""A supervisor checks a resolution before the customer is asked (issue 14 item 2, policy
``[closure] review_before_confirm``; DOMAIN.md §6: staff resolve, the monitor checks, the
customer confirms). The customer hears nothing of a resolution under review; a supervisor —
never the one who resolved it — approves it (then the customer receives it with 已解决 /
未解决 and their window starts) or sends it back with a note (the handler works on)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.desk import Desk, Staff
from bot.domain.cases import Priority, Status
from bot.domain.sla import Sla
from bot.domain.steps import CONFIRM_TIMEOUT, steps
from bot.messages import OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.services import CaseService, NewComplaint
from bot.services.closure import APPROVED
from storage.db import Store
from tests.conftest import SHANGHAI
from tests.queries import queued

AGENT = Staff("slack", "UAGENT001", is_staff=True)
SUPER = Staff("slack", "USUPER001", is_staff=True, is_supervisor=True)
OTHER_SUPER = Staff("slack", "USUPER002", is_staff=True, is_supervisor=True)


@pytest.fixture
def reviewing_sla(sla: Sla) -> Sla:
    closure = sla.policy.closure.model_copy(update={"review_before_confirm": True})
    return Sla(sla.policy.model_copy(update={"closure": closure}), sla.calendar)


@pytest.fixture
def desk(store: Store, reviewing_sla: Sla, clock: FrozenClock, classifier: Classifier) -> Desk:
    service = CaseService(store, reviewing_sla, clock, SHANGHAI, prefix="TS")
    desk = Desk(service, classifier, channel="slack", staff_channel="CDESK0001")
    service.listeners.append(desk.projection.on_change)
    desk.projection.people = lambda role: {"supervisor": ("USUPER001", "SSUPERS")}.get(role, ())
    return desk


async def customer_messages(store: Store) -> list[OutgoingMessage]:
    return [m for channel, _, m in await queued(store) if channel == "telegram"]


async def thread_lines(store: Store) -> list[dict[str, object]]:
    return [
        m.card for c, _, m in await queued(store)
        if c == "slack" and m.card and m.card.get("kind") == "line"
    ]  # fmt: skip


async def resolved_for_review(desk: Desk, handler: Staff = AGENT) -> str:
    service = desk.actions.cases
    number = (await service.open_case(NewComplaint("telegram", "42", "快递三天没派送"))).number
    assert (await desk.actions.claim(number, handler)).ok
    assert (await desk.actions.resolve(number, handler, "已重新派送,明天上午送达", "resolved")).ok
    return number


async def test_a_resolution_waits_for_the_supervisor_and_the_customer_hears_nothing(
    desk: Desk, store: Store, reviewing_sla: Sla
) -> None:
    before = len(await customer_messages(store))
    number = await resolved_for_review(desk)
    case = await desk.actions.cases.get(number)
    assert case.status is Status.REVIEWING
    assert case.confirm_asked_at is None
    assert len(await customer_messages(store)) == before  # no resolution, no buttons yet
    line = (await thread_lines(store))[-1]
    assert line["what"] == "已解决 resolved 已解决 · 待主管审核 awaiting a supervisor's review"
    assert line["ping"] == ["USUPER001", "SSUPERS"]
    # Not a work item any more: listed apart; and nothing is due on it meanwhile.
    assert [c.number for c in await desk.queries.open_cases()] == []
    assert [c.number for c in await desk.queries.awaiting_customer()] == [number]
    # Nothing of the work is due; the customer still waits, so the silence and the flags are.
    found = steps(case, reviewing_sla.policy, reviewing_sla.calendar)
    assert [s.key for s in found] == ["silence@100", "flag@hot", "flag@major"]
    # The customer writing meanwhile adds to the case as before (it is still being handled).
    await desk.actions.cases.add_customer_message(number, "customer:telegram:42", "什么时候到?")
    assert (await desk.actions.cases.get(number)).status is Status.REVIEWING


async def test_only_another_supervisor_may_approve_and_then_the_customer_is_asked(
    desk: Desk, store: Store, clock: FrozenClock
) -> None:
    number = await resolved_for_review(desk, handler=SUPER)  # a supervisor who resolved it
    refused = await desk.actions.approve(number, AGENT, None)
    assert (refused.ok, refused.message) == (
        False,
        "只有主管可以审核处理结果 (only supervisors approve or send back a resolution)",
    )
    own = await desk.actions.approve(number, SUPER, None)
    assert (own.ok, own.message) == (
        False,
        f"{number}: a resolution is checked by someone other than who resolved it",
    )
    clock.advance(timedelta(days=1))  # reviewed the next day: Wednesday 14:30
    assert (await desk.actions.approve(number, OTHER_SUPER, "核实无误")).ok
    case = await desk.actions.cases.get(number)
    assert (case.status, case.confirm_asked_at) == (Status.RESOLVED, clock.now())
    told = (await customer_messages(store))[-1]
    # The window runs from the question: three working days from Wednesday.
    assert told.text == (
        f"您的投诉 {number} 已处理。\n处理结果:已重新派送,明天上午送达\n"
        "问题是否得到解决?请点击下方按钮告诉我们;2026-11-23 14:30 前未答复的,视为已解决并结案。"
    )
    assert [(b.label, b.data) for row in told.buttons for b in row] == [
        ("已解决 ✅", f"c:ok:{number}:0"),
        ("未解决", f"c:no:{number}:0"),
    ]
    events = await desk.actions.cases.history(number)
    assert (events[-1].action, events[-1].actor, events[-1].note) == (
        "approve",
        "slack:USUPER002",
        f"{APPROVED}: 核实无误",
    )
    service = desk.actions.cases
    acted = await service.sweep.once(clock.now() + timedelta(days=2))  # Friday: not yet
    assert [a.step for a in acted if a.step == CONFIRM_TIMEOUT] == []
    acted = await service.sweep.once(clock.now() + timedelta(days=5))  # Monday 14:30
    assert [(a.step, a.outcome) for a in acted] == [(CONFIRM_TIMEOUT, "closed")]


async def test_a_resolution_sent_back_goes_back_to_its_handler_with_the_note(
    desk: Desk, store: Store
) -> None:
    number = await resolved_for_review(desk)
    before = len(await customer_messages(store))
    empty = await desk.actions.send_back(number, SUPER, "  ")
    assert not empty.ok
    assert "needs a note" in empty.message
    assert (await desk.actions.send_back(number, SUPER, "没有写明送达时间段,请与客户确认")).ok
    case = await desk.actions.cases.get(number)
    assert (case.status, case.resolved_at, case.resolution, case.assignee) == (
        Status.IN_PROGRESS, None, None, "slack:UAGENT001",
    )  # fmt: skip
    assert len(await customer_messages(store)) == before  # the customer never knew
    line = (await thread_lines(store))[-1]
    assert (line["what"], line["quote"], line["ping"]) == (
        "退回重新处理 sent back to be worked on",
        "没有写明送达时间段,请与客户确认",
        ["UAGENT001"],
    )
    assert [c.number for c in await desk.queries.mine(AGENT)] == [number]  # work again
    # Resolved again, approved: the customer gets the second resolution only.
    assert (await desk.actions.resolve(number, AGENT, "明天 9:00-12:00 送达", "resolved")).ok
    assert (await desk.actions.approve(number, SUPER, None)).ok
    texts = [m.text for m in (await customer_messages(store))[before:]]
    assert len(texts) == 1
    assert "明天 9:00-12:00 送达" in texts[0]


async def test_under_review_the_handler_is_told_whose_turn_it_is(desk: Desk) -> None:
    number = await resolved_for_review(desk)
    outcome = await desk.actions.escalate(number, AGENT, "客户着急")
    assert not outcome.ok
    assert outcome.message.startswith(f"{number} 当前「待审核」,不能升级。等待主管审核")
    assert (await desk.actions.approve(number, SUPER, None)).ok
    again = await desk.actions.approve(number, OTHER_SUPER, None)  # a stale second approval
    assert not again.ok
    assert "当前「已解决」" in again.message


async def test_a_resolution_the_customer_never_received_is_no_answer_to_their_follow_ups(
    desk: Desk,
) -> None:
    """The third follow-up without a staff answer escalates (item 4); a resolution sent back
    under review never reached the customer, so it does not reset their count."""
    service = desk.actions.cases
    number = (await service.open_case(NewComplaint("telegram", "42", "快递三天没派送"))).number
    assert (await desk.actions.claim(number, AGENT)).ok
    for words in ("怎么还没人处理", "请尽快"):
        await service.add_customer_message(number, "customer:telegram:42", words)
    assert (await desk.actions.resolve(number, AGENT, "已重新派送", "resolved")).ok
    assert (await desk.actions.send_back(number, SUPER, "请先联系客户")).ok
    await service.add_customer_message(number, "customer:telegram:42", "到底什么时候送?")
    case = await service.get(number)
    assert case.escalation_level == 1
    last = (await service.history(number))[-1]
    assert (last.action, last.actor) == ("escalate", "system")


async def test_a_resolution_the_customer_receives_is_their_first_response(
    desk: Desk, service: CaseService, clock: FrozenClock
) -> None:
    """Resolved without a reply first: the result is the desk's first answer — once it
    reaches the customer, so under review only when approved (``service``: no review)."""
    number = await resolved_for_review(desk)
    assert (await desk.actions.cases.get(number)).first_responded_at is None
    clock.advance(timedelta(minutes=5))
    assert (await desk.actions.approve(number, SUPER, None)).ok
    assert (await desk.actions.cases.get(number)).first_responded_at == clock.now()
    other = (await service.open_case(NewComplaint("telegram", "43", "发票开错了"))).number
    await service.claim(other, AGENT.actor)
    await service.resolve(other, AGENT.actor, "已重开发票")
    assert (await service.get(other)).first_responded_at == clock.now()


async def test_sent_back_the_case_neither_repeats_reminders_nor_counts_a_pause_against_the_desk(
    desk: Desk, clock: FrozenClock
) -> None:
    """Priority A (first response 1 h, resolution 4 h): the 50% point reminded before the
    resolution is not repeated after it is sent back; six hours waiting for the customer
    before resolving are credited, so the case is not overdue when it comes back."""
    service = desk.actions.cases
    complaint = NewComplaint("telegram", "42", "加油站员工态度恶劣", priority=Priority.A)
    number = (await service.open_case(complaint)).number  # Tuesday 14:30
    assert (await desk.actions.claim(number, AGENT)).ok
    clock.advance(timedelta(minutes=30))
    assert [a.step for a in await service.sweep.once(clock.now())] == ["first_response@50"]
    assert (await desk.actions.reply(number, AGENT, "请提供小票照片")).ok
    await service.pause_clock(number, AGENT.actor, "等客户提供小票")
    clock.advance(timedelta(hours=6))
    assert (await desk.actions.resolve(number, AGENT, "已退款", "resolved")).ok
    assert (await desk.actions.send_back(number, SUPER, "请附上退款单号")).ok
    case = await service.get(number)
    assert case.resolution_due > clock.now()  # 4 h from 14:30 plus the 6 h waited
    assert await service.sweep.once(clock.now()) == []  # nothing repeated, nothing overdue
