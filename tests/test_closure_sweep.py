"""The confirmation window (issue 14 item 2): a resolved case nobody answered for closes on its
own once the window (policy ``[closure] confirm_within``) has passed, recorded as such — by the
clock's sweep (its ``confirm_timeout`` step); the sweep is re-runnable and two instances
running it at once close each case once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.clock import FrozenClock
from bot.domain.cases import Status
from bot.domain.sla import Sla
from bot.domain.steps import CONFIRM_TIMEOUT
from bot.services import CaseService, NewComplaint
from bot.services.closure import UNANSWERED
from storage.db import Store
from tests.conftest import SHANGHAI, Backend
from tests.queries import queued

AGENT = "slack:UAGENT001"


async def closed_by_sweep(service: CaseService, now: datetime) -> list[str]:
    acted = await service.sweep.once(now)
    return [a.number for a in acted if a.step == CONFIRM_TIMEOUT and a.outcome == "closed"]


async def resolved_case(service: CaseService, user: str = "42") -> str:
    complaint = NewComplaint(channel="telegram", channel_user_id=user, content="快递三天了还没派送")
    number = (await service.open_case(complaint)).number
    await service.claim(number, AGENT)
    await service.resolve(number, AGENT, "已重新派送")
    return number


async def test_unanswered_cases_close_after_the_window_once(
    service: CaseService, clock: FrozenClock
) -> None:
    number = await resolved_case(service)  # Tuesday 2026-11-17 14:30
    untouched = (await service.open_case(NewComplaint("telegram", "43", "态度差"))).number
    window = service.closure.confirm_due(await service.get(number))
    assert window is not None
    assert window.astimezone(SHANGHAI).isoformat() == "2026-11-20T14:30:00+08:00"  # 3 working days
    assert await closed_by_sweep(service, window - timedelta(seconds=1)) == []
    clock.advance(timedelta(days=3))
    assert await closed_by_sweep(service, clock.now()) == [number]
    assert await closed_by_sweep(service, clock.now()) == []  # re-runnable
    case = await service.get(number)
    assert (case.status, case.closed_at) == (Status.CLOSED, clock.now())
    last = (await service.history(number))[-1]
    assert (last.action, last.actor, last.note) == ("close", "system", UNANSWERED)
    assert (await service.get(untouched)).status is Status.NEW


async def test_a_reopened_and_resolved_again_case_gets_a_new_window(
    service: CaseService, clock: FrozenClock
) -> None:
    number = await resolved_case(service)
    await service.closure.not_solved(number, "customer:telegram:42", 0)
    clock.advance(timedelta(days=2))
    await service.claim(number, AGENT)
    await service.resolve(number, AGENT, "再次处理")
    clock.advance(timedelta(days=2))  # 4 days after the first resolution, 2 after this one
    assert await closed_by_sweep(service, clock.now()) == []
    assert (await service.get(number)).status is Status.RESOLVED


async def test_two_instances_sweeping_at_once_close_each_case_once(
    backend: Backend, store: Store, sla: Sla, clock: FrozenClock
) -> None:
    one = CaseService(store, sla, clock, SHANGHAI, prefix="TS")
    other_store = backend.connect()
    try:
        other = CaseService(other_store, sla, clock, SHANGHAI, prefix="TS")
        numbers = [await resolved_case(one, str(100 + i)) for i in range(6)]
        clock.advance(timedelta(days=7))
        a, b = await asyncio.gather(
            closed_by_sweep(one, clock.now()),
            closed_by_sweep(other, clock.now()),
        )
        assert sorted(a + b) == sorted(numbers)  # each closed by exactly one of them
        for number in numbers:
            closes = [e for e in await one.history(number) if e.action == "close"]
            assert len(closes) == 1
    finally:
        await other_store.close()


async def test_the_customer_is_told_of_an_automatic_closure_and_not_of_their_own(
    service: CaseService, clock: FrozenClock, store: Store
) -> None:
    """Closed unanswered: the customer hears why and what to do if it is not solved; closed
    on their own 已解决: no second word (the dialogue thanked them)."""
    silent = await resolved_case(service, "51")
    answered = await resolved_case(service, "52")
    token = service.closure.token(await service.get(answered))
    await service.closure.confirmed(answered, "customer:telegram:52", token)
    clock.advance(timedelta(days=7))
    assert await closed_by_sweep(service, clock.now()) == [silent]
    last_to = {recipient: message.text for _, recipient, message in await queued(store)}
    assert last_to["51"] == (
        f"您的投诉 {silent} 已处理完毕。确认期内未收到您的答复,已自动结案。"
        "如问题仍未解决,直接发消息告诉我们即可。"
    )
    assert "已自动结案" not in last_to["52"]
