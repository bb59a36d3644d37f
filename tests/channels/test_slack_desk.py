"""The staff's side, end to end: a customer on Telegram, staff in a Slack channel, both through
the real SDKs against the two emulators. Read each test as a transcript."""

from __future__ import annotations

import json
from typing import Any

from tests.channels.conftest import AGENT, BOSS, COLLEAGUE, OUTSIDER, STAFF_CHANNEL, Bot
from tests.channels.test_telegram_intake import file_complaint
from tests.fakes.slack import FakeSlack, Message, View, input_value, select_value
from tests.fakes.telegram import FakeTelegram


async def card_of(slack: FakeSlack, number: str) -> Message:
    """The case's card in the staff channel, once it is there."""
    return await slack.wait_for_message(STAFF_CHANNEL, lambda text: number in text)


async def thread_says(slack: FakeSlack, card: Message, words: str) -> Message:
    return await slack.wait_for_message(
        STAFF_CHANNEL, lambda text: words in text, thread_ts=card.ts
    )


def card_text(slack: FakeSlack, card: Message) -> str:
    return slack.text_of(slack.message(STAFF_CHANNEL, card.ts))


async def card_shows(slack: FakeSlack, card: Message, *words: str) -> str:
    await slack.wait_for(
        lambda: all(w in card_text(slack, card) for w in words), what=f"card shows {words}"
    )
    return card_text(slack, card)


async def opened_view(slack: FakeSlack, callback_id: str, count: int = 1) -> View:
    def found() -> list[View]:
        return [v for v in slack.views_opened if v.callback_id == callback_id]

    await slack.wait_for(lambda: len(found()) >= count, what=f"modal {callback_id}")
    return found()[count - 1]


async def choose(slack: FakeSlack, user: str, card: Message, kind: str, number: str) -> Any:
    """Pick an entry of the card's 更多操作 menu."""
    return await slack.click(user, "kesu_more", selected=f"{kind}|{number}", message=card)


async def test_a_case_from_intake_to_resolution_through_the_staff_channel(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    alice = tg.user(5001, "Alice")
    number = await file_complaint(alice, "加油站员工态度恶劣,还骂人 <!channel> <@UBOSS0001> & co")

    card = await card_of(slack, number)
    text = slack.text_of(card)
    assert "新建" in text
    assert "认领 Claim" in text
    assert "人员态度问题" in text
    assert "`骂人`" in text
    blocks = json.dumps(card.blocks, ensure_ascii=False)
    assert "&lt;!channel&gt;" in blocks  # shown as typed, never a ping
    assert "<!channel>" not in blocks
    assert "<@UBOSS0001>" not in blocks
    assert "&amp; co" in blocks

    await slack.click(AGENT, "kesu_claim", number, message=card)
    await card_shows(slack, card, "已认领", f"<@{AGENT}>")
    await thread_says(slack, card, "认领了本案")

    # Talk in the thread stays among staff.
    await slack.send_event(
        slack.message_event(STAFF_CHANNEL, COLLEAGUE, "这个站上周也被投诉过", thread_ts=card.ts)
    )
    await alice.hears_nothing_more(1.0)
    history = await desk.runtime.kesu.cases.history(number)  # type: ignore[union-attr]
    assert [e.note for e in history if e.action == "note"] == ["这个站上周也被投诉过"]

    # The Reply button is the way to the customer.
    await slack.click(AGENT, "kesu_reply", number, message=card)
    modal = await opened_view(slack, "kesu_reply")
    answer = await slack.submit_view(
        AGENT, modal, {"text": {"value": input_value("您好,我们已联系站长核实,今天内给您答复。")}}
    )
    assert answer.ok, answer.body
    heard = await alice.hears()
    assert heard == f"【{number}】客服回复:\n您好,我们已联系站长核实,今天内给您答复。"
    receipt = await thread_says(slack, card, "已送达客户")
    assert "今天内给您答复" in receipt.text
    await card_shows(slack, card, "处理中", "已首次响应")

    # The customer answers: the words land in the thread.
    await alice.says("好的,谢谢")
    assert f"记入投诉 {number}" in await alice.hears()
    await thread_says(slack, card, "好的,谢谢")

    await choose(slack, AGENT, card, "resolve", number)
    form = await opened_view(slack, "kesu_resolve")
    done = await slack.submit_view(
        AGENT,
        form,
        {
            "outcome": {"value": select_value("explained")},
            "reason": {"value": input_value("站长已向您致歉,涉事员工已停岗培训。")},
        },
    )
    assert done.ok, done.body
    told = await alice.hears()
    assert f"您的投诉 {number} 已处理" in told
    assert "站长已向您致歉" in told
    await card_shows(slack, card, "已解决", "已解释说明")
    case = await desk.runtime.kesu.cases.get(number)  # type: ignore[union-attr]
    assert case.status.value == "resolved"
    assert case.outcome == "explained"
    assert case.first_responded_at is not None
    _ = (BOSS, OUTSIDER)
