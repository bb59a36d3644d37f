"""Raised flags are reported to the supervisors (issue 15 item 4): a 热点 case when it is
flagged (DOMAIN.md §5: within one working day), a 重大 one at once and then weekly while it is
open; each report once (a step of the clock), with why the case is flagged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.desk import Desk
from bot.messages import OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.services import CaseService, NewComplaint
from storage.db import Store
from tests.queries import pending

AGENT = "slack:UAGENT001"


@pytest.fixture
def desk(service: CaseService, classifier: Classifier) -> Desk:
    desk = Desk(service, classifier, channel="slack", staff_channel="CDESK0001")
    service.listeners.append(desk.projection.on_change)
    service.sweep.reports.append(desk.reports.report)
    desk.projection.people = lambda role: {"supervisor": ("USUPER01",)}.get(role, ())
    return desk


async def reports(store: Store) -> list[str]:
    async with store.read() as tx:
        rows = await pending(tx, limit=10_000)
    found = [OutgoingMessage.from_payload(r["payload"]) for r in rows]
    return [m.text for m in found if m.card and m.card.get("kind") == "flag_report"]


async def test_a_hot_case_is_reported_once_with_why(
    desk: Desk, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    numbers = []
    for user in ("1", "2", "3"):  # three customers about one party: 热点
        complaint = NewComplaint("telegram", user, "多收了二十元", category="billing",
                                 party="三堰加油站")  # fmt: skip
        numbers.append((await service.open_case(complaint)).number)
    acted = [(a.number, a.step, a.outcome) for a in await service.sweep.once(clock.now())]
    assert [(n, s, o) for n, s, o in acted if s.startswith("report")] == [
        (n, "report@hot", "reported") for n in numbers
    ]
    first = (await reports(store))[0]
    assert first.splitlines() == [
        f"⚠️ 热点投诉通报 hot case reported · {numbers[0]} {{slack:USUPER01}}",
        "类别 billing · 对象 三堰加油站 · 新建 · 负责人 未认领 unclaimed · 层级 0",
        f"原因 why: 热点:30 天内 3 位客户投诉同一对象「三堰加油站」({'、'.join(numbers)}) "
        "hot: 3 customers about one party within 30 days",
    ]
    clock.advance(timedelta(days=6))
    assert [a for a in await service.sweep.once(clock.now()) if a.step.startswith("report")] == []
    assert len(await reports(store)) == 3


async def test_a_major_case_is_reported_at_once_then_weekly_until_closed(
    desk: Desk, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    complaint = NewComplaint("telegram", "1", "加油站着火了,有人受伤", category="product")
    number = (await service.open_case(complaint)).number
    await service.correct(number, AGENT, "severity", "major", "有人受伤,媒体已到场")
    assert [a.step for a in await service.sweep.once(clock.now())] == ["report@major"]
    clock.advance(timedelta(days=7))
    steps = [a.step for a in await service.sweep.once(clock.now())]
    assert "report@week1" in steps
    clock.advance(timedelta(days=21))  # kesu was down for three weeks: one late report
    steps = [a.step for a in await service.sweep.once(clock.now())]
    assert [s for s in steps if s.startswith("report")] == ["report@week4"]
    texts = await reports(store)
    assert texts[0].startswith(f"⚠️ 重大投诉通报 major case reported · {number}")
    assert texts[1].startswith(f"⚠️ 重大投诉第 1 周跟进 weekly report on a major case · {number}")
    assert texts[0].splitlines()[-1] == "原因 why: 有人受伤,媒体已到场"
    await service.claim(number, AGENT)
    await service.resolve(number, AGENT, "已处理")
    await service.closure.confirmed(number, "customer:telegram:1", 0)
    clock.advance(timedelta(days=14))
    assert [a for a in await service.sweep.once(clock.now()) if a.step.startswith("report")] == []


async def test_a_party_written_like_a_mention_stays_words(
    desk: Desk, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    complaint = NewComplaint("telegram", "1", "乱收费", party="{slack:UBOSS0001} 加油站")
    number = (await service.open_case(complaint)).number
    await service.correct(number, AGENT, "severity", "hot", "可能被媒体曝光")
    await service.sweep.once(clock.now())
    text = (await reports(store))[0]
    assert "对象 (slack:UBOSS0001) 加油站" in text
    assert "{slack:UBOSS0001}" not in text
