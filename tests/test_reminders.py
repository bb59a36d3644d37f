"""Reminders reach people (issue 14 item 3): the sweep called directly on a frozen clock, the
desk's messages read from the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files

import pytest

from bot.clock import FrozenClock
from bot.desk import Desk
from bot.desk.reminders import left_words
from bot.domain.cases import Priority
from bot.domain.policy import parse_policy
from bot.domain.sla import Sla
from bot.messages import OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.services import CaseService, NewComplaint
from storage.db import Store
from tests.conftest import SHANGHAI
from tests.queries import pending

DESK = "CDESK0001"
AGENT, NIGHT_AGENT = "slack:UAGENT001", "slack:UAGENT002"
ROLES = {"agent": ("UAGENT001",), "oncall": ("SONCALL01",)}


class FakeRoles:
    def people(self, role: str) -> tuple[str, ...]:
        return ROLES.get(role, ())


@dataclass(frozen=True)
class Posted:
    key: str
    text: str
    thread: bool
    not_before: datetime


def wired(service: CaseService, classifier: Classifier) -> Desk:
    """As app.py and the Slack channel wire a desk."""
    desk = Desk(service, classifier, channel="slack", staff_channel=DESK)
    service.listeners.append(desk.projection.on_change)
    service.sweep.reminders.append(desk.reminders.remind)
    desk.reminders.roles = FakeRoles()
    return desk


@pytest.fixture
def desk(service: CaseService, classifier: Classifier) -> Desk:
    return wired(service, classifier)


async def open_case(service: CaseService, priority: Priority, user: str = "42") -> str:
    complaint = NewComplaint("telegram", user, "加油站员工态度恶劣", priority=priority)
    return (await service.open_case(complaint)).number


async def posts(store: Store) -> list[Posted]:
    """The reminders and digests waiting to go out (card edits left out)."""
    async with store.read() as tx:
        rows = await pending(tx, limit=100_000)
    found = []
    for row in rows:
        message = OutgoingMessage.from_payload(row["payload"])
        if message.card is not None and message.card.get("kind") == "reminder":
            found.append(
                Posted(row["dedupe_key"], message.text, message.thread is not None,
                       row["not_before"])
            )  # fmt: skip
    return found


async def card_edits(store: Store, number: str) -> list[str]:
    async with store.read() as tx:
        rows = await pending(tx, limit=100_000)
    return [
        r["dedupe_key"]
        for r in rows
        if r["payload"].get("edit") and r["payload"].get("card", {}).get("number") == number
    ]


async def sweep_at(service: CaseService, clock: FrozenClock, at: datetime) -> list[str]:
    clock.set(at)
    return [f"{a.step}:{a.outcome}" for a in await service.sweep.once(clock.now())]


async def test_each_point_reminds_the_assignee_in_the_thread_and_redraws_the_card(
    desk: Desk, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    opened = clock.now()  # Tuesday 14:30, working time; A: first response within 1 h
    number = await open_case(service, Priority.A)
    await service.claim(number, AGENT)
    before = await posts(store)
    assert await sweep_at(service, clock, opened + timedelta(minutes=30)) == [
        "first_response@50:reminded 1"
    ]
    assert [(p.text, p.thread) for p in (await posts(store))[len(before) :]] == [
        (f"⏰ {{{AGENT}}} 首次响应还剩 30 分钟 first response due in 30 min · {number}", True),
        (f"⏰ {number} 首次响应还剩 30 分钟 first response due in 30 min", False),
    ]
    redrawn = [await card_edits(store, number)]
    await sweep_at(service, clock, opened + timedelta(minutes=48))
    redrawn.append(await card_edits(store, number))
    await sweep_at(service, clock, opened + timedelta(minutes=63))  # swept late: overdue
    redrawn.append(await card_edits(store, number))
    texts = [p.text for p in await posts(store) if p.thread]
    assert texts[-2:] == [
        f"⏰ {{{AGENT}}} 首次响应还剩 12 分钟 first response due in 12 min · {number}",
        f"⏰ {{{AGENT}}} 首次响应已超时 3 分钟 first response overdue by 3 min · {number}",
    ]
    # The card's countdown is redrawn at each point; a newer edit supersedes one not yet sent.
    assert [[e.rsplit(":", 2)[-2] for e in edits] for edits in redrawn] == [
        ["first_response@50"],
        ["first_response@80"],
        ["first_response@100"],
    ]


async def test_a_business_clock_target_reminds_only_in_working_time(
    desk: Desk, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    # B: first response within 4 working hours. Opened Tuesday 17:00: due Wednesday 12:00,
    # its 50% point (2 working hours left) Wednesday 10:00 — never in the night between.
    clock.set(datetime(2026, 11, 17, 17, 0, tzinfo=SHANGHAI))
    number = await open_case(service, Priority.B)
    for day, hour in ((17, 18), (17, 21), (17, 23), (18, 3), (18, 9)):
        at = datetime(2026, 11, day, hour, 0, tzinfo=SHANGHAI)
        assert await sweep_at(service, clock, at) == []
    wednesday_10 = datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)
    assert await sweep_at(service, clock, wednesday_10) == ["first_response@50:reminded 1"]
    [ping, _line] = await posts(store)
    assert ping.text == (
        f"⏰ {{{AGENT}}} 首次响应还剩 2 小时(工作时间 working time) first response due in 2 h "
        f"· {number}"
    )  # unclaimed: the people on duty, here the default role agent


def night_policy_sla() -> Sla:
    """The default policy with a night shift on workdays (18:00–09:00) for role oncall."""
    text = (files("bot") / "policies" / "default.toml").read_text(encoding="utf-8")
    shift = '[[duty.shift]]\ndays = ["workday"]\nfrom = "18:00"\nto = "09:00"\nwho = ["oncall"]\n'
    text = text.replace('default = ["agent"]\n', 'default = ["agent"]\n' + shift, 1)
    policy = parse_policy(text)
    return Sla(policy, policy.calendar.build(SHANGHAI))


async def test_a_calendar_clock_target_at_night_pings_the_people_on_duty_even_if_assigned(
    store: Store, clock: FrozenClock, classifier: Classifier
) -> None:
    service = CaseService(store, night_policy_sla(), clock, SHANGHAI, prefix="TS")
    wired(service, classifier)
    clock.advance(timedelta(hours=7, minutes=30))  # Tuesday 22:00
    number = await open_case(service, Priority.A)
    await service.claim(number, NIGHT_AGENT)
    await sweep_at(service, clock, clock.now() + timedelta(minutes=30))
    [ping, _line] = await posts(store)
    assert ping.text.startswith("⏰ {slack:SONCALL01} 首次响应还剩 30 分钟")  # the on-call group


async def test_a_storm_reaches_each_person_as_one_digest_not_500_posts(
    desk: Desk, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    opened = clock.now()
    numbers = []
    for n in range(500):  # a burst over two minutes, unclaimed: the agent on duty
        numbers.append(await open_case(service, Priority.A, user=str(n)))
        clock.advance(timedelta(milliseconds=240))
    before = await posts(store)
    assert before == []
    at = opened + timedelta(minutes=30)  # 15:00:00, where a 5-minute window starts
    while at <= opened + timedelta(minutes=32, seconds=2):
        await sweep_at(service, clock, at)
        at += timedelta(seconds=1)
    found = await posts(store)
    assert [(p.key.split(":")[1], p.thread) for p in found] == [
        ("ping", True),  # the first case, at once
        ("remind", False),  # its line in the channel
        ("digest", False),  # the other 499, at the window's end
    ]
    digest = found[2]
    head = f"⏰ {{{AGENT}}} 提醒汇总 reminders: 499 件 cases\n• {numbers[1]} "
    assert digest.text.startswith(head)
    assert digest.text.endswith("… 另 469 件 and 469 more")
    assert digest.not_before == opened + timedelta(minutes=35)
    assert len(await card_edits(store, numbers[-1])) == 1  # each card's countdown redrawn


async def test_a_priority_change_makes_new_reminders(
    desk: Desk, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    opened = clock.now()
    number = await open_case(service, Priority.A)
    await service.claim(number, AGENT)
    await sweep_at(service, clock, opened + timedelta(minutes=30))
    await service.correct(number, AGENT, "priority", "B", "不属于紧急")
    # B from 14:30: 4 working hours, due Wednesday 09:30; 50% (2 h left) Tuesday 16:30.
    assert await sweep_at(service, clock, opened + timedelta(minutes=119)) == []
    assert await sweep_at(service, clock, opened + timedelta(minutes=120)) == [
        "first_response@50:reminded 1"
    ]
    pings = [p for p in await posts(store) if p.thread]
    assert [p.text.split(" · ")[0] for p in pings] == [
        f"⏰ {{{AGENT}}} 首次响应还剩 30 分钟 first response due in 30 min",
        f"⏰ {{{AGENT}}} 首次响应还剩 2 小时(工作时间 working time) first response due in 2 h",
    ]


def test_the_time_left_is_said_to_the_second_under_a_minute() -> None:
    """A policy in minutes reminds with seconds left, not "due now" half a minute early."""
    assert left_words("first_response", timedelta(seconds=30), business=False) == (
        "首次响应还剩 30 秒 first response due in 30 s"
    )
    assert left_words("first_response", timedelta(0), business=False).endswith("due now")
    assert left_words("resolution", -timedelta(seconds=90), business=False) == (
        "解决已超时 1 分钟 resolution overdue by 1 min"
    )


async def test_a_customer_who_heard_nothing_for_24_working_hours_has_their_assignee_reminded(
    desk: Desk, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    """定期更新进展: counted from the desk's last message to the customer, in working time; a
    note among staff is not news for the customer; the reminder never escalates."""
    opened = clock.now()  # Tuesday 14:30; C: resolution in 3 working days (Friday 14:30)
    number = await open_case(service, Priority.C)
    await service.claim(number, AGENT)
    clock.set(opened + timedelta(minutes=30))
    await service.reply(number, AGENT, "您好,我们正在核实")  # heard at 15:00
    clock.set(opened + timedelta(days=1))
    await service.add_note(number, AGENT, "已联系站长")  # staff only
    friday_noon = opened + timedelta(days=3, hours=-2, minutes=-30)  # 24 working hours later
    silence = [
        s
        for s in await sweep_at(service, clock, friday_noon - timedelta(minutes=1))
        if s.startswith("silence")
    ]
    assert silence == []
    assert "silence@100:reminded 1" in await sweep_at(service, clock, friday_noon)
    said = (
        "客户已 24 小时(工作时间)未获进展,请告知处理进展 "
        "the customer has heard nothing for 24 h (business): update them"
    )
    assert [(p.text, p.thread) for p in (await posts(store)) if "未获进展" in p.text] == [
        (f"⏰ {{{AGENT}}} {said} · {number}", True),
        (f"⏰ {number} {said}", False),
    ]
    assert (await service.get(number)).escalation_level == 0
    await service.reply(number, AGENT, "站长已同意退款,今天办理")  # a new silence starts
    nxt = [s for s in await sweep_at(service, clock, friday_noon + timedelta(days=3))
           if s.startswith("silence")]  # fmt: skip
    assert nxt == []  # Monday noon: only 9 of 24 working hours
