"""Long texts to Telegram, end to end: cut when queued into one outbox row per part (at 4,096
UTF-16 code units, never inside an emoji), each part one sendMessage, in order, the buttons
on the last — and a retry after a failed part never sends an earlier part again."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import Runtime
from bot.channels.telegram import TelegramChannel
from bot.messages import Button, OutgoingMessage
from bot.outgoing import TextLimit, enqueue, split_text
from storage.repositories import Tx
from tests.channels.conftest import AGENT, Bot
from tests.channels.test_slack_desk import claimed_case, opened_view, thread_says
from tests.fakes.slack import FakeSlack, input_value
from tests.fakes.telegram import Failure, FakeTelegram

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one grapheme, 11 UTF-16 code units
FLAG = "🇨🇳"
# About 10,000 UTF-16 code units with no line end: three messages, cut between clusters.
EMOJI_LADEN = ("您的投诉已受理 😡" + FAMILY + FLAG + "e\u0301") * 330


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_telegram_declares_its_limit_as_telegram_counts_it() -> None:
    assert TelegramChannel.text_limit == TextLimit(4096, "utf16")


def fail_the_second_send(tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first sendMessage goes through; the one after it fails once with a 500."""
    deliver = tg._api_sendMessage
    armed = False

    async def first_then_fail(params: dict[str, Any]) -> Any:
        nonlocal armed
        result = await deliver(params)
        if not armed:
            armed = True
            tg.failures["sendMessage"].append(Failure(500, "Internal Server Error"))
        return result

    monkeypatch.setattr(tg, "_api_sendMessage", first_then_fail)


async def queue(runtime: Runtime, chat: int, message: OutgoingMessage, key: str) -> None:
    """Queue as the dispatcher and the desk do, with the limits the runtime learnt."""

    async def work(tx: Tx) -> None:
        await enqueue(
            tx,
            runtime.dispatcher.text_limits,
            channel="telegram",
            recipient=str(chat),
            message=message,
            now=runtime.kesu.clock.now(),
            dedupe_key=key,
        )

    await runtime.kesu.store.write(work)
    runtime.worker.wake()


async def test_a_long_emoji_laden_reply_arrives_as_several_messages_in_order(
    bot: Bot, tg: FakeTelegram
) -> None:
    runtime = bot.runtime
    assert runtime is not None
    assert runtime.dispatcher.text_limits.get("telegram") == TelegramChannel.text_limit
    chat = 3201
    buttons = ((Button("满意", "s:1"), Button("不满意", "s:0")),)
    await queue(runtime, chat, OutgoingMessage(EMOJI_LADEN, buttons=buttons), "split:1")
    expected = split_text(EMOJI_LADEN, TelegramChannel.text_limit)
    assert len(expected) == 3
    await tg.wait_for(lambda: len(tg.to(chat)) >= 3)
    received = tg.to(chat)
    assert [s.text for s in received] == expected
    assert "".join(s.text for s in received) == EMOJI_LADEN  # nothing lost, nothing cut apart
    assert all(units(s.text) <= 4096 for s in received)
    assert [s.buttons for s in received] == [[], [], ["满意", "不满意"]]
    assert len(tg.method_calls("sendMessage")) == 3


async def test_a_failed_part_is_retried_alone(
    bot: Bot, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second part fails once (a 500): only it is sent again; the first arrives once."""
    runtime = bot.runtime
    assert runtime is not None
    chat = 3202
    fail_the_second_send(tg, monkeypatch)
    await queue(runtime, chat, OutgoingMessage(EMOJI_LADEN), "split:2")
    expected = split_text(EMOJI_LADEN, TelegramChannel.text_limit)
    await tg.wait_for(lambda: len(tg.to(chat)) >= 3, within=20)
    assert [s.text for s in tg.to(chat)] == expected  # each part once, in order
    calls = [p["text"] for p in tg.method_calls("sendMessage")]
    assert calls == [expected[0], expected[1], expected[1], expected[2]]


async def test_a_row_queued_whole_by_an_older_kesu_is_cut_when_sent_as_a_last_resort(
    bot: Bot, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queued before texts were cut when queued: still sent, several messages for one row,
    the buttons on the last. Being one row, a failed part retries them all (documented in
    TelegramChannel.send): the first part arrives twice."""
    runtime = bot.runtime
    assert runtime is not None
    chat = 3203
    message = OutgoingMessage("😡" * 5000, buttons=((Button("好", "ok"),),))

    async def whole(tx: Tx) -> None:
        await tx.outbox.enqueue(
            channel="telegram",
            recipient=str(chat),
            payload=message.to_payload(),
            now=runtime.kesu.clock.now(),
            dedupe_key="split:old",
        )

    fail_the_second_send(tg, monkeypatch)
    await runtime.kesu.store.write(whole)
    runtime.worker.wake()
    await tg.wait_for(lambda: len(tg.to(chat)) >= 4, within=20)
    received = tg.to(chat)
    assert [len(s.text) for s in received] == [2048, 2048, 2048, 904]  # the first twice
    assert [s.buttons for s in received] == [[], [], [], ["好"]]
    assert received[0].text == received[1].text


async def test_a_long_staff_reply_reaches_the_customer_in_parts_then_shows_delivered(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed_case(tg, slack, 5301)
    await slack.click(AGENT, "kesu_reply", number, message=card)
    form = await opened_view(slack, "kesu_reply")
    words = "😡" * 3000  # the form's 3,000 characters: 6,000 UTF-16 code units
    answer = await slack.submit_view(AGENT, form, {"text": {"value": input_value(words)}})
    assert answer.ok, answer.body
    heard = await customer.hears(2)
    assert heard.startswith(f"【{number}】客服回复:\n😡")
    assert heard.replace("\n\n", "").endswith(words)
    receipt = await thread_says(slack, card, "已送达客户")  # once the last part arrived
    assert "😡" in receipt.text
    await customer.hears_nothing_more(0.3)
