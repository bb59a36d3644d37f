"""Reminders on Slack (issue 14 item 3): the desk's ``{slack:…}`` names become mentions of a
person (<@U…>) or of a whole user group (<!subteam^S…>), as the emulator receives them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.sender import Sender
from bot.clock import FrozenClock
from bot.messages import OutgoingMessage
from tests.conftest import SHANGHAI
from tests.fakes.slack import FakeSlack

pytestmark = pytest.mark.emulator
DESK = "CDESK0001"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    fake.add_channel(DESK, "kesu-desk", ["UAGENT001"], private=True)
    yield fake
    await fake.stop()


async def test_a_digest_mentions_a_person_and_the_on_call_group(fake: FakeSlack) -> None:
    web = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    clock = FrozenClock(datetime(2026, 11, 17, 22, 30, tzinfo=SHANGHAI))
    sender = Sender(web, clock=clock, tz=SHANGHAI)
    text = (
        "⏰ {slack:UAGENT001} {slack:SONCALL01} 提醒汇总 reminders: 2 件 cases\n"
        "• TS20261117001 首次响应还剩 30 分钟 <first> & due"
    )
    result = await sender.send(DESK, OutgoingMessage(text, card={"kind": "reminder"}))
    assert result.ok
    [posted] = fake.top_level(DESK)
    assert posted.text == (
        "⏰ <@UAGENT001> <!subteam^SONCALL01> 提醒汇总 reminders: 2 件 cases\n"
        "• TS20261117001 首次响应还剩 30 分钟 &lt;first&gt; &amp; due"
    )
