"""The customer's copy of a staff action is part of the action (issue 12, item 4): queued in
the change's transaction with or without a staff channel, and if it cannot be queued the change
is refused — never a reply on record that the customer never got."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import column, select, table

from bot.desk import Desk, Staff
from bot.domain.cases import Status
from bot.messages import FollowUp, OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.services import CaseService, Change, NewComplaint, NotDelivered, Receipt, notify
from storage.db import Store
from tests.queries import queued

AGENT = "slack:UAGENT001"


async def open_case(service: CaseService, **values: Any) -> str:
    complaint = NewComplaint(
        channel="telegram",
        channel_user_id="42",
        content="加油站员工态度恶劣,还骂人",
        category="staff_attitude",
        **values,
    )
    return (await service.open_case(complaint)).number


async def test_without_any_staff_channel_every_notice_still_reaches_the_customer(
    service: CaseService, store: Store
) -> None:
    # No desk (a script, the web board, a Slack-less install): only the clock's own listener,
    # which marks a level's review done.
    assert service.listeners == [service.escalation.on_change]
    number = await open_case(service)
    await service.claim(number, AGENT)
    await service.reply(number, AGENT, "您好,已通知站长")
    await service.escalate(number, AGENT, "站长不回应")
    await service.resolve(number, AGENT, "已道歉并退款", "compensated")
    second = await open_case(service, language="en")
    await service.mark_invalid(second, AGENT, "Not our station")
    sent = await queued(store)
    assert [(c, r) for c, r, _ in sent] == [("telegram", "42")] * 4
    texts = [m.text for _, _, m in sent]
    assert texts[0] == f"【{number}】客服回复:\n您好,已通知站长"
    assert texts[1].startswith(f"您的投诉 {number} 已升级,由")
    assert texts[2].startswith(f"您的投诉 {number} 已处理。\n处理结果:已道歉并退款\n")
    assert second in texts[3]
    assert "Not our station" in texts[3]
    assert all(m.on_sent is None and m.on_failed is None for _, _, m in sent)  # no thread


async def test_a_notice_that_cannot_be_drawn_refuses_the_reply_and_leaves_no_trace(
    service: CaseService, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = await open_case(service)
    await service.claim(number, AGENT)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("desk_reply")  # a text missing from a bad deployment's wording

    monkeypatch.setattr(service.notices, "draw", broken)
    with pytest.raises(NotDelivered, match="nothing was changed"):
        await service.reply(number, AGENT, "您好")
    case = await service.get(number)
    assert case.first_responded_at is None  # the first-response clock still runs
    assert [e.action for e in await service.history(number)] == ["open", "claim"]
    assert await queued(store) == []


async def test_a_notice_that_cannot_be_queued_refuses_the_change_and_tells_staff(
    service: CaseService, store: Store, classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = Desk(service, classifier, channel="slack", staff_channel="CDESK0001")
    service.listeners.append(desk.projection.on_change)
    number = await open_case(service)
    agent = Staff("slack", "UAGENT001", True)
    assert (await desk.actions.claim(number, agent)).ok
    before = await queued(store)

    async def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(notify, "enqueue", full)
    outcome = await desk.actions.resolve(number, agent, "已退款", "compensated")
    assert not outcome.ok
    assert outcome.message == (
        f"{number}:无法给客户发送消息,操作未执行,请稍后再试 "
        "(the customer's message could not be queued, so nothing was changed; try again)"
    )
    assert (await service.get(number)).status is Status.CLAIMED  # not resolved
    assert await queued(store) == before  # not even the thread line of a change not made


async def test_a_broken_staff_projection_costs_only_the_receipt(
    service: CaseService, store: Store
) -> None:
    async def broken(tx: Any, change: Change) -> Receipt | None:
        await tx.outbox.enqueue(channel="slack", recipient="C1", payload={}, now=change.at)
        raise RuntimeError("cannot draw the thread line")

    service.listeners.append(broken)
    number = await open_case(service)
    await service.reply(number, AGENT, "您好")
    [(channel, recipient, message)] = await queued(store)
    assert (channel, recipient) == ("telegram", "42")
    assert message.text == f"【{number}】客服回复:\n您好"
    assert message.on_sent is None


async def test_the_first_receipt_asked_for_rides_on_the_customers_message(
    service: CaseService, store: Store
) -> None:
    seen: list[str | None] = []

    def receipt(name: str) -> Receipt:
        line = OutgoingMessage(name, edit=name)
        return Receipt(FollowUp("slack", "C1", line), FollowUp("slack", "C1", line))

    async def first(tx: Any, change: Change) -> Receipt | None:
        seen.append(None if change.to_customer is None else change.to_customer.text)
        return receipt("first")

    async def second(tx: Any, change: Change) -> Receipt | None:
        return receipt("second")

    service.listeners.extend([first, second])
    number = await open_case(service)
    await service.reply(number, AGENT, "您好")
    [(_, _, message)] = await queued(store)
    assert seen == [None, f"【{number}】客服回复:\n您好"]  # the opening tells nothing
    assert message.on_sent is not None
    assert message.on_sent.message.edit == "first"


async def test_a_change_refused_inside_a_dialogues_transaction_is_undone_whole(
    service: CaseService, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller that catches the refusal and carries on (a dialogue, a sweep) commits what it
    did itself, never the refused change — and on PostgreSQL a failed statement inside the
    change does not leave the caller's transaction aborted."""
    number = await open_case(service)
    await service.claim(number, AGENT)

    async def failing_statement(tx: Any, *args: Any, **kwargs: Any) -> Any:
        missing = select(column("x")).select_from(table("no_such_table"))
        await tx.session.execute(missing)  # the database refuses: on PostgreSQL, aborted

    monkeypatch.setattr(notify, "enqueue", failing_statement)

    async def work(tx: Any) -> None:
        with pytest.raises(NotDelivered):
            await service.reply(number, AGENT, "您好", tx=tx)
        await service.add_note(number, AGENT, "客户电话未接通", tx=tx)  # the caller goes on

    await store.write(work)
    history = [e.action for e in await service.history(number)]
    assert history == ["open", "claim", "note"]  # no reply on record
    assert (await service.get(number)).first_responded_at is None
