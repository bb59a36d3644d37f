"""The clock against a real `kesu run` in real time (issue 14): policies of calendar-clock
minute targets, so it passes at any hour. The customer's case reminds the people on duty in
its Slack thread before its first-response deadline and, when that passes unanswered, climbs
one level: the supervisor is pinged and the customer told who handles it. A resolution nobody
answers closes when the confirmation window has passed: the customer is told, the thread and
the card show it, the record says why; one the customer confirmed is left alone. Nobody sweeps
by hand: the process's own scheduler does it."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.channels.conftest import AGENT, BOSS, STAFF_CHANNEL
from tests.channels.kesu_process import KesuProcess, release_long_poll
from tests.channels.test_slack_desk import card_of, card_shows, choose, opened_view
from tests.conftest import SHANGHAI
from tests.fakes.slack import FakeSlack, Message, input_value, select_value
from tests.fakes.telegram import FakeTelegram, FakeUser

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

DEFAULT = (Path(__file__).parents[2] / "bot/policies/default.toml").read_text(encoding="utf-8")
#: Every priority: first response within 1 minute, resolution within 2, around the clock.
MINUTES = re.sub(
    r"^resolution = \{.*\}$",
    'resolution = { minutes = 2, clock = "calendar" }',
    re.sub(
        r"^first_response = \{.*\}$",
        'first_response = { minutes = 1, clock = "calendar" }',
        DEFAULT,
        flags=re.M,
    ),
    flags=re.M,
)


async def files_complaint(customer: FakeUser, words: str, kesu: KesuProcess) -> str:
    """The customer's whole intake dialogue over Telegram; the last thing they hear (已受理 …)."""
    await customer.says(words)
    assert "还有要补充的吗" in await customer.hears(within=30), kesu.tail()
    for label in ("说完了 ✅", "是", "跳过", "跳过", "通过本对话联系我", "退款"):
        await customer.taps(label)
        await customer.hears(count=2 if label == "通过本对话联系我" else 1)
    await customer.taps("确认提交")
    return await customer.hears()


async def test_a_real_kesu_run_reminds_then_escalates_on_its_own_clock(
    tg: FakeTelegram, slack: FakeSlack, tmp_path: Path, cache_dir: Path
) -> None:
    policy = tmp_path / "minutes.toml"
    policy.write_text(MINUTES, encoding="utf-8")
    env = {
        "KESU_POLICY_FILE": str(policy),
        "KESU_SLACK_ROLES": f"agent={AGENT};supervisor={BOSS}",
    }
    url = f"sqlite:///{tmp_path / 'kesu.db'}"
    alice = tg.user(5301, "Alice")
    try:
        async with KesuProcess(tg, url, tmp_path, cache_dir, slack=slack, env=env) as kesu:
            done = await files_complaint(alice, "加油站多收了我二十元油费,还不给退", kesu)
            submitted = time.monotonic()
            assert "1 分钟内" in done, done
            number = re.search(r"TS\d{11}", done)
            assert number, done

            def reminder(text: str) -> bool:
                return "首次响应还剩" in text and f"<@{AGENT}>" in text

            await slack.wait_for_message(STAFF_CHANNEL, reminder, within=45)
            assert time.monotonic() - submitted < 45  # the 50% point: 30 s in

            told = await alice.hears(within=60)  # the breach at 60 s: one level up
            assert f"您的投诉 {number.group()} 已升级,由客服主管负责处理" in told, kesu.tail()
            assert 55 < time.monotonic() - submitted < 70

            def pinged(text: str) -> bool:
                return f"<@{BOSS}>" in text

            await slack.wait_for_message(STAFF_CHANNEL, pinged, within=10)
            assert "Traceback" not in kesu.read_log()
    finally:
        await release_long_poll(tg)


# -- closing (闭环) ------------------------------------------------------------------------------

#: Deadlines 8 hours off around the clock (nothing reminds or escalates meanwhile); the
#: customer's window to answer a resolution: 1 minute around the clock.
CLOSING = re.sub(
    r"^confirm_within = \{.*\}$",
    'confirm_within = { minutes = 1, clock = "calendar" }',
    re.sub(
        r"^(first_response|resolution) = \{.*\}$",
        r'\1 = { hours = 8, clock = "calendar" }',
        DEFAULT,
        flags=re.M,
    ),
    flags=re.M,
)

