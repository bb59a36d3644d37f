"""Customer words never reach the log above DEBUG (DOMAIN.md §8: a complaint is disclosed to
no one not involved, and logs go to whoever runs the servers): a whole intake, the desk at
work, Slack refusing a card's blocks, a message that cannot be processed — and not one
complaint phrase, customer name, phone number, party or staff reply in any line at INFO or
above. Ids, counts and lengths are what the log says (issue 13)."""

from __future__ import annotations

import json
import logging

import pytest

from bot.nlp.classifier import Classifier
from tests.channels.conftest import AGENT, STAFF_CHANNEL, Bot
from tests.channels.test_slack_desk import card_of, card_shows, opened_view, thread_says
from tests.fakes.slack import FakeSlack, input_value
from tests.fakes.telegram import FakeTelegram, FakeUser

COMPLAINT = "紫藤路加油站的王师傅骂人还摔坏了我的会员卡"
NAME = "Tantai Xiaoyun"
PARTY = "紫藤路第九加油站"
PHONE = "13912345678"
REPLY = "明早九点值班经理给您回电致歉"
NOTE = "内部备注这位是十年老客户"
FAILING = "这句话让分类器崩溃的怪异投诉"
WORDS = (COMPLAINT, NAME, PARTY, PHONE, REPLY, NOTE, FAILING, "紫藤路", "王师傅")
#: As typed, and as JSON or a repr with escapes would show them.
SECRETS = {form for w in WORDS for form in (w, json.dumps(w)[1:-1], ascii(w)[1:-1])}


def leaks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Lines at INFO or above, tracebacks included, that quote a customer's or staff's words
    (the emulators' own loggers aside: they are Telegram and Slack, not kesu)."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    found = []
    for record in caplog.records:
        if record.levelno < logging.INFO or record.name.startswith("tests."):
            continue
        line = formatter.format(record)
        if any(secret in line for secret in SECRETS):
            found.append(line)
    return found


async def intake(user: FakeUser, complaint: str) -> str:
    await user.says("/new")
    await user.hears()
    await user.says(complaint)
    await user.hears()
    await user.taps("说完了 ✅")
    await user.hears()
    await user.taps(user.last.buttons[0])
    await user.hears()
    await user.says(PARTY)
    await user.hears()
    await user.taps("跳过")
    await user.hears()
    await user.shares_contact(PHONE)
    await user.hears(2)
    await user.taps("退款")
    await user.hears()
    await user.taps("确认提交")
    return (await user.hears()).split("编号是 ")[1].split("。")[0]


async def test_an_intake_and_the_desk_at_work_log_ids_only(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    customer = tg.user(6101, NAME)
    number = await intake(customer, COMPLAINT)
    card = await card_of(slack, number)
    await slack.click(AGENT, "kesu_claim", number, message=card)
    await card_shows(slack, card, f"<@{AGENT}>")
    await slack.send_event(slack.message_event(STAFF_CHANNEL, AGENT, NOTE, thread_ts=card.ts))
    await slack.click(AGENT, "kesu_reply", number, message=card)
    form = await opened_view(slack, "kesu_reply")
    await slack.submit_view(AGENT, form, {"text": {"value": input_value(REPLY)}})
    assert REPLY in await customer.hears()
    await customer.says(f"{COMPLAINT},请尽快")  # a follow-up, relayed to the thread
    assert number in await customer.hears()
    await thread_says(slack, card, f"{COMPLAINT},请尽快")
    cases = desk.runtime.kesu.cases  # type: ignore[union-attr]
    assert any(e.note == NOTE for e in await cases.history(number))  # the note, recorded

    slack.fail("chat.postMessage", error="invalid_blocks")  # the next card's blocks refused
    other = await intake(tg.user(6103, NAME), COMPLAINT)
    await card_of(slack, other)  # posted as text instead
    assert any("refused our blocks" in r.getMessage() for r in caplog.records)

    assert any(number in r.getMessage() for r in caplog.records)  # ids are logged
    assert leaks(caplog) == []


async def test_a_message_that_cannot_be_processed_is_logged_without_its_words(
    desk: Bot,
    tg: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error's message often quotes what it choked on (``int('十三')`` says '十三'): the
    failure is logged with its type, where it happened and the update's id; its message only
    at DEBUG."""
    caplog.set_level(logging.INFO)

    def choke(self: Classifier, text: str, *args: object, **kwargs: object) -> object:
        return int(text)  # ValueError: invalid literal for int() with base 10: '…'

    monkeypatch.setattr(Classifier, "classify", choke)
    customer = tg.user(6102, NAME)
    await customer.says("/new")
    await customer.hears()
    await customer.says(FAILING)
    await customer.hears()
    await customer.taps("说完了 ✅")  # now the words are classified: it chokes on them
    assert "未能处理" in await customer.hears(within=20)  # told once it is parked
    assert any("parked after" in r.getMessage() for r in caplog.records)
    assert any("ValueError" in r.getMessage() for r in caplog.records)
    assert leaks(caplog) == []
