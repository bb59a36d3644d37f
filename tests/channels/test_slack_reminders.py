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


async def test_a_burst_alert_in_the_supervisors_channel_mentions_them_and_escapes_the_rest(
    fake: FakeSlack,
) -> None:
    """Issue 15 item 4: alerts and flag reports go to KESU_SLACK_REPORT_CHANNEL; a category
    named like markup stays words."""
    fake.add_channel("CSUPERV01", "kesu-supervisors", ["USUPER01"], private=True)
    web = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    sender = Sender(web, clock=FrozenClock(datetime(2026, 11, 17, 10, 30, tzinfo=SHANGHAI)),
                    tz=SHANGHAI)  # fmt: skip
    text = (
        "🚨 投诉突增预警 burst of complaints · 类别 <!channel> {slack:USUPER01}\n"
        "最近一小时 9 件 last hour 9 · 尚无往周记录 no earlier weeks yet"
    )
    assert (await sender.send("CSUPERV01", OutgoingMessage(text, card={"kind": "alert"}))).ok
    [posted] = fake.top_level("CSUPERV01")
    assert posted.text.splitlines()[0] == (
        "🚨 投诉突增预警 burst of complaints · 类别 &lt;!channel&gt; <@USUPER01>"
    )
