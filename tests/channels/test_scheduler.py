"""`kesu run`'s scheduler drives the sweep on kesu's own clock: move the clock and the steps
due act within a tick or two — here the confirmation window closing a resolved case, whose
customer hears the resolution first — and a restart catches up at its first tick."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from bot.domain.cases import Priority, Status
from bot.services import NewComplaint
from tests.channels.conftest import Bot
from tests.fakes.telegram import FakeTelegram


async def _status_within(bot: Bot, number: str, status: Status, seconds: float) -> float:
    """Seconds until the case reached ``status`` (fails after ``seconds``)."""
    assert bot.runtime is not None
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if (await bot.runtime.kesu.cases.get(number)).status is status:
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError(f"case {number} did not become {status.value} in {seconds} s")


async def test_moving_the_clock_past_the_confirmation_window_closes_the_case(
    bot: Bot, tg: FakeTelegram
) -> None:
    assert bot.runtime is not None
    cases = bot.runtime.kesu.cases
    alice = tg.user(7001, "Alice")
    case = await cases.open_case(
        NewComplaint("telegram", str(alice.id), "加油站多收了二十元", priority=Priority.C)
    )
    await cases.claim(case.number, "slack:U1")
    await cases.resolve(case.number, "slack:U1", "已退还二十元")
    assert "已解决" in await alice.hears()  # the resolution, with its buttons

    bot.clock.advance(timedelta(days=2))  # within 3 working days: nothing happens
    await asyncio.sleep(2.5)
    assert (await cases.get(case.number)).status is Status.RESOLVED

    bot.clock.advance(timedelta(days=5))
    took = await _status_within(bot, case.number, Status.CLOSED, 5.0)
    assert took <= 2.5  # a tick is a second
    history = await cases.history(case.number)
    assert (history[-1].action, history[-1].actor) == ("close", "system")


async def test_a_restart_catches_up_with_what_fell_due_while_down(
    bot: Bot, tg: FakeTelegram
) -> None:
    assert bot.runtime is not None
    cases = bot.runtime.kesu.cases
    case = await cases.open_case(NewComplaint("telegram", "7002", "快递三天了还没派送"))
    await cases.claim(case.number, "slack:U1")
    await cases.resolve(case.number, "slack:U1", "已催促网点派送")
    await bot.stop()
    bot.clock.advance(timedelta(days=7))
    await asyncio.sleep(1.5)
    store_cases = (await bot.start()).kesu.cases  # what fell due while down: the first tick
    took = await _status_within(bot, case.number, Status.CLOSED, 5.0)
    assert took <= 2.5
    assert (await store_cases.get(case.number)).closed_at is not None
