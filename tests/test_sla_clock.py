"""The SLA clock (时限): it starts when the case is received or reopened, stands still while
waiting for the customer, and every deadline — also after a correction months later — is
computed from that start and that credit, never from the receipt time alone."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import app
from bot.clock import FrozenClock
from bot.config import Settings, load_policy
from bot.desk import Desk
from bot.dispatcher import Dispatcher
from bot.domain.cases import Case, DomainError, Priority, Risk, Severity, Status
from bot.domain.sla import Sla
from bot.nlp.classifier import Classifier
from bot.services import CaseService, NewComplaint
from bot.services.rules import corrected, reopened, resumed
from tests.conftest import SHANGHAI
from tests.dialogue import Chat


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def complaint(**overrides: object) -> NewComplaint:
    return replace(NewComplaint("telegram", "42", "加油站多收了我二十元油费,还不给退"), **overrides)


async def test_a_correction_after_a_reopen_counts_from_the_reopen(
    service: CaseService, clock: FrozenClock
) -> None:
    # Found by a new user: reopened on 12-17, raised to B, due 11-18 — a month overdue.
    case = await service.open_case(complaint())  # Tue 2026-11-17 14:30, C
    await service.claim(case.number, "slack:U1")
    await service.resolve(case.number, "slack:U1", "已退款")
    await service.close(case.number, "customer:telegram:42")
    clock.set(local(2026, 12, 17, 10))
    again = await service.reopen(case.number, "survey", "回访:问题未解决")
    assert again.sla_started_at == clock.now()
    raised = await service.correct(case.number, "slack:U2", "priority", "B", "客户多次来电")
    assert raised.first_response_due == local(2026, 12, 17, 14)  # 4 working hours
    assert raised.resolution_due == local(2026, 12, 18, 10)  # one working day
    assert raised.received_at == case.received_at  # 受理时间 is evidence: never moves


async def test_receipt_is_the_first_message_and_the_clock_starts_at_submission(
    service: CaseService, clock: FrozenClock
) -> None:
    # Written at 23:50 on Monday, submitted after midnight: the number carries Monday's date,
    # and the clock starts at the submission (Tuesday 00:10, outside hours: 09:00 + 4 h).
    clock.set(local(2026, 11, 17, 8))
    case = await service.open_case(
        complaint(
            priority=Priority.B,
            received_at=local(2026, 11, 16, 23, 50),
            sla_started_at=local(2026, 11, 17, 0, 10),
        )
    )
    assert case.number == "TS20261116001"
    assert case.received_at == local(2026, 11, 16, 23, 50)
    assert case.sla_started_at == local(2026, 11, 17, 0, 10)
    assert case.first_response_due == local(2026, 11, 17, 13)


async def test_platform_times_ahead_of_ours_are_clamped_to_now(
    service: CaseService, clock: FrozenClock
) -> None:
    ahead = clock.now() + timedelta(minutes=3)
    case = await service.open_case(complaint(received_at=ahead, sla_started_at=ahead))
    assert (case.received_at, case.sla_started_at) == (clock.now(), clock.now())
    # A submission dated before the first message (skewed clocks) starts at the receipt.
    early = await service.open_case(
        complaint(received_at=clock.now(), sla_started_at=clock.now() - timedelta(hours=1))
    )
    assert early.sla_started_at == early.received_at


async def test_the_pause_credit_survives_a_correction(
    service: CaseService, clock: FrozenClock
) -> None:
    case = await service.open_case(complaint(priority=Priority.B))  # Tue 14:30
    await service.claim(case.number, "slack:U1")
    await service.start(case.number, "slack:U1")
    await service.pause_clock(case.number, "slack:U1", "等待客户提供加油小票照片")
    clock.advance(timedelta(hours=3))  # 17:30: three working hours stood still
    resumed_case = await service.resume_clock(case.number, "customer:telegram:42")
    assert resumed_case.resolution_due == local(2026, 11, 18, 17, 30)
    assert (resumed_case.paused_seconds, resumed_case.paused_business_seconds) == (10800, 10800)
    lowered = await service.correct(case.number, "slack:U1", "priority", "C", "影响较小")
    assert lowered.resolution_due == local(2026, 11, 20, 17, 30)  # 3 working days + 3 h
    back = await service.correct(case.number, "slack:U1", "priority", "B", "改回")
    assert back.resolution_due == resumed_case.resolution_due


async def test_a_backlog_after_downtime_is_received_when_the_customer_wrote(
    dispatcher: Dispatcher, service: CaseService, clock: FrozenClock
) -> None:
    # kesu was down overnight; the customer's words of 23:50 are processed at 09:05.
    clock.set(local(2026, 11, 18, 9, 5))
    chat = Chat(dispatcher, "3001", None, "Wang")
    number = await chat.file_complaint(
        "快递三天了还没派送,打客服电话也没人接", sent_at=local(2026, 11, 17, 23, 50)
    )
    case = await service.get(number)
    assert number.startswith("TS20261117")
    assert case.received_at == local(2026, 11, 17, 23, 50)
    assert case.sla_started_at == clock.now()  # the submitting button press carries no date


# -- property: whatever happened to a case, a correction never yields a deadline before the
# -- SLA clock's start, nor a resolution before the first response -------------------------

_POLICY = load_policy(None)
_SLA = Sla(_POLICY, _POLICY.calendar.build(SHANGHAI))
_START = datetime(2025, 1, 1, tzinfo=UTC)
_instants = st.integers(0, 2 * 366 * 24 * 60).map(lambda m: _START + timedelta(minutes=m))
_minutes = st.integers(1, 30 * 24 * 60).map(lambda m: timedelta(minutes=m))
_priorities = st.sampled_from(list(Priority))


def _case(priority: Priority, at: datetime) -> Case:
    due = _SLA.deadlines(priority, at)
    return Case(
        id=1, number="TS20250101001", customer_id=1, channel="telegram", status=Status.NEW,
        priority=priority, severity=Severity.GENERAL, risk=Risk.NONE, category="other",
        subject="", content="x", party=None, reference=None, desired_outcome=None,
        contact=None, assignee=None, escalation_level=0, reopen_count=0, repeat_of=None,
        resolution=None, outcome=None, headcount=None, language=None, received_at=at,
        sla_started_at=at, paused_seconds=0, paused_business_seconds=0, keywords=[],
        first_response_due=due.first_response, resolution_due=due.resolution,
        first_responded_at=None, resolved_at=None, closed_at=None, clock_paused_at=None,
        version=1, created_at=at, updated_at=at,
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    opened=_instants,
    priority=_priorities,
    events=st.lists(
        st.tuples(st.sampled_from(["pause", "reopen"]), _minutes, _minutes), max_size=4
    ),
    new_priority=_priorities,
)
def test_a_correction_never_yields_a_deadline_before_the_clock_started(
    opened: datetime,
    priority: Priority,
    events: list[tuple[str, timedelta, timedelta]],
    new_priority: Priority,
) -> None:
    case, now = _case(priority, opened), opened
    for kind, wait, length in events:
        now += wait
        if kind == "reopen":
            case = replace(case, **reopened(_SLA, case, now))
        else:
            case = replace(case, clock_paused_at=now)
            now += length
            case = replace(case, **resumed(_SLA, case, now))
    fixed = replace(case, **corrected(_SLA, case, "priority", new_priority.value))
    assert fixed.first_response_due > fixed.sla_started_at >= opened
    assert fixed.resolution_due >= fixed.first_response_due


# -- a deployment that shortens its escalation chain ------------------------------------------

SHORT_CHAIN = (
    (Path(__file__).parents[1] / "bot/policies/default.toml")
    .read_text(encoding="utf-8")
    .split("[[escalation]]")[0]
    + '[[escalation]]\nname_zh = "一线客服"\nname_en = "front line"\nrole = "agent"\n'
    + 'title_zh = "客服专员"\ntitle_en = "customer service agent"\n'
    + '[[escalation]]\nname_zh = "客服主管"\nname_en = "supervisor"\nrole = "supervisor"\n'
    + 'title_zh = "客服主管"\ntitle_en = "customer service supervisor"\n'
)


async def test_cases_above_a_shortened_chain_are_handled_by_its_top_and_named_at_start(
    no_env_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    classifier: Classifier,
) -> None:
    monkeypatch.setenv("KESU_DATABASE_URL", f"sqlite:///{no_env_file / 'kesu.db'}")
    clock = FrozenClock(local(2026, 11, 17, 14, 30))
    k = await app.build(Settings(), clock=clock, upgrade=True)
    try:
        case = await k.cases.open_case(complaint())
        for _ in range(3):  # the default chain's task group: level 3
            await k.cases.escalate(case.number, "slack:U9", "超时未处理")
    finally:
        await k.close()
    short = no_env_file / "short.toml"
    short.write_text(SHORT_CHAIN, encoding="utf-8")
    monkeypatch.setenv("KESU_POLICY_FILE", str(short))
    with caplog.at_level(logging.WARNING):
        k = await app.build(Settings(), clock=clock, upgrade=True)
    try:
        warned = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and case.number in r.getMessage()
        ]
        assert warned == [
            "open cases at a level the policy's escalation chain no longer has; its top level "
            f"1 (supervisor) handles them: {case.number} (level 3)"
        ]
        desk = Desk(
            k.cases,
            Classifier.load("default", no_env_file / "cache"),
            channel="slack",
            staff_channel="C1",
        )
        async with k.store.read() as tx:
            card = await desk.projection.card(tx, await k.cases.get(case.number))
        assert (card["escalation_zh"], card["escalation_en"]) == ("客服主管", "supervisor")
        late = await k.cases.get(case.number)
        # Telling the customer who handles a late case now: the top level's own time.
        promised = k.cases.notices.escalation_promise(late, late.resolution_due + timedelta(days=1))
        assert promised > late.resolution_due
        with pytest.raises(DomainError, match="top of the escalation chain"):
            await k.cases.escalate(case.number, "slack:U9", "再次升级")
        resolved = await k.cases.claim(case.number, "slack:U9")
        assert resolved.escalation_level == 3  # the stored level is kept; only reading clamps
    finally:
        await k.close()
