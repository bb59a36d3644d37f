"""The staff's side, end to end: a customer on Telegram, staff in a Slack channel, both through
the real SDKs against the two emulators. Read each test as a transcript."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.app import build_runtime
from bot.channels.base import ChannelError
from tests.channels.conftest import (
    AGENT,
    BOSS,
    COLLEAGUE,
    OUTSIDER,
    STAFF_CHANNEL,
    Bot,
    http_desk_settings,
)
from tests.channels.test_telegram_intake import file_complaint
from tests.fakes.slack import FakeSlack, Message, View, input_value, select_value, users_select
from tests.fakes.telegram import Failure, FakeTelegram, FakeUser


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


async def claimed_case(
    tg: FakeTelegram, slack: FakeSlack, user_id: int, words: str = "快递三天了还没派送,电话也打不通"
) -> tuple[str, Message, FakeUser]:
    """A customer's complaint, claimed by AGENT: its number, its card and the customer."""
    customer = tg.user(user_id, "Customer")
    number = await file_complaint(customer, words)
    card = await card_of(slack, number)
    await slack.click(AGENT, "kesu_claim", number, message=card)
    await card_shows(slack, card, f"<@{AGENT}>")
    return number, card, customer


async def case_of(desk: Bot, number: str) -> Any:
    return await desk.runtime.kesu.cases.get(number)  # type: ignore[union-attr]


