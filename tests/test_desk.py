"""The staff desk on a real store (every backend), without any chat platform: what each change
queues, who may do what, and one winner when staff act at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.desk import Desk, Staff
from bot.nlp.classifier import Classifier
from bot.services import CaseService, NewComplaint
from storage.db import Store
from tests.queries import queued

STAFF_CHANNEL = "CDESK0001"


def staff(user: str, *, supervisor: bool = False, member: bool = True) -> Staff:
    return Staff("slack", user, member or supervisor, supervisor)


@pytest.fixture
def desk(service: CaseService, classifier: Classifier) -> Desk:
    desk = Desk(service, classifier, channel="slack", staff_channel=STAFF_CHANNEL)
    service.listeners.append(desk.projection.on_change)  # as app.py wires it
    return desk


async def open_case(service: CaseService, user: str = "42", **values: Any) -> str:
    complaint = NewComplaint(
        channel="telegram",
        channel_user_id=user,
        content=values.pop("content", "加油站员工态度恶劣,还骂人"),
        category=values.pop("category", "staff_attitude"),
        contact="+8613800138000",
        **values,
    )
    return (await service.open_case(complaint)).number


async def test_opening_queues_the_card_and_claiming_edits_it(
    desk: Desk, service: CaseService, store: Store
) -> None:
    number = await open_case(service)
    [(channel, recipient, card)] = await queued(store)
    assert (channel, recipient) == ("slack", STAFF_CHANNEL)
    assert card.ref is not None
    assert card.card is not None
    assert card.card["contact"] == "138****8000"
    assert card.card["number"] == number
    assert "claim" in card.card["actions"]

    outcome = await desk.actions.claim(number, staff("UAGENT001"))
    assert outcome.ok
    rows = await queued(store)
    edit, line = rows[1][2], rows[2][2]
    assert edit.edit == card.ref
    assert edit.card is not None
    assert edit.card["assignee"] == "slack:UAGENT001"
    assert line.thread == card.ref
    assert line.card is not None
    assert line.card["actor"] == "slack:UAGENT001"


async def test_a_reply_goes_to_the_customer_with_a_receipt_for_the_thread(
    desk: Desk, service: CaseService, store: Store
) -> None:
    number = await open_case(service, language="zh-hant")
    await desk.actions.claim(number, staff("UAGENT001"))
    outcome = await desk.actions.reply(number, staff("UAGENT001"), "  已通知站长  ")
    assert outcome.ok
    rows = await queued(store)
    to_customer = [m for c, r, m in rows if c == "telegram"]
    # The header in the customer's 繁體; the staff's words exactly as written.
    assert [m.text for m in to_customer] == [f"【{number}】客服回覆:\n已通知站长"]
    [message] = to_customer
    assert message.on_sent is not None
    assert message.on_sent.message.edit is not None
    assert message.on_sent.message.card is not None
    assert message.on_sent.message.card["delivery"] == "delivered"
    assert message.on_failed is not None
    case = await service.get(number)
    assert case.first_responded_at is not None
    assert case.status.value == "in_progress"


async def test_refusals_are_sentences_for_the_person_who_acted(
    desk: Desk, service: CaseService
) -> None:
    number = await open_case(service)
    outsider = await desk.actions.claim(number, staff("UOUTSIDE1", member=False))
    assert not outsider.ok
    assert "不是客服成员" in outsider.message
    early = await desk.actions.resolve(number, staff("UAGENT001"), "好了", "resolved")
    assert not early.ok
    assert "请先认领" in early.message
    await desk.actions.claim(number, staff("UAGENT001"))
    again = await desk.actions.claim(number, staff("UAGENT001"))
    assert "已经由你负责" in again.message
    other = await desk.actions.escalate(number, staff("UCOLLEAG1"), "")
    assert not other.ok
    not_owner = await desk.actions.release(number, staff("UCOLLEAG1"))
    assert "只有负责人或主管" in not_owner.message
    boss = await desk.actions.release(number, staff("UBOSS0001", supervisor=True))
    assert boss.ok
    unknown = await desk.actions.claim("TS20200101001", staff("UAGENT001"))
    assert "没有案件" in unknown.message
    garbage = await desk.actions.claim("<!channel>", staff("UAGENT001"))
    assert "不是案件编号" in garbage.message
    bad_category = await desk.actions.correct(number, staff("UAGENT001"), "category", "nope", "why")
    assert "没有这个类别" in bad_category.message
    bad_count = await desk.actions.correct(number, staff("UAGENT001"), "headcount", "many", "why")
    assert "whole number" in bad_count.message


async def test_five_staff_claiming_at_once_one_wins_and_the_rest_learn_who(
    desk: Desk, service: CaseService
) -> None:
    number = await open_case(service)
    people = [f"UAGENT00{i}" for i in range(5)]
    outcomes = await asyncio.gather(*(desk.actions.claim(number, staff(p)) for p in people))
    winners = [p for p, o in zip(people, outcomes, strict=True) if o.ok]
    assert len(winners) == 1
    for person, outcome in zip(people, outcomes, strict=True):
        if person != winners[0]:
            assert f"{{slack:{winners[0]}}}" in outcome.message


async def test_a_replayed_submission_is_applied_once(desk: Desk, service: CaseService) -> None:
    number = await open_case(service)
    await desk.actions.claim(number, staff("UAGENT001"))
    first = await desk.actions.reply(number, staff("UAGENT001"), "您好", update_id="view:V1")
    again = await desk.actions.reply(number, staff("UAGENT001"), "您好", update_id="view:V1")
    assert first.ok
    assert again.duplicate
    history = await service.history(number)
    assert [e.action for e in history].count("reply") == 1


async def test_finding_cases_by_number_phone_and_owner(desk: Desk, service: CaseService) -> None:
    first = await open_case(service, "1")
    second = await open_case(service, "2", category="delivery", content="快递三天没送到")
    await desk.actions.claim(second, staff("UAGENT001"))
    assert [c.number for c in await desk.queries.find(first)] == [first]
    assert {c.number for c in await desk.queries.find("138 0013 8000")} == {first, second}
    assert await desk.queries.find("800") == []  # too short to mean one customer
    assert [c.number for c in await desk.queries.mine(staff("UAGENT001"))] == [second]
    assert {c.number for c in await desk.queries.open_cases()} == {first, second}


async def test_work_lists_put_the_most_urgent_first_however_many_cases_are_open(
    desk: Desk, service: CaseService, clock: Any
) -> None:
    oldest = await open_case(service, "0")
    for i in range(1, 25):
        clock.advance(timedelta(minutes=10))
        await open_case(service, str(i))
    listed = [c.number for c in await desk.queries.open_cases(limit=20)]
    assert listed[0] == oldest  # newest-first with a limit would have dropped it
    assert len(listed) == 20


async def test_a_collective_complaint_cannot_be_flagged_below_its_headcount(
    desk: Desk, service: CaseService
) -> None:
    number = await open_case(service)
    agent = staff("UAGENT001")
    await desk.actions.claim(number, agent)
    raised = await desk.actions.set_severity(number, agent, None, 4, "四户联名")
    assert raised.ok
    assert raised.case is not None
    assert raised.case.severity.value == "hot"
    lowered = await desk.actions.set_severity(number, agent, "general", None, "误判")
    assert not lowered.ok
    assert "at least hot" in lowered.message


async def test_a_card_that_cannot_be_drawn_never_costs_the_customer_their_reply(
    desk: Desk, service: CaseService, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = await open_case(service)
    await desk.actions.claim(number, staff("UAGENT001"))

    def broken(text: str) -> Any:
        raise RuntimeError("classifier gone")

    monkeypatch.setattr(desk.classifier, "classify", broken)
    outcome = await desk.actions.reply(number, staff("UAGENT001"), "您好,已处理")
    assert outcome.ok
    rows = await queued(store)
    assert [m.text for c, _, m in rows if c == "telegram"] == [
        f"【{number}】客服回复:\n您好,已处理"
    ]
    assert any(m.card and m.card.get("kind") == "line" for _, _, m in rows[-2:])  # thread line


async def test_details_of_a_case_read_on_every_backend(desk: Desk, service: CaseService) -> None:
    """Read in a read-only transaction: before issue 12 it locked the row, which PostgreSQL
    refuses there (``BEGIN READ ONLY``), so Details, Reply and the forms failed on it."""
    number = await open_case(service)
    await desk.actions.claim(number, staff("UAGENT001"))
    details = await desk.queries.details(number)
    assert details is not None
    assert details.card["number"] == number
    assert details.card["assignee"] == "slack:UAGENT001"
    assert [e.action for e in details.history] == ["open", "claim"]
    assert details.attachments == 0
    assert await desk.queries.details("TS20200101001") is None
    assert await desk.queries.details("<!channel>") is None


async def test_resolved_cases_leave_the_work_lists_and_are_listed_apart(
    desk: Desk, service: CaseService
) -> None:
    me = staff("UAGENT001")
    resolved = []
    for i in range(20):  # a busy week: twenty resolved cases of one agent
        number = await open_case(service, str(100 + i))
        await service.claim(number, me.actor)
        await service.resolve(number, me.actor, "已处理")
        resolved.append(number)
    claimed = await open_case(service, "200")
    await service.claim(claimed, me.actor)
    assert [c.number for c in await desk.queries.mine(me, limit=20)] == [claimed]
    assert [c.number for c in await desk.queries.open_cases(limit=20)] == [claimed]
    waiting = {c.number for c in await desk.queries.awaiting_customer(me, limit=50)}
    assert waiting == set(resolved)
    assert await desk.queries.awaiting_customer(staff("UOTHER001")) == []


async def test_the_thread_hears_the_customers_answer_to_a_resolution(
    desk: Desk, service: CaseService, store: Store
) -> None:
    me = staff("UAGENT001")
    solved, unsolved = await open_case(service, "300"), await open_case(service, "301")
    for number in (solved, unsolved):
        await service.claim(number, me.actor)
        await service.resolve(number, me.actor, "已处理")
    await service.closure.confirmed(solved, "customer:telegram:300", 0)
    await service.closure.not_solved(unsolved, "customer:telegram:301", 0)
    lines = [
        m.card for c, r, m in await queued(store) if r == STAFF_CHANNEL and m.card
        and m.card.get("kind") == "line"
    ]  # fmt: skip
    assert any(
        line["what"] == "已结案 closed" and line["actor"] == "customer:telegram:300"
        and (line["quote"] or "").startswith("客户确认") for line in lines
    )  # fmt: skip
    assert any(
        line["what"] == "重新打开 reopened" and (line["quote"] or "").startswith("客户反馈未解决")
        for line in lines
    )
