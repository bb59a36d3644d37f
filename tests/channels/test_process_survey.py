"""The revisit survey (回访, issue 15) against a real `kesu run` in real time: a policy of
calendar-clock minutes, so it passes at any hour. Two complaints that ask for haste (尽快: the
intake rates them B, so the survey is mandatory) are resolved in Slack and confirmed by their
customers; a minute after each closure the process's own sweep revisits the customer in their
Telegram chat. Alice is satisfied: her answers and her comment are kept, the case stays
closed, the thread and the card show them. Bob says it is not solved: the case reopens one
level up, he is told who handles it now and by when, and the thread says why. Nobody sweeps
by hand.

The reminder and the expiry (3 and 4 minutes after a closure with this policy) are left to
the in-process transcripts of tests/flows/test_survey.py: waiting for them here would take
the test past its four-minute budget for steps the same sweep already shows acting."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.channels.conftest import AGENT, BOSS, STAFF_CHANNEL
from tests.channels.kesu_process import KesuProcess, release_long_poll
from tests.channels.test_process_clock import (
    CONFIRMED,
    DEFAULT,
    case_number,
    files_complaint,
    kesu_case_show,
    quoted,
    resolves,
    thread_reads,
    told_line,
)
from tests.channels.test_slack_desk import card_of, card_shows
from tests.conftest import SHANGHAI
from tests.fakes.slack import FakeSlack, Message
from tests.fakes.telegram import FakeTelegram, FakeUser

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

#: Deadlines 8 hours off around the clock (nothing reminds or escalates meanwhile); the
#: survey a minute after the closure, its reminder 2 minutes and its expiry 3 minutes after
#: the sending, around the clock.
SURVEYING = DEFAULT
for _key, _target in (
    ("first_response", "hours = 8"),
    ("resolution", "hours = 8"),
    ("delay", "minutes = 1"),
    ("remind_after", "minutes = 2"),
    ("expire_after", "minutes = 3"),
):
    SURVEYING = re.sub(
        rf"^{_key} = \{{.*\}}$", f'{_key} = {{ {_target}, clock = "calendar" }}', SURVEYING,
        flags=re.M,
    )  # fmt: skip

#: What the record and the thread keep of the survey (bot/services/survey.py).
SENT = "回访已发送 survey sent"
ANSWERED = "客户完成回访 survey answered"
REOPENED = "回访:客户不满意,重新处理 survey: the customer is not satisfied, handling restarts"
SCORES = ["1", "2", "3", "4", "5"]


async def confirms(customer: FakeUser, number: str) -> tuple[str, float]:
    """The customer answers the resolution with 已解决 ✅ at once: what the resolution said,
    and when they were told the case is closed (the emulator's ``time.monotonic``)."""
    resolution = await customer.hears()
    assert customer.last.buttons == ["已解决 ✅", "未解决"], customer.last
    await customer.taps("已解决 ✅")
    assert await customer.hears() == (
        f"感谢您的确认,投诉 {number} 已结案。如有新的问题,直接发消息给我们即可。"
    )
    return resolution, customer.last.at


async def is_revisited(customer: FakeUser, number: str, closed: float) -> None:
    """The survey's first question reaches the customer by itself, a minute after they were
    told the case is closed (the sweep runs every second)."""
    assert await customer.hears(within=90) == (
        f"您好!关于您的投诉 {number},想请您花一分钟做个回访。\n问题是否得到解决?"
    )
    assert customer.last.buttons == ["是", "否"], customer.last
    waited = customer.last.at - closed
    assert 59 < waited < 70, waited


def survey_answers(database: Path, number: str) -> dict[str, str]:
    """What the database keeps of the answers to the case's first closure's survey."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT a.question, a.value FROM survey_answers a JOIN cases c ON c.id = a.case_id"
            " WHERE c.number = ? AND a.round = 0 ORDER BY a.id",
            (number,),
        ).fetchall()
    return {str(question): str(value) for question, value in rows}


def history(case: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(e["actor"], e["action"], e["note"]) for e in case["events"]]


def survey_line(slack: FakeSlack, card: Message) -> str | None:
    """The card's 📋 回访 line as it reads now (None: the card has none)."""
    lines = [
        str(element["text"])
        for block in slack.message(STAFF_CHANNEL, card.ts).blocks or []
        if block["type"] == "context"
        for element in block["elements"]
        if str(element.get("text", "")).startswith("📋")
    ]
    return lines[0] if lines else None


async def test_a_real_kesu_run_revisits_closed_cases_on_its_own_clock(
    tg: FakeTelegram, slack: FakeSlack, tmp_path: Path, cache_dir: Path
) -> None:
    """Alice and Bob file B complaints, staff resolve them in Slack, both confirm at once. A
    minute after each closure the process sends the survey; Alice answers 是, 4, 5 and a
    comment, Bob answers 否 and his case goes to the supervisor."""
    policy = tmp_path / "surveying.toml"
    policy.write_text(SURVEYING, encoding="utf-8")
    env = {
        "KESU_POLICY_FILE": str(policy),
        "KESU_SLACK_ROLES": f"agent={AGENT};supervisor={BOSS}",
    }
    database = tmp_path / "kesu.db"
    alice, bob = tg.user(5321, "Alice"), tg.user(5322, "Bob")
    refund = "已为您退回多收的二十元油费。"
    voucher = "已催促网点今天派送,并补偿您五元运费券。"
    comment = "退款很快,谢谢"
    try:
        async with KesuProcess(
            tg, f"sqlite:///{database}", tmp_path, cache_dir, slack=slack, env=env
        ) as kesu:
            filed = await asyncio.gather(
                files_complaint(alice, "加油站多收了我二十元油费,还不给退,请尽快处理", kesu),
                files_complaint(bob, "快递三天了还没派送,电话也打不通,请尽快处理", kesu),
            )
            satisfied, unhappy = map(case_number, filed)
            for told in filed:
                assert "我们将在 8 小时内" in told, told  # B: this policy's 8 hours

            # Resolved in Slack, each confirmed by its customer straight away: closed.
            await resolves(slack, satisfied, refund)
            alice_resolution, alice_closed = await confirms(alice, satisfied)
            await resolves(slack, unhappy, voucher)
            bob_resolution, bob_closed = await confirms(bob, unhappy)

            async def alice_is_satisfied() -> None:
                await is_revisited(alice, satisfied, alice_closed)
                await alice.taps("是")
                assert await alice.hears() == "您对解决方案是否满意?(1 很不满意 … 5 很满意)"
                assert alice.last.buttons == SCORES
                await alice.taps("4")
                assert await alice.hears() == "整体服务体验如何?(1 很差 … 5 很好)"
                assert alice.last.buttons == SCORES
                await alice.taps("5")
                assert await alice.hears() == (
                    "还有什么想对我们说的吗?直接回复文字即可,或点「跳过」。"
                )
                assert alice.last.buttons == ["跳过"]
                await alice.says(comment)
                assert await alice.hears() == "感谢您的回访意见!"

            async def bob_is_not() -> str:
                await is_revisited(bob, unhappy, bob_closed)
                await bob.taps("否")
                told = await bob.hears()
                assert bob.last.buttons == []
                return told

            _, bob_told = await asyncio.gather(alice_is_satisfied(), bob_is_not())
            await alice.hears_nothing_more(2.0)  # no reminder now: the survey is over
            await bob.hears_nothing_more(0)

            # The records. Alice's case stays closed with her answers and comment.
            alice_case, bob_case = await asyncio.gather(
                kesu_case_show(kesu, satisfied), kesu_case_show(kesu, unhappy)
            )
            assert (alice_case["status"], alice_case["priority"], alice_case["survey"]) == (
                "closed", "B", "answered",
            )  # fmt: skip
            scores = "问题是否解决 solved: y; 方案满意度 solution: 4; 服务体验 service: 5"
            assert history(alice_case) == [
                (f"customer:telegram:{alice.id}", "open", None),
                (f"slack:{AGENT}", "claim", None),
                (f"slack:{AGENT}", "resolve", refund),
                (f"customer:telegram:{alice.id}", "close", CONFIRMED),
                ("system", "survey", SENT),
                ("system", "survey", f"{ANSWERED}: {scores}"),
                (f"customer:telegram:{alice.id}", "survey", f"意见 comment: {comment}"),
            ]
            sent_at = datetime.fromisoformat(alice_case["events"][4]["at"])
            waited = sent_at - datetime.fromisoformat(alice_case["events"][3]["at"])
            assert timedelta(minutes=1) <= waited < timedelta(minutes=1, seconds=10), waited
            assert survey_answers(database, satisfied) == {
                "solved": "y", "solution": "4", "service": "5", "comment": comment,
            }  # fmt: skip

            # Bob's is handled again by the supervisor (level 1), unclaimed, with fresh
            # deadlines; he was told by when.
            assert (
                bob_case["status"], bob_case["priority"], bob_case["escalation_level"],
                bob_case["reopen_count"], bob_case["survey"], bob_case["assignee"],
            ) == ("reopened", "B", 1, 1, "reopened", None)  # fmt: skip
            reopening = bob_case["events"][-1]
            due = datetime.fromisoformat(bob_case["resolution_due"])
            assert due == datetime.fromisoformat(reopening["at"]) + timedelta(hours=8)
            assert bob_told == (
                f"很抱歉没有让您满意。投诉 {unhappy} 已重新处理,由客服主管跟进,"
                f"我们将在 {due.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 前给您答复。"
            )
            reason = f"{REOPENED}: 问题是否解决 solved: n"
            assert history(bob_case) == [
                (f"customer:telegram:{bob.id}", "open", None),
                (f"slack:{AGENT}", "claim", None),
                (f"slack:{AGENT}", "resolve", voucher),
                (f"customer:telegram:{bob.id}", "close", CONFIRMED),
                ("system", "survey", SENT),
                (f"customer:telegram:{bob.id}", "reopen", reason),
            ]
            assert survey_answers(database, unhappy) == {"solved": "n"}

            # Staff see it in each thread: the survey sent, then answered or reopened.
            alice_card, bob_card = await card_of(slack, satisfied), await card_of(slack, unhappy)
            resolved_line = f"✅ <@{AGENT}> 已解决 resolved 已补偿"
            customer_closed = f"🏁 客户 customer 已结案 closed\n{quoted(CONFIRMED)}"
            survey_sent = f"📋 system 客户回访 revisit survey\n{quoted(SENT)}"
            await thread_reads(
                slack,
                alice_card,
                [
                    f"✋ <@{AGENT}> 认领了本案 claimed the case",
                    told_line(resolved_line, refund, alice_resolution),
                    customer_closed,
                    survey_sent,
                    f"📋 system 客户回访 revisit survey\n{quoted(f'{ANSWERED}: {scores}')}",
                    "📋 客户 customer 客户回访 revisit survey\n"
                    + quoted(f"意见 comment: {comment}"),
                ],
            )
            await thread_reads(
                slack,
                bob_card,
                [
                    f"✋ <@{AGENT}> 认领了本案 claimed the case",
                    told_line(resolved_line, voucher, bob_resolution),
                    customer_closed,
                    survey_sent,
                    f"🔁 客户 customer 重新打开 reopened <@{BOSS}>\n{quoted(reason)}",
                ],
            )
            shown = await card_shows(slack, bob_card, f"🔁 {unhappy} · 重新打开", "主管 supervisor")
            assert "未认领 unclaimed" in shown, shown
            assert "认领 Claim" in shown, shown  # the supervisors' to take up again
            await card_shows(slack, alice_card, f"🏁 {satisfied} · 已结案")

            # Each card's 📋 回访 line: the survey's state and every answer of the closure it
            # is about (the desk edits cards at Slack's pace: a few seconds' grace).
            expected = [
                "📋 回访 survey: 已完成 answered\n问题是否解决 solved: 是 yes · "
                f"方案满意度 solution: 4 · 服务体验 service: 5 · 意见 comment: {comment}",
                "📋 回访 survey: 客户不满意,已重新处理 not satisfied: reopened\n"
                "问题是否解决 solved: 否 no",
            ]

            def survey_lines() -> list[str | None]:
                return [survey_line(slack, alice_card), survey_line(slack, bob_card)]

            with contextlib.suppress(AssertionError):  # the assertion below shows the diff
                await slack.wait_for(lambda: survey_lines() == expected, 10, "survey lines")
            assert survey_lines() == expected

            assert "Traceback" not in kesu.read_log()
            assert not kesu.lines(" ERROR "), kesu.tail()
    finally:
        await release_long_poll(tg)