async def test_forged_or_stale_signatures_are_refused_and_change_nothing(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number = await file_complaint(tg.user(5101, "Customer"), "加油站多收了我二十块钱")
    await card_of(slack, number)
    payload = {
        "type": "block_actions",
        "user": {"id": AGENT, "username": "wang", "team_id": slack.team_id},
        "team": {"id": slack.team_id},
        "trigger_id": "forged",
        "actions": [{"action_id": "kesu_claim", "value": number, "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    wrong = "not-the-signing-secret"  # a forger's guess
    forged = await slack.send_raw(body, slack.signed_headers(body, secret=wrong))
    stale = await slack.send_raw(body, slack.signed_headers(body, ts=str(int(time.time()) - 600)))
    unsigned = await slack.send_raw(body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert (forged.status, stale.status, unsigned.status) == (401, 401, 401)
    case = await case_of(desk, number)
    assert case.assignee is None
    assert case.status.value == "new"


async def test_someone_outside_the_desk_can_neither_act_nor_read(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number = await file_complaint(tg.user(5102, "Customer"), "物业乱收停车费,态度还很差")
    card = await card_of(slack, number)
    dm = slack.dm(OUTSIDER)  # not in the desk channel: told in the app's direct messages
    await slack.click(OUTSIDER, "kesu_claim", number, message=card)
    await slack.wait_for(lambda: slack.messages(dm), what="a refusal for the outsider")
    assert "不是客服成员" in slack.messages(dm)[-1].text
    await slack.click(OUTSIDER, "kesu_details", number, message=card)
    await slack.wait_for(lambda: len(slack.messages(dm)) == 2)
    answer = await kesu(slack, OUTSIDER, "open")
    assert "不是客服成员" in answer
    assert number not in answer
    assert slack.views_opened == []
    case = await case_of(desk, number)
    assert case.assignee is None
    history = await desk.runtime.kesu.cases.history(number)  # type: ignore[union-attr]
    assert [e.action for e in history] == ["open"]


async def test_two_staff_claiming_at_the_same_instant_one_wins_the_other_is_told(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number = await file_complaint(tg.user(5103, "Customer"), "银行网点排队两个小时没人管")
    card = await card_of(slack, number)
    await asyncio.gather(
        slack.click(AGENT, "kesu_claim", number, message=card),
        slack.click(COLLEAGUE, "kesu_claim", number, message=card),
    )
    await slack.wait_for(lambda: len(slack.ephemerals()) == 1, what="the loser is told")
    case = await case_of(desk, number)
    winner = case.assignee.removeprefix("slack:")
    loser = COLLEAGUE if winner == AGENT else AGENT
    told = slack.ephemerals()[0]
    assert told.user == loser
    assert f"已由 <@{winner}> 认领" in told.text
    await card_shows(slack, card, f"<@{winner}>")
    history = await desk.runtime.kesu.cases.history(number)  # type: ignore[union-attr]
    assert [e.action for e in history].count("claim") == 1


async def test_a_retried_event_is_recorded_once(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, _customer = await claimed_case(tg, slack, 5104)
    event = slack.message_event(STAFF_CHANNEL, AGENT, "已电话联系网点", thread_ts=card.ts)
    first = await slack.send_event(event, event_id="Ev0RETRY01")
    again = await slack.retry_event(first, num=1)
    assert first.ok
    assert again.ok
    await asyncio.sleep(0.3)
    history = await desk.runtime.kesu.cases.history(number)  # type: ignore[union-attr]
    assert [e.note for e in history if e.action == "note"] == ["已电话联系网点"]


async def test_slack_down_for_a_while_delays_cards_without_losing_or_doubling_one(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    slack.down = True
    first = await file_complaint(tg.user(5105, "Customer"), "快递把我的包裹弄丢了")
    second = await file_complaint(tg.user(5106, "Customer"), "外卖送错了还不给退款")
    await slack.wait_for(lambda: slack.refused >= 1, what="kesu tried while Slack was down")
    assert not slack.messages(STAFF_CHANNEL)
    slack.down = False
    for number in (first, second):
        await card_of(slack, number)
    await asyncio.sleep(0.5)
    cards = list(slack.top_level(STAFF_CHANNEL))
    assert sorted(m.text.split()[0] for m in cards) == sorted([first, second])


async def test_rate_limited_by_slack_the_card_waits_for_retry_after(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    slack.fail("chat.postMessage", status=429, retry_after=1)
    number = await file_complaint(tg.user(5107, "Customer"), "充值到账慢了两天")
    await card_of(slack, number)
    tries = slack.calls_to("chat.postMessage")
    assert tries[0].outcome == "http 429"
    assert tries[1].at - tries[0].at >= 0.95  # Retry-After: 1 honoured
    assert len(slack.top_level(STAFF_CHANNEL)) == 1


async def test_actions_that_the_rules_forbid_are_explained_not_crashed(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    customer = tg.user(5108, "Customer")
    number = await file_complaint(customer, "客服电话一直打不通")
    card = await card_of(slack, number)
    menu = json.dumps(card.blocks, ensure_ascii=False)
    assert "resolve|" not in menu  # an unclaimed case offers no 解决
    # A stale or hand-made menu choice still reaches the rules, which say no.
    await slack.click(AGENT, "kesu_more", selected=f"resolve|{number}", channel=STAFF_CHANNEL)
    form = await opened_view(slack, "kesu_resolve")
    refused = await slack.submit_view(
        AGENT,
        form,
        {"outcome": {"value": select_value("resolved")}, "reason": {"value": input_value("好了")}},
    )
    assert refused.json["response_action"] == "errors"
    assert "不能解决" in refused.json["errors"]["reason"]
    assert "请先认领" in refused.json["errors"]["reason"]
    await customer.hears_nothing_more(0.5)

    await choose(slack, AGENT, card, "invalid", number)
    form = await opened_view(slack, "kesu_invalid")
    done = await slack.submit_view(
        AGENT, form, {"reason": {"value": input_value("经核实该号码不是本公司客服电话。")}}
    )
    assert done.ok
    await card_shows(slack, card, "无效投诉")
    await slack.click(COLLEAGUE, "kesu_details", number, message=card)  # still readable
    await slack.click(
        COLLEAGUE, "kesu_claim", number, channel=STAFF_CHANNEL
    )  # a stale card's button
    await slack.wait_for(lambda: slack.ephemerals(COLLEAGUE), what="the explanation")
    assert "不能认领" in slack.ephemerals(COLLEAGUE)[-1].text


async def test_escalate_change_priority_and_flag_a_collective_complaint(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed_case(tg, slack, 5109, "小区停水三天,物业不管不问")
    before = await case_of(desk, number)

    await choose(slack, AGENT, card, "priority", number)
    form = await opened_view(slack, "kesu_priority")
    await slack.submit_view(
        AGENT,
        form,
        {"value": {"value": select_value("A")}, "reason": {"value": input_value("影响全楼住户")}},
    )
    await card_shows(slack, card, "A 紧急")
    after = await case_of(desk, number)
    assert after.first_response_due < before.first_response_due  # the deadline recomputed
    await thread_says(slack, card, "更正 corrected priority: C → A")

    await choose(slack, AGENT, card, "severity", number)
    form = await opened_view(slack, "kesu_severity")
    await slack.submit_view(
        AGENT,
        form,
        {
            "value": {"value": select_value("general")},
            "headcount": {"value": input_value("12")},
            "reason": {"value": input_value("业主群里 12 户联名")},
        },
    )
    await card_shows(slack, card, "重大", "集体投诉 12 人")

    await choose(slack, AGENT, card, "escalate", number)
    form = await opened_view(slack, "kesu_escalate")
    await slack.submit_view(
        AGENT, form, {"reason": {"value": input_value("需要工程部协调,一线无法解决")}}
    )
    told = await customer.hears()
    assert f"您的投诉 {number} 已升级,由客服主管负责处理" in told
    await card_shows(slack, card, "主管 supervisor")
    await thread_says(slack, card, "升级至 escalated to 主管")


async def test_supervisors_reassign_others_may_only_release_their_own(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, _customer = await claimed_case(tg, slack, 5110)
    await choose(slack, COLLEAGUE, card, "release", number)
    await slack.wait_for(lambda: slack.ephemerals(COLLEAGUE), what="refusal")
    assert "只有负责人或主管" in slack.ephemerals(COLLEAGUE)[-1].text

    await choose(slack, COLLEAGUE, card, "assign", number)
    form = await opened_view(slack, "kesu_assign")
    refused = await slack.submit_view(COLLEAGUE, form, {"user": {"value": users_select(COLLEAGUE)}})
    assert refused.json["response_action"] == "errors"

    await choose(slack, BOSS, card, "assign", number)
    form = await opened_view(slack, "kesu_assign", count=2)
    moved = await slack.submit_view(
        BOSS,
        form,
        {
            "user": {"value": users_select(COLLEAGUE)},
            "reason": {"value": input_value("小李熟悉这个站")},
        },
    )
    assert moved.ok, moved.body
    await card_shows(slack, card, f"<@{COLLEAGUE}>")
    await thread_says(slack, card, f"→ <@{COLLEAGUE}>")

    await slack.click(AGENT, "kesu_reply", number, message=card)  # no longer AGENT's case
    form = await opened_view(slack, "kesu_reply")
    refused = await slack.submit_view(AGENT, form, {"text": {"value": input_value("您好")}})
    assert "只有负责人或主管" in refused.json["errors"]["text"]

    await choose(slack, COLLEAGUE, card, "release", number)
    await card_shows(slack, card, "未认领", "认领 Claim")


async def test_the_reply_form_refuses_empty_and_overlong_messages(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed_case(tg, slack, 5111)
    await slack.click(AGENT, "kesu_reply", number, message=card)
    form = await opened_view(slack, "kesu_reply")
    empty = await slack.submit_view(AGENT, form, {"text": {"value": input_value("   ")}})
    assert "不能为空" in empty.json["errors"]["text"]
    long = await slack.submit_view(AGENT, form, {"text": {"value": input_value("长" * 3500 + "!")}})
    assert "回复太长" in long.json["errors"]["text"]
    await customer.hears_nothing_more(0.5)


async def kesu(slack: FakeSlack, user: str, text: str, *, via: str = "http") -> str:
    """/kesu as typed: acknowledged at once with nothing, then answered at its response_url
    (until issue 12 the answer rode on the acknowledgement; the assertions are the same)."""
    before = len(slack.ephemerals(user))
    acked = await slack.command(user, text)
    assert (acked.status, acked.text, acked.via) == (200, "", via)
    await slack.wait_for(lambda: len(slack.ephemerals(user)) > before, what="/kesu's answer")
    answer = slack.ephemerals(user)[-1]
    assert answer.via == "response_url"
    return answer.text


async def test_kesu_command_finds_work(desk: Bot, tg: FakeTelegram, slack: FakeSlack) -> None:
    number, _, _ = await claimed_case(tg, slack, 5112)
    other = await file_complaint(tg.user(5113, "Customer"), "网银转账失败钱被扣了")
    await card_of(slack, other)
    mine = await kesu(slack, AGENT, "mine")
    assert number in mine
    assert other not in mine
    everything = await kesu(slack, COLLEAGUE, "open")
    assert number in everything
    assert other in everything
    found = await kesu(slack, AGENT, f"find {other}")
    assert other in found
    assert number not in found
    nothing = await kesu(slack, AGENT, "find TS20200101001")
    assert "没有案件" in nothing
    helped = await kesu(slack, AGENT, "")
    assert "/kesu mine" in helped
    unknown = await kesu(slack, AGENT, "<!channel> bogus")
    assert "不认识" in unknown
    assert "<!channel>" not in unknown


async def test_app_home_lists_my_cases_and_the_unclaimed_queue(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, _, _ = await claimed_case(tg, slack, 5114)
    waiting = await file_complaint(tg.user(5115, "Customer"), "加油卡里的钱不见了")
    await card_of(slack, waiting)
    await slack.send_event(slack.app_home_opened(AGENT))
    await slack.wait_for(lambda: AGENT in slack.published, what="App Home published")
    home = slack.text_of(slack.published[AGENT])
    mine, _, queue = home.partition("待认领")
    assert number in mine
    assert waiting in queue
    assert "还剩" in home  # countdowns
    await slack.send_event(slack.app_home_opened(OUTSIDER))
    await slack.wait_for(lambda: OUTSIDER in slack.published)
    assert number not in slack.text_of(slack.published[OUTSIDER])


async def test_thread_talk_is_internal_unless_the_desk_configured_a_reply_prefix(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed_case(tg, slack, 5116)
    # Without a prefix nothing typed in the thread reaches the customer, whatever it says.
    await slack.send_event(
        slack.message_event(STAFF_CHANNEL, AGENT, "&gt;&gt; 您好", thread_ts=card.ts)
    )
    await customer.hears_nothing_more(0.7)

    await desk.stop()
    desk.settings = desk.settings.model_copy(update={"slack_reply_prefix": ">>"})
    await desk.start()
    # Slack sends what people type with <, > and & escaped; the customer gets the characters.
    await slack.send_event(
        slack.message_event(
            STAFF_CHANNEL,
            AGENT,
            "&gt;&gt;您好,派送员明天上午 10 点前送到 &amp; 会先来电",
            thread_ts=card.ts,
        )
    )
    heard = await customer.hears()
    assert heard == f"【{number}】客服回复:\n您好,派送员明天上午 10 点前送到 & 会先来电"
    await thread_says(slack, card, "已送达客户")
    await slack.send_event(
        slack.message_event(STAFF_CHANNEL, AGENT, "内部:记得回访", thread_ts=card.ts)
    )
    await customer.hears_nothing_more(0.7)


async def test_a_prefixed_thread_reply_keeps_links_and_dates_and_drops_slack_only_markup(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    """As Slack delivers what staff typed: the customer gets the URL behind a link and the
    date's words, never a channel's name or a colleague's id (issue 13)."""
    number, card, customer = await claimed_case(tg, slack, 5130)
    await desk.stop()
    desk.settings = desk.settings.model_copy(update={"slack_reply_prefix": ">>"})
    await desk.start()
    await slack.send_event(
        slack.message_event(
            STAFF_CHANNEL,
            AGENT,
            "&gt;&gt; <@UBOSS0001> 您好,<https://t.example/track?n=1&amp;v=2|查看物流>,"
            "预计 <!date^1795312800^{date_short} {time}|11月22日 10:00> 送达 <#CLOGI0001|logistics>"
            " <!here>",
            thread_ts=card.ts,
        )
    )
    assert await customer.hears() == (
        f"【{number}】客服回复:\n"
        "您好,查看物流 (https://t.example/track?n=1&v=2),预计 11月22日 10:00 送达"
    )


async def test_the_customers_photos_are_relayed_into_the_thread(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed_case(tg, slack, 5117)
    tg.files["big-5117"] = b"\x89PNG fake receipt photo"
    await customer.sends_photo(caption="这是收据")
    assert number in await customer.hears()
    await thread_says(slack, card, "这是收据")
    await slack.wait_for(lambda: any(f.shared for f in slack.files), what="the photo in Slack")
    upload = next(f for f in slack.files if f.shared)
    assert upload.data == b"\x89PNG fake receipt photo"
    assert upload.thread_ts == card.ts
    # A file Telegram cannot give us is named in the thread instead; the case keeps it.
    await customer.sends_document("合同.pdf")
    assert number in await customer.hears()
    await thread_says(slack, card, "未能转发的附件")


async def test_a_customer_who_blocked_the_bot_shows_as_not_delivered_in_the_thread(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, _ = await claimed_case(tg, slack, 5118)
    tg.failures["sendMessage"].append(Failure(403, "Forbidden: bot was blocked by the user"))
    await slack.click(AGENT, "kesu_reply", number, message=card)
    form = await opened_view(slack, "kesu_reply")
    await slack.submit_view(AGENT, form, {"text": {"value": input_value("请问方便接电话吗?")}})
    line = await thread_says(slack, card, "未能送达")
    assert "blocked" in line.text
    assert "请问方便接电话吗" in line.text


async def test_a_draft_in_the_thread_is_sent_with_the_message_shortcut(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    _number, card, customer = await claimed_case(tg, slack, 5119)
    draft = {"type": "message", "ts": "1800000000.000900", "thread_ts": card.ts, "user": COLLEAGUE,
             "text": "建议这样回复:已为您申请退款 &lt;20 元&gt;,预计 3 个工作日到账。"}  # fmt: skip
    await slack.shortcut(AGENT, "kesu_reply_message", draft, channel=STAFF_CHANNEL)
    form = await opened_view(slack, "kesu_reply")
    initial = form.blocks[1]["element"]["initial_value"]
    assert initial == "建议这样回复:已为您申请退款 <20 元>,预计 3 个工作日到账。"
    await slack.submit_view(AGENT, form, {"text": {"value": input_value(initial[7:])}})
    assert "已为您申请退款 <20 元>" in await customer.hears()
    # A message outside any case's thread has nothing to reply to.
    stray = {"type": "message", "ts": "1800000000.000901", "user": AGENT, "text": "hi"}
    await slack.shortcut(AGENT, "kesu_reply_message", stray, channel=STAFF_CHANNEL)
    await slack.wait_for(lambda: slack.ephemerals(AGENT), what="not a case thread")
    assert "不在案件串里" in slack.ephemerals(AGENT)[-1].text


async def test_details_show_the_whole_record_and_history(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    long_words = "油品质量有问题,加完油车就抖。" * 200  # longer than a card shows
    number, card, _ = await claimed_case(tg, slack, 5120, long_words)
    assert "(+" in slack.text_of(card)  # the card cuts it, visibly
    await slack.click(COLLEAGUE, "kesu_details", number, message=card)
    view = await opened_view(slack, "kesu_details")
    text = slack.text_of(view)
    assert "处理记录 History" in text
    assert f"<@{AGENT}> claim" in text
    assert "138****8000" in text  # the contact, masked
    assert "13800138000" not in text


async def test_traditional_chinese_and_emoji_reach_staff_verbatim_and_replies_come_back_in_kind(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    bob = tg.user(5121, "陳大文", "zh-hk")
    await bob.says("物業費亂收費,每個月都多收我們二十元 😡😡")
    await bob.hears()
    await bob.taps("說完了 ✅")
    await bob.hears()
    await bob.taps("是")
    for _ in range(2):
        await bob.hears()
        await bob.taps("跳過")
    await bob.hears()
    await bob.says("+852 9123 4567")
    await bob.hears(2)
    await bob.taps("退款")
    await bob.hears()
    await bob.taps("確認提交")
    number = (await bob.hears()).split("編號是 ")[1].split("。")[0]
    card = await card_of(slack, number)
    assert "物業費亂收費,每個月都多收我們二十元 😡😡" in slack.text_of(card)
    assert "91****67" in slack.text_of(card)
    await slack.click(AGENT, "kesu_claim", number, message=card)
    await slack.click(AGENT, "kesu_reply", number, message=card)
    form = await opened_view(slack, "kesu_reply")
    await slack.submit_view(AGENT, form, {"text": {"value": input_value("已通知物業核查 👍")}})
    assert await bob.hears() == f"【{number}】客服回覆:\n已通知物業核查 👍"


async def test_slack_answering_500_retries_the_card_and_posts_it_once(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    slack.fail("chat.postMessage", status=500, times=2)
    number = await file_complaint(tg.user(5122, "Customer"), "营业厅工作人员玩手机不理人")
    await card_of(slack, number)
    outcomes = [c.outcome for c in slack.calls_to("chat.postMessage")]
    assert outcomes[:3] == ["http 500", "http 500", "ok"]
    assert len(slack.top_level(STAFF_CHANNEL)) == 1


async def test_after_an_outage_only_the_newest_state_of_a_card_is_sent(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number = await file_complaint(tg.user(5123, "Customer"), "电费被多扣了一百元")
    card = await card_of(slack, number)
    slack.down = True
    cases = desk.runtime.kesu.cases  # type: ignore[union-attr]
    await cases.claim(number, f"slack:{AGENT}")
    await cases.release(number, f"slack:{AGENT}")
    await cases.claim(number, f"slack:{COLLEAGUE}")
    await asyncio.sleep(0.3)
    slack.down = False
    await card_shows(slack, card, "已认领", f"<@{COLLEAGUE}>")
    await thread_says(slack, card, "认领了本案")
    await asyncio.sleep(0.5)
    updates = [c for c in slack.calls_to("chat.update") if c.outcome == "ok"]
    assert len(updates) == 1  # three edits queued while down; the newest one went out
    lines = slack.thread(STAFF_CHANNEL, card.ts)
    assert [m.text.split()[0] for m in lines] == ["✋", "↩️", "✋"]  # the history is all there


async def test_a_public_staff_channel_is_refused_at_start(
    tg: FakeTelegram, slack: FakeSlack, bot_settings: Any, shared_classifier: Any
) -> None:
    """Cards carry customers' complaints; anyone can join a public channel (DOMAIN.md §8)."""
    slack.add_channel("CPUBLIC01", "public-desk", [AGENT], private=False)
    settings = http_desk_settings(bot_settings, slack, slack_staff_channel="CPUBLIC01")
    runtime = await build_runtime(settings, classifier=shared_classifier)
    desk_channel = next(c for c in runtime.channels if c.channel == "slack")
    try:
        with pytest.raises(ChannelError, match="public"):
            await desk_channel.start()
    finally:
        await runtime.kesu.close()


@pytest.mark.parametrize(
    "refusal",
    ["supervisors' report channel CREPORT01 is public",  # created public
     "KESU_SLACK_REPORT_CHANNEL CREPORT01 not found"],  # never created
)  # fmt: skip
async def test_a_public_or_unknown_report_channel_is_refused_at_start(
    tg: FakeTelegram, slack: FakeSlack, bot_settings: Any, shared_classifier: Any, refusal: str
) -> None:
    """Flag reports name parties and why a case is flagged: the supervisors' channel is
    checked like the desk's (issue 15 item 4)."""
    if "public" in refusal:
        slack.add_channel("CREPORT01", "supervisors", [AGENT], private=False)
    settings = http_desk_settings(bot_settings, slack, slack_report_channel="CREPORT01")
    runtime = await build_runtime(settings, classifier=shared_classifier)
    desk_channel = next(c for c in runtime.channels if c.channel == "slack")
    try:
        with pytest.raises(ChannelError, match=refusal):
            await desk_channel.start()
    finally:
        await runtime.kesu.close()


async def test_slack_unreachable_at_start_does_not_stop_customers_being_served(
    tg: FakeTelegram, slack: FakeSlack, desk: Bot
) -> None:
    await desk.stop()
    slack.down = True
    desk.slack_options = {"reconnect_interval": 0.2}
    desk.slack = None  # Bot.start would wait for the desk's HTTP server; we check it below
    await desk.start()
    customer = tg.user(5124, "Customer")
    number = await file_complaint(customer, "营业厅关门比公告早了一小时")  # Telegram works
    assert not slack.top_level(STAFF_CHANNEL)
    slack.down = False
    card = await card_of(slack, number)  # the card waited in the outbox
    slack.app_events_url = desk.desk_channel.http_url
    await slack.click(AGENT, "kesu_claim", number, message=card)
    await card_shows(slack, card, f"<@{AGENT}>")


async def test_a_channel_that_fails_the_checks_after_an_outage_gets_no_card(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    """Slack down at start, then back, but the channel turned out public: the desk stays
    closed — no card is posted there and nobody acts from it; customers are still served."""
    await desk.stop()
    slack.channels[STAFF_CHANNEL]["is_private"] = False
    slack.down = True
    desk.slack_options = {"reconnect_interval": 0.2}
    desk.slack = None
    await desk.start()
    number = await file_complaint(tg.user(5129, "Customer"), "银行卡被盗刷了两千元")
    slack.down = False
    await slack.wait_for(lambda: len(slack.calls_to("conversations.info")) >= 2)
    await asyncio.sleep(0.5)
    assert not slack.top_level(STAFF_CHANNEL)
    slack.app_events_url = desk.desk_channel.http_url
    await slack.click(AGENT, "kesu_claim", number, channel=STAFF_CHANNEL)
    await slack.wait_for(lambda: slack.ephemerals(AGENT), what="a refusal")
    assert "不是客服成员" in slack.ephemerals(AGENT)[-1].text
    assert (await case_of(desk, number)).assignee is None


async def test_a_form_submitted_twice_is_applied_once(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed_case(tg, slack, 5125)
    await choose(slack, AGENT, card, "escalate", number)
    form = await opened_view(slack, "kesu_escalate")
    values = {"reason": {"value": input_value("一线处理不了")}}
    first = await slack.submit_view(AGENT, form, values)
    # Slack did not hear our answer in time; the person presses again on the same form.
    assert first.request["type"] == "view_submission"
    body = urlencode({"payload": json.dumps(first.request)}).encode()
    again = await slack.send_raw(body, slack.signed_headers(body))
    assert again.status == 200
    assert "已升级" in await customer.hears()
    await customer.hears_nothing_more(0.7)
    case = await case_of(desk, number)
    assert case.escalation_level == 1


async def test_escalating_an_overdue_case_promises_a_time_still_ahead(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed_case(tg, slack, 5126)
    desk.clock.advance(timedelta(days=10))  # long past every deadline
    await choose(slack, AGENT, card, "escalate", number)
    form = await opened_view(slack, "kesu_escalate")
    await slack.submit_view(AGENT, form, {"reason": {"value": input_value("超时未解决")}})
    told = await customer.hears()
    promised = datetime.strptime(told.rsplit("在 ", 1)[1][:16] + " +0800", "%Y-%m-%d %H:%M %z")
    assert promised > desk.clock.now()
    await card_shows(slack, card, "主管")


async def test_an_internal_error_is_reported_to_the_person_and_logged(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    number = await file_complaint(tg.user(5127, "Customer"), "加油站不给开发票")
    card = await card_of(slack, number)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database is locked")

    desk.desk_channel.desk.actions.claim = broken  # type: ignore[method-assign]
    await slack.click(AGENT, "kesu_claim", number, message=card)
    # A claim goes through the inbox: retried with back-off, then parked, then the person is
    # told (once) and the log names the update and the reason.
    await slack.wait_for(lambda: slack.ephemerals(AGENT), what="the person is told")
    assert "未能完成" in slack.ephemerals(AGENT)[-1].text
    await asyncio.sleep(0.3)
    assert len(slack.ephemerals(AGENT)) == 1
    # The error's type and where (its message only at DEBUG: it may quote a customer's
    # words, issue 13); the whole reason is kept with the parked row.
    assert "parked after 5 attempts: RuntimeError at channels/test_slack_desk.py:" in caplog.text
    async with desk.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
        (parked,) = await tx.inbox.listing(["parked"])
    assert parked["error"] == "RuntimeError: database is locked"


async def test_a_file_staff_share_in_the_thread_is_on_record_and_stays_internal(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed_case(tg, slack, 5128)
    photo = slack.add_file(b"site photo", "现场照片.jpg", user=AGENT)
    event = slack.message_event(
        STAFF_CHANNEL, AGENT, "", thread_ts=card.ts, files=[slack.file_object(photo)],
        subtype="file_share",
    )  # fmt: skip
    await slack.send_event(event)
    await customer.hears_nothing_more(0.5)
    history = await desk.runtime.kesu.cases.history(number)  # type: ignore[union-attr]
    assert [e.note for e in history if e.action == "note"] == ["📎 现场照片.jpg"]
