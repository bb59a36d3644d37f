"""A press enquiry and a burst, end to end (issue 15 items 4 and 5): a journalist on Telegram,
the desk and the supervisors on Slack, through the real SDKs against the two emulators and a
running kesu (its scheduler sweeping and checking). Read it as a transcript."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from bot.clock import TickingClock
from bot.config import Settings
from bot.nlp.classifier import Classifier
from bot.services import NewComplaint
from tests.channels.conftest import AGENT, BOSS, STAFF_CHANNEL, Bot, http_desk_settings
from tests.channels.test_slack_desk import card_of, thread_says
from tests.conftest import SHANGHAI
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

SUPERVISORS = "CREPORT01"
PRESS_OFFICER = "UPRDESK01"


@pytest.fixture
async def desk(
    tg: FakeTelegram, slack: FakeSlack, bot_settings: Settings, shared_classifier: Classifier
) -> AsyncIterator[Bot]:
    slack.add_channel(SUPERVISORS, "kesu-supervisors", [BOSS], private=True)
    settings = http_desk_settings(
        bot_settings, slack, slack_supervisors=[BOSS], slack_report_channel=SUPERVISORS,
        slack_roles={"pr": (PRESS_OFFICER,)},
    )  # fmt: skip
    clock = TickingClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))
    bot = Bot(tg, settings, clock, shared_classifier, slack=slack)
    await bot.start()
    yield bot
    await bot.stop()


async def test_a_journalist_is_answered_nothing_of_substance_and_the_pr_desk_and_supervisors_hear(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    reporter = tg.user(6001, "王记者")
    await reporter.says("您好,我是新京报记者,想就贵公司加油站多收费一事采访相关负责人")
    asked = await reporter.hears()
    assert asked.endswith(
        "请问您是以媒体身份(如记者、编辑)问询吗?媒体问询由本公司负责部门统一答复;"
        "如果您是要投诉,请点「不是,我要投诉」,我们继续为您登记。"
    )
    await reporter.taps("是,媒体问询")
    told = await reporter.hears()
    assert told.startswith("您好,感谢您的关注。媒体问询由本公司公共关系部统一答复")
    assert "48 小时内" in told
    number = told.split("问询编号:")[1].split("。")[0]

    card = await card_of(slack, number)
    assert "媒体问询" in slack.text_of(card)
    routed = await thread_says(slack, card, "媒体问询,交公共关系部答复")
    assert f"<@{PRESS_OFFICER}>" in slack.text_of(routed)  # the PR desk is mentioned

    report = await slack.wait_for_message(SUPERVISORS, lambda text: number in text)
    assert slack.text_of(report).startswith(
        f"⚠️ 热点投诉通报 hot case reported · {number} <@{BOSS}>"
    )
    assert not [m for m in slack.top_level(STAFF_CHANNEL) if "投诉通报" in slack.text_of(m)]

    # The PR officer answers from the thread; the journalist hears it as an enquiry's.
    await desk.runtime.kesu.cases.claim(number, f"slack:{AGENT}")  # type: ignore[union-attr]
    await desk.runtime.kesu.cases.resolve(  # type: ignore[union-attr]
        number, f"slack:{AGENT}", "收费标准按发改委核定价格执行,详见官网公告。"
    )
    answer = await reporter.hears()
    assert answer.startswith(f"关于您的问询 {number},答复如下:")
    assert reporter.last.buttons == []  # nothing for a journalist to confirm


async def test_a_burst_alert_reaches_the_supervisors_channel_mentioning_them(
    desk: Bot, slack: FakeSlack
) -> None:
    """The check the scheduler runs every minute, run now: its message goes through the
    outbox to the report channel like any other."""
    kesu = desk.runtime.kesu  # type: ignore[union-attr]
    for user in range(5):
        await kesu.cases.open_case(NewComplaint("telegram", f"70{user}", "加油站多收钱",
                                                category="billing"))  # fmt: skip
    [alert] = await kesu.bursts.check(kesu.clock.now())
    posted = await slack.wait_for_message(SUPERVISORS, lambda text: text.startswith("🚨"))
    assert slack.text_of(posted).splitlines() == [
        f"🚨 投诉突增预警 burst of complaints · 类别 billing <@{BOSS}>",
        "最近一小时 5 件 last hour 5 · 尚无往周记录 no earlier weeks yet",
    ]
    assert alert.category == "billing"