#: The notes the record and the thread keep on each closure.
UNANSWERED = "客户未在确认期内答复,自动结案 (no answer within the confirmation window)"
CONFIRMED = "客户确认 the customer confirmed it is solved"


def case_number(told: str) -> str:
    """The case number in what the customer was told (已受理 … TS20261117001 …)."""
    found = re.search(r"TS\d{11}", told)
    assert found, told
    return found.group()


async def resolves(slack: FakeSlack, number: str, words: str) -> float:
    """The agent claims the case on its card and resolves it with the card's 解决 form, as
    staff do; when the form was submitted (``time.monotonic``)."""
    card = await card_of(slack, number)
    await slack.click(AGENT, "kesu_claim", number, message=card)
    await card_shows(slack, card, "已认领", f"<@{AGENT}>")
    forms = sum(v.callback_id == "kesu_resolve" for v in slack.views_opened)
    await choose(slack, AGENT, card, "resolve", number)
    form = await opened_view(slack, "kesu_resolve", forms + 1)
    submitted = time.monotonic()
    done = await slack.submit_view(
        AGENT,
        form,
        {
            "outcome": {"value": select_value("compensated")},
            "reason": {"value": input_value(words)},
        },
    )
    assert done.ok, done.body
    return submitted


async def kesu_case_show(kesu: KesuProcess, number: str) -> dict[str, Any]:
    """``kesu case show NUMBER --json``, as an operator runs it beside the process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "case", "show", number, "--json",
        cwd=kesu.workdir, env=kesu.environment(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode(errors="replace")
    shown: dict[str, Any] = json.loads(out)
    return shown


def quoted(text: str) -> str:
    """Words as the thread quotes them (none of these need Slack's escaping)."""
    return "\n".join(f">{line}" for line in text.split("\n"))


def thread_of(slack: FakeSlack, card: Message) -> list[str]:
    """The case's thread as staff read it; a receipt's time shown as ``<at>``."""
    return [
        re.sub(r"delivered \d\d-\d\d \d\d:\d\d:\d\d", "delivered <at>", slack.text_of(m))
        for m in slack.thread(STAFF_CHANNEL, card.ts)
    ]


def told_line(head: str, note: str, sent: str) -> str:
    """A thread line of a change the customer was told of: the note, then the receipt and
    the full text they got."""
    return (
        f"{head}\n{quoted(note)}\n✅ 已送达客户 delivered <at>\n"
        f"客户收到的全文 what the customer got:\n{quoted(sent)}"
    )


async def thread_reads(slack: FakeSlack, card: Message, lines: list[str]) -> None:
    """Waits for the thread to read ``lines`` (the desk posts at Slack's pace: 1 a second)."""
    await slack.wait_for(lambda: thread_of(slack, card) == lines, 20, f"thread {lines}")


def resolution_notice(number: str, words: str, case: dict[str, Any]) -> str:
    """What the customer is sent on resolution: the window's end is the case's own
    resolved_at plus the policy's minute, in the desk's time zone."""
    window = datetime.fromisoformat(case["resolved_at"]) + timedelta(minutes=1)
    return (
        f"您的投诉 {number} 已处理。\n处理结果:{words}\n"
        f"问题是否得到解决?请点击下方按钮告诉我们;{window.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
        " 前未答复的,视为已解决并结案。"
    )


async def test_a_real_kesu_run_closes_an_unanswered_resolution_on_its_own_clock(
    tg: FakeTelegram, slack: FakeSlack, tmp_path: Path, cache_dir: Path
) -> None:
    """Two resolutions a few seconds apart: Bob taps 已解决 at once, Alice says nothing. A
    minute after hers the process closes Alice's case by itself and tells her; Bob, whose
    window passed before hers, hears nothing more — his case was closed by his own answer."""
    policy = tmp_path / "closing.toml"
    policy.write_text(CLOSING, encoding="utf-8")
    env = {
        "KESU_POLICY_FILE": str(policy),
        "KESU_SLACK_ROLES": f"agent={AGENT};supervisor={BOSS}",
    }
    url = f"sqlite:///{tmp_path / 'kesu.db'}"
    alice, bob = tg.user(5311, "Alice"), tg.user(5312, "Bob")
    refund = "已为您退回多收的二十元油费。"
    voucher = "已催促网点今天派送,并补偿您五元运费券。"
    try:
        async with KesuProcess(tg, url, tmp_path, cache_dir, slack=slack, env=env) as kesu:
            silent, confirming = map(
                case_number,
                await asyncio.gather(
                    files_complaint(alice, "加油站多收了我二十元油费,还不给退", kesu),
                    files_complaint(bob, "快递三天了还没派送,电话也打不通", kesu),
                ),
            )

            # Bob's case is resolved first; he answers 已解决 straight away.
            await resolves(slack, confirming, voucher)
            bob_resolution = await bob.hears()
            assert bob.last.buttons == ["已解决 ✅", "未解决"], bob.last
            await bob.taps("已解决 ✅")
            assert await bob.hears() == (
                f"感谢您的确认,投诉 {confirming} 已结案。如有新的问题,直接发消息给我们即可。"
            )

            # Alice's a few seconds later; she never answers.
            resolved = await resolves(slack, silent, refund)
            alice_resolution = await alice.hears()
            assert alice.last.buttons == ["已解决 ✅", "未解决"], alice.last
            closed = await alice.hears(within=80)
            waited = time.monotonic() - resolved
            assert closed == (
                f"您的投诉 {silent} 已处理完毕。确认期内未收到您的答复,已自动结案。"
                "如问题仍未解决,直接发消息告诉我们即可。"
            ), kesu.tail()
            assert alice.last.buttons == []  # nothing left to answer
            assert 58 < waited < 75, waited  # the window is one minute; the sweep, every second
            await bob.hears_nothing_more(3.0)  # his window passed before Alice's
            await alice.hears_nothing_more(0)  # and she was told once

            # The record: closed by the system for want of an answer, a minute after the
            # resolution; Bob's by his own answer, once.
            alice_case, bob_case = await asyncio.gather(
                kesu_case_show(kesu, silent), kesu_case_show(kesu, confirming)
            )
            assert alice_resolution == resolution_notice(silent, refund, alice_case)
            assert bob_resolution == resolution_notice(confirming, voucher, bob_case)
            assert [(e["actor"], e["action"], e["note"]) for e in alice_case["events"]] == [
                (f"customer:telegram:{alice.id}", "open", None),
                (f"slack:{AGENT}", "claim", None),
                (f"slack:{AGENT}", "resolve", refund),
                ("system", "close", UNANSWERED),
            ]
            assert alice_case["status"] == "closed"
            window = datetime.fromisoformat(alice_case["closed_at"]) - datetime.fromisoformat(
                alice_case["resolved_at"]
            )
            assert timedelta(minutes=1) <= window < timedelta(minutes=1, seconds=10), window
            assert [(e["actor"], e["action"], e["note"]) for e in bob_case["events"]] == [
                (f"customer:telegram:{bob.id}", "open", None),
                (f"slack:{AGENT}", "claim", None),
                (f"slack:{AGENT}", "resolve", voucher),
                (f"customer:telegram:{bob.id}", "close", CONFIRMED),
            ]
            assert bob_case["status"] == "closed"

            # Staff see it: each thread tells the story, each card is closed.
            alice_card, bob_card = await card_of(slack, silent), await card_of(slack, confirming)
            resolved_line = f"✅ <@{AGENT}> 已解决 resolved 已补偿"
            await thread_reads(
                slack,
                alice_card,
                [
                    f"✋ <@{AGENT}> 认领了本案 claimed the case",
                    told_line(resolved_line, refund, alice_resolution),
                    told_line("🏁 system 已结案 closed", UNANSWERED, closed),
                ],
            )
            await thread_reads(
                slack,
                bob_card,
                [
                    f"✋ <@{AGENT}> 认领了本案 claimed the case",
                    told_line(resolved_line, voucher, bob_resolution),
                    f"🏁 客户 customer 已结案 closed\n{quoted(CONFIRMED)}",
                ],
            )
            for card, number in ((alice_card, silent), (bob_card, confirming)):
                shown = await card_shows(slack, card, f"🏁 {number} · 已结案", "🏁 已结案 closed")
                assert "认领 Claim" not in shown, shown  # nothing left to do but look
                assert "回复客户 Reply" not in shown, shown

            closes = [line.split(": ", 1)[1] for line in kesu.lines("close by")]
            assert closes == [
                f"case {confirming}: close by customer:telegram:{bob.id} (resolved -> closed)",
                f"case {silent}: close by system (resolved -> closed)",
            ], kesu.tail()
            assert "Traceback" not in kesu.read_log()
    finally:
        await release_long_poll(tg)
