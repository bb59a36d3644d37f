"""Two ``kesu run`` processes on one PostgreSQL database, as issue 11 runs them: Telegram by
webhook behind one round-robin load balancer (both instances register the same public URL),
the Slack desk in Socket Mode on both (Slack spreads its envelopes over both connections).

Sixteen customers file a complaint at once (tests/channels/two_instances.py drives them): each
must hear each message of the intake exactly once and in the dialogue's order, each case must
have exactly one card in the staff channel, each customer exactly one case; and both
instances must have done part of the work, or the test proves nothing. Then, with twelve
customers: one of the two is SIGKILLed mid-burst and the survivor finishes everyone; a message
may then arrive twice only if the killed process sent it and died before recording that it
had.

PostgreSQL only (KESU_TEST_POSTGRES_URL): several instances on one SQLite file is not a
deployment kesu offers. bench/two_instances.py is the 1,000-customer version, one instance
against two.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.channels.kesu_process import scratch_database
from tests.channels.two_instances import TRANSCRIPT, Fleet, Outcome
from tests.conftest import POSTGRES_URL
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

CUSTOMERS = 16  # the staff channel takes a card a second: the suite's time is cards
CLAIMS = 2  # each adds two staff-channel posts, at Slack's one a second like the cards
SURVIVOR_CUSTOMERS = 12  # the survivor posts every card alone, one a second
EACH_ONCE_IN_ORDER = list(range(len(TRANSCRIPT)))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(POSTGRES_URL is None, reason="needs KESU_TEST_POSTGRES_URL"),
]


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A PostgreSQL database of its own, for the processes to share."""
    assert POSTGRES_URL is not None
    async with scratch_database(POSTGRES_URL) as url:
        yield url


def report(outcome: Outcome) -> str:
    """The numbers, printed (``-s`` or ``-rP`` shows them); the whole story on failure."""
    print(json.dumps(outcome.report(), ensure_ascii=False))
    return outcome.explain()


async def test_customers_on_two_instances_hear_everything_once(
    tg: FakeTelegram, slack: FakeSlack, database_url: str, tmp_path: Path, cache_dir: Path
) -> None:
    fleet = Fleet(tg, slack, database_url, tmp_path, cache_dir, instances=2)
    outcome = await fleet.burst(customers=CUSTOMERS, within=60, claims=CLAIMS)
    why = report(outcome)

    # Both instances did part of the work: each answered webhook deliveries the balancer
    # passed it, sent customers messages, and took Slack envelopes on its own connection.
    assert all(n > 0 for n in outcome.webhook_updates), why
    assert all(n > 0 for n in outcome.telegram_sends), why
    assert len(outcome.slack_envelopes) == 2, why  # one connection each, none lost
    assert all(n > 0 for n in outcome.slack_envelopes), why

    # Every customer went through the whole intake ...
    assert outcome.stuck == {}, why
    # ... and heard each of its nine messages once, in the dialogue's order:
    #   greeting, anything to add? / the category / which branch? / order number? /
    #   phone number? / phone noted / what outcome? / the restatement / the case number.
    heard = {customer: outcome.steps(customer) for customer in outcome.piles}
    assert heard == dict.fromkeys(heard, EACH_ONCE_IN_ORDER), why

    # One case per customer: the one they were told.
    assert outcome.cases == {c: [n] for c, n in outcome.numbers_heard.items()}, why
    assert len(set(outcome.numbers_heard.values())) == CUSTOMERS, why

    # One card per case in the staff channel.
    cards = {number: len(posts) for number, posts in outcome.cards.items()}
    assert cards == dict.fromkeys(outcome.all_cases, 1), why

    # The agent's claims, clicked over Socket Mode (so spread over both instances), each
    # acknowledged and said once in the case's thread.
    assert [(r.ok, r.via) for r in outcome.claims.values()] == [(True, "socket")] * CLAIMS, why
    assert outcome.claim_lines == dict.fromkeys(outcome.claims, 1), why

    # Nothing left behind; both stop cleanly on SIGTERM.
    assert (outcome.outbox_pending, outcome.inbox_unprocessed) == (0, 0), why
    assert outcome.exit_statuses == [0, 0], why


async def test_the_survivor_of_a_sigkill_finishes_every_intake(
    tg: FakeTelegram, slack: FakeSlack, database_url: str, tmp_path: Path, cache_dir: Path
) -> None:
    fleet = Fleet(tg, slack, database_url, tmp_path, cache_dir, instances=2)
    outcome = await fleet.burst(customers=SURVIVOR_CUSTOMERS, within=60, kill_at=0.3)
    why = report(outcome)

    # The second instance served until it was killed; the balancer then found it refusing
    # connections and passed everything to the first.
    assert outcome.kills == 1
    assert outcome.exit_statuses == [0, -9], why
    assert all(n > 0 for n in outcome.webhook_updates), why
    assert all(n > 0 for n in outcome.telegram_sends), why

    # Every customer finished, with exactly one case, the one they were told.
    assert outcome.stuck == {}, why
    assert outcome.cases == {c: [n] for c, n in outcome.numbers_heard.items()}, why
    assert len(set(outcome.numbers_heard.values())) == SURVIVOR_CUSTOMERS, why

    # Every message arrived, in order; twice only where the kill explains it: the killed
    # process sent it and died before recording that, and the survivor sent it again.
    heard = {customer: outcome.steps(customer) for customer in outcome.piles}
    once = {customer: [s for s, _ in itertools.groupby(steps)] for customer, steps in heard.items()}
    assert once == dict.fromkeys(heard, EACH_ONCE_IN_ORDER), why  # a copy follows its original
    assert outcome.doubled_otherwise == {}, why

    # Every case has its card; a second one only where the kill explains it.
    assert outcome.cases_without_card == [], why
    assert outcome.cards_doubled_otherwise == {}, why

    assert (outcome.outbox_pending, outcome.inbox_unprocessed) == (0, 0), why
