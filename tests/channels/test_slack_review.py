"""A supervisor's check of a resolution from the Slack desk (``review_before_confirm``), end
to end through the real SDKs and the two emulators: the handler resolves, the customer hears
nothing, a colleague may not approve, the supervisor sends it back with a note, the handler
resolves again, the supervisor approves — and only then does the customer get the result
with 已解决 / 未解决, and 已解决 closes the case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.clock import TickingClock
from bot.config import Settings
from bot.nlp.classifier import Classifier
from tests.channels.conftest import AGENT, BOSS, COLLEAGUE, Bot, http_desk_settings
from tests.channels.test_slack_desk import card_of, card_shows, choose, opened_view, thread_says
from tests.channels.test_telegram_intake import file_complaint
from tests.conftest import SHANGHAI
from tests.fakes.slack import FakeSlack, Message, input_value, select_value
from tests.fakes.telegram import FakeTelegram

DEFAULT = (Path(__file__).parents[2] / "bot/policies/default.toml").read_text(encoding="utf-8")


@pytest.fixture
async def reviewing_desk(
    tg: FakeTelegram,
    slack: FakeSlack,
    bot_settings: Settings,
    shared_classifier: Classifier,
    tmp_path: Path,
) -> AsyncIterator[Bot]:
    policy = tmp_path / "review.toml"
    policy.write_text(
        DEFAULT.replace("review_before_confirm = false", "review_before_confirm = true"),
        encoding="utf-8",
    )
    settings = http_desk_settings(bot_settings, slack, slack_supervisors=[BOSS], policy_file=policy)
    clock = TickingClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))
    b = Bot(tg, settings, clock, shared_classifier, slack=slack)
    await b.start()
    yield b
    await b.stop()


async def resolve(slack: FakeSlack, card: Message, number: str, words: str, count: int) -> None:
    await choose(slack, AGENT, card, "resolve", number)
    form = await opened_view(slack, "kesu_resolve", count)
    done = await slack.submit_view(
        AGENT,
        form,
        {"outcome": {"value": select_value("resolved")}, "reason": {"value": input_value(words)}},
    )
    assert done.ok, done.body


async def test_a_supervisor_sends_back_then_approves_and_only_then_the_customer_is_asked(
    reviewing_desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    alice = tg.user(5101, "Alice")
    number = await file_complaint(alice, "快递三天没有派送,电话也打不通")
    card = await card_of(slack, number)
    await slack.click(AGENT, "kesu_claim", number, message=card)
    await card_shows(slack, card, "已认领")

    await resolve(slack, card, number, "已联系网点重新派送", 1)
    await card_shows(slack, card, "待审核", "待主管审核")
    line = await thread_says(slack, card, "待主管审核")
    assert f"<@{BOSS}>" in line.text  # the supervisors are mentioned
    await alice.hears_nothing_more(1.0)  # no resolution, no buttons yet

    # A colleague who is not a supervisor: refused, the form stays open with the reason.
    await choose(slack, COLLEAGUE, card, "approve", number)
    form = await opened_view(slack, "kesu_approve")
    refused = await slack.submit_view(COLLEAGUE, form, {"reason": {"value": input_value("")}})
    assert refused.json["errors"]["reason"] == (
        "只有主管可以审核处理结果 (only supervisors approve or send back a resolution)"
    )

    await choose(slack, BOSS, card, "send_back", number)
    form = await opened_view(slack, "kesu_send_back")
    back = await slack.submit_view(
        BOSS, form, {"reason": {"value": input_value("没写派送时间,请和客户约定时间段")}}
    )
    assert back.ok, back.body
    assert "errors" not in back.body, back.body
    returned = await thread_says(slack, card, "退回重新处理")
    assert f"<@{AGENT}>" in returned.text
    assert "没写派送时间" in returned.text
    await card_shows(slack, card, "处理中")
    await alice.hears_nothing_more(1.0)

    await resolve(slack, card, number, "已约定明天 9:00-12:00 重新派送", 2)
    await card_shows(slack, card, "待审核")
    await choose(slack, BOSS, card, "approve", number)
    form = await opened_view(slack, "kesu_approve", 2)
    approved = await slack.submit_view(BOSS, form, {"reason": {"value": input_value("可以")}})
    assert approved.ok, approved.body
    assert "errors" not in approved.body, approved.body
    told = await alice.hears()
    assert told.startswith(f"您的投诉 {number} 已处理。\n处理结果:已约定明天 9:00-12:00 重新派送\n")
    assert "已联系网点重新派送" not in told  # the resolution sent back never reached her
    await thread_says(slack, card, "审核通过,已请客户确认")
    await card_shows(slack, card, "已解决", "待客户确认")

    await alice.taps("已解决 ✅")
    assert f"投诉 {number} 已结案" in await alice.hears()
    await card_shows(slack, card, "🏁 已结案 closed")
    history = await reviewing_desk.runtime.kesu.cases.history(number)  # type: ignore[union-attr]
    steps = {"resolve", "send_back", "approve", "close"}
    assert [e.action for e in history if e.action in steps] == [
        "resolve", "send_back", "resolve", "approve", "close",
    ]  # fmt: skip
