"""The burst alert (预警机制: 投诉突增, issue 15 item 4), against four weeks of history: a
category's intake in the last hour above factor × the mean of the same hour of the week over
the previous four weeks, and at least the minimum, raises one alert for the category — told
to the supervisors in their channel — until the hour's intake is back within that, when they
hear it is over. Moved time, an injected clock, both backends; two instances checking at
once raise it once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Connection

from bot.clock import FrozenClock
from bot.desk import Desk
from bot.domain.policy import Policy
from bot.messages import OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.services import CaseService, NewComplaint
from bot.services.bursts import Bursts
from storage.db import Store
from tests.conftest import Backend
from tests.queries import pending
from tests.storage import rows as written

SUPERVISORS = "CSUPERV01"
RULE = Policy.Burst()  # the default: factor 2, minimum 5, four weeks
WEEK = timedelta(days=7)


@pytest.fixture
def desk(service: CaseService, classifier: Classifier) -> Desk:
    desk = Desk(service, classifier, channel="slack", staff_channel="CDESK0001",
                report_channel=SUPERVISORS)  # fmt: skip
    service.listeners.append(desk.projection.on_change)
    desk.projection.people = lambda role: {"supervisor": ("USUPER01",)}.get(role, ())
    return desk


@pytest.fixture
def bursts(store: Store, desk: Desk) -> Bursts:
    bursts = Bursts(store, RULE)
    bursts.announcers.append(desk.reports.alert)
    return bursts


async def history(store: Store, now: datetime, per_week: dict[int, int], **where: object) -> None:
    """``per_week[k]`` billing complaints in the hour before ``now`` k weeks back, spread over
    it; and, each of those weeks, a busy hour at another time that must not count."""

    def write(sync: Connection) -> None:
        customer_id = written.customer(sync, now - 10 * WEEK)
        n = 100 * len(per_week)
        for weeks, count in per_week.items():
            end = now - weeks * WEEK
            for i in range(count):
                n += 1
                at = end - timedelta(minutes=55) + timedelta(minutes=50 * i / max(count, 1))
                written.case(sync, customer_id, at, n, category="billing", **where)
            for _ in range(8):  # three hours earlier the same day: not the same hour
                n += 1
                written.case(sync, customer_id, end - timedelta(hours=3), n, category="billing")

    await store.write_sync(write)


async def complaints(service: CaseService, clock: FrozenClock, count: int) -> None:
    """``count`` billing complaints through intake, a minute apart."""
    for i in range(count):
        user = f"{clock.now():%H%M%S}{i}"
        await service.open_case(NewComplaint("telegram", user, "多扣了钱", category="billing"))
        clock.advance(timedelta(minutes=1))


async def said(store: Store) -> list[tuple[str, str]]:
    """(recipient, text) of every alert queued."""
    async with store.read() as tx:
        rows = await pending(tx, limit=10_000)
    found = [(r["recipient"], OutgoingMessage.from_payload(r["payload"])) for r in rows]
    return [(to, m.text) for to, m in found if m.card and m.card.get("kind") == "alert"]


async def test_a_burst_against_four_weeks_of_history_alerts_once_until_it_falls_back(
    bursts: Bursts, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    await history(store, clock.now() + timedelta(minutes=5), {1: 2, 2: 3, 3: 2, 4: 1})
    await complaints(service, clock, 4)  # usual 2.0 a week: 4 is not above 2.0 × 2
    assert await bursts.check(clock.now()) == []
    await complaints(service, clock, 1)  # 5 in the hour: a burst
    [alert] = await bursts.check(clock.now())
    assert (alert.category, alert.intake.last_hour, alert.intake.history) == (
        "billing", 5, (2, 3, 2, 1),
    )  # fmt: skip
    assert await said(store) == [
        (SUPERVISORS, "🚨 投诉突增预警 burst of complaints · 类别 billing {slack:USUPER01}\n"
         "最近一小时 5 件 last hour 5 · 往常同一时段 2.0 件(前 4 周均值) · "
         "usually 2.0 (mean of the same hour, 4 weeks)"),
    ]  # fmt: skip
    for _ in range(3):  # still bursting, and growing: no second alert
        await complaints(service, clock, 1)
        assert await bursts.check(clock.now()) == []
    assert len(await said(store)) == 1

    clock.advance(timedelta(hours=1))  # a quiet hour: over
    [over] = await bursts.check(clock.now())
    assert (over.id, over.peak, over.ended_at) == (alert.id, 8, clock.now())
    assert (await said(store))[1] == (
        SUPERVISORS, "✅ 投诉突增已回落 burst over · 类别 billing\n"
        "最近一小时 0 件 last hour 0 · 往常同一时段 0.0 件(前 4 周均值) · "
        "usually 0.0 (mean of the same hour, 4 weeks)\n"
        "持续 63 分钟,最高每小时 8 件 · lasted 63 min, peak 8 an hour",
    )  # fmt: skip
    assert await bursts.check(clock.now()) == []

    await complaints(service, clock, 5)  # a new burst is a new alert
    [again] = await bursts.check(clock.now())
    assert again.id != alert.id
    assert len(await said(store)) == 3


async def test_below_the_minimum_nothing_however_quiet_the_category_usually_is(
    bursts: Bursts, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    await history(store, clock.now() + timedelta(minutes=5), {1: 0, 2: 0, 3: 0, 4: 0})
    await complaints(service, clock, 4)
    assert await bursts.check(clock.now()) == []
    await complaints(service, clock, 1)
    [alert] = await bursts.check(clock.now())
    assert alert.intake.usual == 0.0


async def test_a_desk_younger_than_four_weeks_compares_with_the_weeks_it_has(
    bursts: Bursts, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    """One week of history (3 in the hour): the usual rate is 3, not 3 / 4."""
    await history(store, clock.now() + timedelta(minutes=5), {1: 3})
    await complaints(service, clock, 6)
    assert await bursts.check(clock.now()) == []  # 6 is not above 3 × 2
    await complaints(service, clock, 1)
    [alert] = await bursts.check(clock.now())
    assert alert.intake.history == (3,)
    assert "往常同一时段 3.0 件(仅 1 周记录)" in (await said(store))[0][1]


async def test_a_desk_with_no_history_alerts_on_the_minimum(
    bursts: Bursts, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    await complaints(service, clock, 5)
    [alert] = await bursts.check(clock.now())
    assert alert.intake.history == ()
    assert (await said(store))[0][1].splitlines()[1] == (
        "最近一小时 5 件 last hour 5 · 尚无往周记录 no earlier weeks yet"
    )


async def test_off_in_the_policy_raises_nothing_and_ends_what_was_active_silently(
    bursts: Bursts, store: Store, service: CaseService, clock: FrozenClock
) -> None:
    await complaints(service, clock, 20)
    off = Bursts(store, Policy.Burst(enabled=False))
    assert await off.check(clock.now()) == []
    assert len(await bursts.check(clock.now())) == 1  # turned on: one alert
    assert await off.check(clock.now()) == []  # off again: it ends, and nobody is told
    async with store.read() as tx:
        assert await tx.bursts.active() == {}
    assert len(await said(store)) == 1


async def test_a_steady_rate_around_the_minimum_is_one_alert_not_one_every_few_minutes(
    bursts: Bursts, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    """No history, minimum 5: five at once raise it; then one every 12 minutes keeps the
    sliding hour at 3–5 — under the rule that raised it, but not back to usual (0) nor under
    half the minimum — so it stays one alert; a quiet hour ends it."""
    await complaints(service, clock, 5)
    assert len(await bursts.check(clock.now())) == 1
    seen: set[int] = set()
    for minute in range(1, 121):
        clock.advance(timedelta(minutes=1))
        if minute % 12 == 0:
            await complaints(service, clock, 1)
        async with store.read() as tx:
            counts = await tx.bursts.intake([(clock.now() - timedelta(hours=1), clock.now())])
        seen.add(counts["billing"][0])
        assert await bursts.check(clock.now()) == []
    assert min(seen) < RULE.minimum  # the raising rule alone would have ended it
    clock.advance(timedelta(hours=1))
    [over] = await bursts.check(clock.now())
    assert over.ended_at == clock.now()
    assert [t.splitlines()[0][:1] for _, t in await said(store)] == ["🚨", "✅"]


async def test_two_instances_checking_at_once_raise_and_end_one_alert(
    backend: Backend, store: Store, service: CaseService, desk: Desk, clock: FrozenClock
) -> None:
    await complaints(service, clock, 6)
    other = backend.connect()
    try:
        ours, theirs = Bursts(store, RULE), Bursts(other, RULE)
        for bursts in (ours, theirs):
            bursts.announcers.append(desk.reports.alert)
        for _ in range(5):  # the same instant: whichever wins, one alert
            raised = await asyncio.gather(ours.check(clock.now()), theirs.check(clock.now()))
            assert sum(len(r) for r in raised) <= 1
        clock.advance(timedelta(hours=2))
        for _ in range(5):
            ended = await asyncio.gather(ours.check(clock.now()), theirs.check(clock.now()))
            assert sum(len(r) for r in ended) <= 1
        texts = [text.splitlines()[0] for _, text in await said(store)]
        assert texts == [
            "🚨 投诉突增预警 burst of complaints · 类别 billing {slack:USUPER01}",
            "✅ 投诉突增已回落 burst over · 类别 billing",
        ]
    finally:
        await other.close()


async def test_flag_reports_go_to_the_supervisors_channel_too(
    desk: Desk, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    service.sweep.reports.append(desk.reports.report)
    number = (await service.open_case(NewComplaint("telegram", "1", "油品有问题,车坏了"))).number
    await service.correct(number, "slack:UAGENT001", "severity", "major", "已起诉")
    await service.sweep.once(clock.now())
    async with store.read() as tx:
        rows = await pending(tx, limit=10_000)
    reports = [r["recipient"] for r in rows
               if (OutgoingMessage.from_payload(r["payload"]).card or {}).get("kind")
               == "flag_report"]  # fmt: skip
    assert reports == [SUPERVISORS]
