"""The staff desk in Socket Mode, kesu's default: the real AsyncSocketModeHandler connects to
the Slack emulator with the app token, and the same helpers as in HTTP mode reach it through
the socket. No signing secret, no listening port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from pydantic import SecretStr

from bot.app import build_runtime
from bot.channels.base import ChannelError
from bot.channels.slack import SlackChannel
from bot.clock import TickingClock
from bot.config import Settings
from bot.nlp.classifier import Classifier
from tests.channels.conftest import AGENT, COLLEAGUE, OUTSIDER, STAFF_CHANNEL, Bot
from tests.channels.test_slack_desk import card_of, card_shows, kesu, opened_view, thread_says
from tests.channels.test_telegram_intake import file_complaint
from tests.conftest import SHANGHAI
from tests.fakes.slack import FakeSlack, Message, input_value
from tests.fakes.telegram import FakeTelegram, FakeUser


def socket_settings(bot_settings: Settings, slack: FakeSlack, app_token: str) -> Settings:
    return bot_settings.model_copy(
        update={
            "slack_bot_token": SecretStr(slack.bot_token),
            "slack_app_token": SecretStr(app_token),
            "slack_signing_secret": None,
            "slack_mode": "socket",
            "slack_staff_channel": STAFF_CHANNEL,
            "slack_api_url": slack.api_url,
        }
    )


@pytest.fixture
async def socket_desk(
    tg: FakeTelegram, slack: FakeSlack, bot_settings: Settings, shared_classifier: Classifier
) -> AsyncIterator[Bot]:
    """kesu with Telegram for customers and Slack over Socket Mode for staff."""
    settings = socket_settings(bot_settings, slack, slack.app_token)
    clock = TickingClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))
    # Bot.start waits for an HTTP listener when given the fake; here the socket is the sign.
    b = Bot(tg, settings, clock, shared_classifier)
    await b.start()
    await slack.wait_for_socket()
    slack.transport = "socket"
    yield b
    await b.stop()


async def claimed(
    tg: FakeTelegram, slack: FakeSlack, user_id: int
) -> tuple[str, Message, FakeUser]:
    customer = tg.user(user_id, "Customer")
    number = await file_complaint(customer, "快递三天了还没派送,电话也打不通")
    card = await card_of(slack, number)
    click = await slack.click(AGENT, "kesu_claim", number, message=card)
    assert (click.ok, click.via) == (True, "socket")
    await card_shows(slack, card, "已认领", f"<@{AGENT}>")
    return number, card, customer


async def notes_once_there(desk: Bot, number: str, within: float = 3.0) -> list[str | None]:
    """The case's internal notes, as soon as it has one (bolt handles events after the ack)."""
    cases = desk.runtime.kesu.cases  # type: ignore[union-attr]
    async with asyncio.timeout(within):
        while True:
            notes = [e.note for e in await cases.history(number) if e.action == "note"]
            if notes:
                return notes
            await asyncio.sleep(0.02)


async def test_claim_and_reply_over_the_socket(
    socket_desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed(tg, slack, 6001)
    await thread_says(slack, card, "认领了本案")

    # Thread talk arrives as an events_api envelope and stays internal.
    said = await slack.send_event(
        slack.message_event(STAFF_CHANNEL, COLLEAGUE, "这个站上周也被投诉过", thread_ts=card.ts)
    )
    assert (said.ok, said.via) == (True, "socket")
    assert await notes_once_there(socket_desk, number) == ["这个站上周也被投诉过"]

    await slack.click(AGENT, "kesu_reply", number, message=card)
    modal = await opened_view(slack, "kesu_reply")
    sent = await slack.submit_view(
        AGENT, modal, {"text": {"value": input_value("您好,我们已联系快递站,今天内给您答复。")}}
    )
    assert (sent.ok, sent.via, sent.json) == (True, "socket", None)
    assert modal.closed
    assert (
        await customer.hears() == f"【{number}】客服回复:\n您好,我们已联系快递站,今天内给您答复。"
    )
    await thread_says(slack, card, "已送达客户")

    assert socket_desk.desk_channel.http_url is None  # no port opened
    assert slack.app_events_url is None  # and nothing went over HTTP
    assert len(slack.acks) == len(slack.delivered)


async def test_a_refused_reply_comes_back_as_form_errors(
    socket_desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed(tg, slack, 6002)
    await slack.click(AGENT, "kesu_reply", number, message=card)
    form = await opened_view(slack, "kesu_reply")
    empty = await slack.submit_view(AGENT, form, {"text": {"value": input_value("   ")}})
    assert (empty.ok, empty.via) == (True, "socket")
    assert empty.json["response_action"] == "errors"
    assert "不能为空" in empty.json["errors"]["text"]
    assert not form.closed
    ack = next(a for a in slack.acks if a["envelope_id"] == empty.envelope_id)
    assert ack["payload"] == empty.json
    await customer.hears_nothing_more(0.3)


async def test_the_kesu_command_over_the_socket(socket_desk: Bot, slack: FakeSlack) -> None:
    helped = await kesu(slack, AGENT, "help", via="socket")
    assert "/kesu mine" in helped
    assert "/kesu find" in helped
    refused = await kesu(slack, OUTSIDER, "open", via="socket")
    assert "不是客服成员" in refused


async def test_the_desk_reconnects_when_slack_asks(
    socket_desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    customer = tg.user(6003, "Customer")
    number = await file_complaint(customer, "加油站员工态度恶劣,还骂人")
    card = await card_of(slack, number)

    await slack.disconnect_socket("refresh_requested")
    await slack.wait_for_socket(within=3)
    assert slack.sockets_opened == 2
    assert [c.outcome for c in slack.calls_to("apps.connections.open")] == ["ok", "ok"]

    click = await slack.click(AGENT, "kesu_claim", number, message=card)
    assert (click.ok, click.via) == (True, "socket")
    await card_shows(slack, card, "已认领", f"<@{AGENT}>")


async def test_a_wrong_app_token_stops_start_with_a_clear_error(
    slack: FakeSlack, bot_settings: Settings, shared_classifier: Classifier
) -> None:
    settings = socket_settings(bot_settings, slack, "xapp-1-revoked")
    runtime = await build_runtime(settings, classifier=shared_classifier)
    channel = next(c for c in runtime.channels if isinstance(c, SlackChannel))
    try:
        with pytest.raises(ChannelError, match="KESU_SLACK_APP_TOKEN") as refused:
            async with asyncio.timeout(1.5):
                await channel.start()
        assert "\n" not in str(refused.value)
        assert "invalid_auth" in str(refused.value)
    finally:
        await channel.stop()
        await runtime.kesu.close()
    assert [c.outcome for c in slack.calls_to("apps.connections.open")] == ["invalid_auth"]
