"""kill -9 of a real ``kesu run`` in the middle of a burst of dialogues loses nothing.

Customers go through the whole intake at once against a real process (tests/channels/
kesu_process.py) talking to the Telegram emulator, each answering the bot's questions as they
arrive; the process is killed with SIGKILL while replies and updates are in flight, and a new
one is started on the same database. Every dialogue must then end with exactly one case on
record: an update Telegram considered delivered but kesu had not stored would leave its
customer waiting for an answer forever. A message may arrive twice only if the process died
between sending it and recording that it was sent (README, Delivery).

By long polling and by webhook, on SQLite and (with KESU_TEST_POSTGRES_URL) PostgreSQL. Also:
a second poller of the same bot is refused by Telegram, and one of the two stops with one line
saying why while the other keeps serving. bench/inbox_kill.py is the 200-customer version.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.channels.kesu_process import KesuProcess, release_long_poll, scratch_database
from tests.channels.kill_scenario import REPLIES_PER_DIALOGUE, Outcome, burst_with_kills
from tests.conftest import POSTGRES_URL
from tests.fakes.telegram import FakeTelegram

CUSTOMERS = 16
POLLER_CONFLICT = "another process is polling this Telegram bot"

pytestmark = pytest.mark.slow


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(POSTGRES_URL is None, reason="needs KESU_TEST_POSTGRES_URL"),
            ],
        ),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database for separate processes to share: a file, or a PostgreSQL database of its own
    (``kesu run`` cannot be given the per-test schema the other tests use)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kesu.db'}"
        return
    assert POSTGRES_URL is not None
    async with scratch_database(POSTGRES_URL) as url:
        yield url


def report(outcome: Outcome) -> str:
    """The numbers, printed (``-s`` or ``-rP`` shows them); the whole story on failure."""
    print(json.dumps(outcome.report(), ensure_ascii=False))
    return outcome.explain()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_sigkill_mid_burst_loses_nothing(
    mode: str,
    database_url: str,
    tg: FakeTelegram,
    tmp_path: Path,
    cache_dir: Path,
) -> None:
    outcome = await burst_with_kills(
        tg,
        database_url,
        tmp_path,
        cache_dir,
        customers=CUSTOMERS,
        kills=1,
        webhook=mode == "webhook",
        within=60,
    )
    why = report(outcome)

    # The kill came in the middle: replies had arrived and many were still to come.
    assert outcome.kills == 1
    (kill,) = outcome.at_kills
    assert CUSTOMERS <= kill.replies <= CUSTOMERS * REPLIES_PER_DIALOGUE * 2 // 3, why

    # Nothing lost: every update a customer sent was stored and processed, and every
    # dialogue went on to its end.
    assert outcome.updates_lost == [], why
    assert outcome.updates_unprocessed == {}, why
    assert outcome.stuck == {}, why

    # Exactly one case per customer, the one the customer was told.
    assert outcome.customers_without_case == [], why
    assert outcome.customers_with_two_cases == [], why
    for customer, number in outcome.numbers_heard.items():
        assert outcome.cases[str(customer)] == [number], why
    assert len(set(outcome.numbers_heard.values())) == CUSTOMERS, why

    # A message arrives twice only if it was sent and not yet recorded when the process died.
    assert outcome.messages_doubled <= outcome.sent_not_recorded_at_kills, why
    assert all(len(texts) <= 2 for texts in outcome.doubled.values()), why

    assert outcome.exit_status == 0, why  # the restarted process stops cleanly on SIGTERM
    assert outcome.left_with_telegram == 0, why  # every update confirmed or delivered


async def test_a_second_poller_stops_one_of_the_two_and_the_other_serves(
    tg: FakeTelegram, tmp_path: Path, cache_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'kesu.db'}"
    first = KesuProcess(tg, url, tmp_path, cache_dir, name="first")
    second = KesuProcess(tg, url, tmp_path, cache_dir, name="second")
    try:
        polls = len(tg.method_calls("getUpdates"))
        await first.start()
        await tg.wait_for(lambda: len(tg.method_calls("getUpdates")) > polls)  # waiting now
        await second.spawn()
        assert first.proc is not None
        assert second.proc is not None
        ends = {
            asyncio.ensure_future(first.proc.wait()): first,
            asyncio.ensure_future(second.proc.wait()): second,
        }
        done, pending = await asyncio.wait(ends, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        for future in pending:
            future.cancel()
        assert done, "neither process stopped\n" + first.tail() + "\n" + second.tail()
        loser = ends[done.pop()]
        winner = second if loser is first else first
        assert loser.returncode == 1, loser.tail()
        said = loser.lines(POLLER_CONFLICT)
        assert len(said) == 1, loser.tail()
        assert "Traceback" not in loser.read_log(), loser.tail()

        # The other one keeps serving.
        await winner.wait_ready()
        assert winner.running, winner.tail()
        alice = tg.user(4242, "Alice")
        await alice.says("快递三天了还没派送,电话也打不通")
        assert "还有要补充的吗" in await alice.hears(within=20), winner.tail()
        assert winner.running, winner.tail()
        assert await winner.stop() == 0, winner.tail()
        assert not winner.lines(POLLER_CONFLICT), winner.tail()
    finally:
        await first.close()
        await second.close()
        await release_long_poll(tg)
