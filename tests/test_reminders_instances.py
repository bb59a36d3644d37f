"""Reminder digests across instances (issue 14 item 3): two kesu processes on one database,
each with its own sweep and its own outbox worker, remind the same people within one
``digest_window``. Each person must still hear of every case exactly once — the window's
first case at once, the rest in ONE digest at the window's end — however the two sweeps
interleave. The digest is a superseding outbox row (``bot/desk/reminders.py``), so this is
what proves that row holds up when two stores write it; tests/test_reminders.py covers one
instance. What the people hear is read at the channel edge: a recording Slack that each
instance's outbox worker sends to, as the real one would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from bot.clock import FrozenClock
from bot.delivery import Limits, SendResult
from bot.desk import Desk
from bot.domain import steps
from bot.domain.cases import Case, Priority
from bot.domain.sla import Sla
from bot.messages import OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.outbox import OutboxWorker
from bot.services import CaseService
from storage.db import Store
from storage.repositories import Tx
from tests.conftest import SHANGHAI, Backend
from tests.test_reminders import AGENT, DESK, open_case, posts, wired

COLLEAGUE = "slack:UAGENT003"
#: The default policy's ``[reminders] digest_window``: windows of 5 minutes from the epoch,
#: so 15:00 Beijing time (07:00 UTC) starts one.
WINDOW = timedelta(minutes=5)


class RecordingSlack:
    """The channel edge: takes every message at once (no platform pace) and keeps it."""

    channel = "slack"
    limits = Limits(per_second=100_000.0, per_chat_interval=0.0)
    send_timeout = 5.0

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
        assert recipient == DESK
        self.sent.append(message)
        return SendResult.sent(f"{id(self)}.{len(self.sent)}")


@dataclass
class Instance:
    """One kesu process: its own store (connections), case service, sweep, desk and worker."""

    name: str
    store: Store
    service: CaseService
    desk: Desk
    slack: RecordingSlack = field(default_factory=RecordingSlack)
    outbox: OutboxWorker = field(init=False)

    def __post_init__(self) -> None:
        clock = self.service.clock
        self.outbox = OutboxWorker(self.store, {"slack": self.slack}, clock, owner=self.name)

    async def sweep(self, now: datetime) -> list[str]:
        """One tick of this instance's scheduler: the numbers of the cases it acted on."""
        return [acted.number for acted in await self.service.sweep.once(now)]


def instance(
    name: str, store: Store, sla: Sla, clock: FrozenClock, classifier: Classifier
) -> Instance:
    service = CaseService(store, sla, clock, SHANGHAI, prefix="TS")
    desk = wired(service, classifier)  # as app.py wires each process's desk
    return Instance(name, store, service, desk)


@pytest.fixture
async def two(
    backend: Backend, store: Store, sla: Sla, clock: FrozenClock, classifier: Classifier
) -> AsyncIterator[tuple[Instance, Instance]]:
    """Instances A and B on the same database, each with a store of its own."""
    other_store = backend.connect()
    try:
        yield (
            instance("A", store, sla, clock, classifier),
            instance("B", other_store, sla, clock, classifier),
        )
    finally:
        await other_store.close()


async def drain(*instances: Instance) -> None:
    """Every instance's outbox worker sends, all at once, until none sends anything more
    that is due now (the frozen clock stands still meanwhile)."""
    for _ in range(10_000):
        waits = await asyncio.gather(*(i.outbox.drain_once("slack") for i in instances))
        if 0.0 not in waits:
            return
    raise AssertionError("the outbox never drained")


@dataclass(frozen=True)
class Heard:
    """What one person heard from the reminders, as the channel received it."""

    pinged: list[str]  # case numbers of the reminders sent at once, in the case's thread
    digests: list[list[str]]  # case numbers listed by each digest, in its order
    headlines: list[str]  # each digest's first line


def heard(person: str, *instances: Instance) -> Heard:
    """What ``person`` heard: the reminders every instance's worker delivered, put together."""
    pinged: list[str] = []
    digests: list[list[str]] = []
    headlines: list[str] = []
    for message in (m for i in instances for m in i.slack.sent):
        card = message.card or {}
        if card.get("kind") != "reminder" or f"{{{person}}}" not in message.text:
            continue  # not a reminder, or another person's
        if "items" in card:
            digests.append([item["number"] for item in card["items"]])
            headlines.append(message.text.splitlines()[0])
        else:
            assert message.thread is not None  # the per-person ping goes in the case's thread
            pinged.append(message.text.rsplit(" · ", 1)[1])
    return Heard(pinged, digests, headlines)


async def test_two_instances_sweeping_a_burst_at_once_send_each_person_one_digest(
    two: tuple[Instance, Instance], clock: FrozenClock
) -> None:
    """A burst falls due and both instances' sweeps run over it at the same moment, as
    their schedulers would: whichever instance acts on a case, each person gets the
    window's first reminder at once and one digest with all the others — none lost, none
    twice, no second digest for the window."""
    a, b = two
    opened = clock.now()  # Tuesday 14:30, working time: the assignee is the one reminded
    cases: dict[str, list[str]] = {AGENT: [], COLLEAGUE: []}
    for n in range(60):  # 15 s of complaints, half of them each agent's
        person = (AGENT, COLLEAGUE)[n % 2]
        number = await open_case(a.service, Priority.A, user=str(100 + n))
        await a.service.claim(number, person)
        cases[person].append(number)
        clock.advance(timedelta(milliseconds=250))
    # A: first response within 1 h, so the 50% points fall 15:00:00–15:00:14.75. Both
    # instances' schedulers come to them at once, ticking on at the same instants until
    # nothing is due (a case whose transaction lost to the other instance stays due).
    clock.set(opened + timedelta(minutes=30, seconds=15))
    acted: list[str] = []
    for _ in range(10):
        ticks = await asyncio.gather(a.sweep(clock.now()), b.sweep(clock.now()))
        acted += ticks[0] + ticks[1]
        if not any(ticks):
            break
        clock.advance(timedelta(seconds=1))
    assert sorted(acted) == sorted(cases[AGENT] + cases[COLLEAGUE])  # each case once

    window_end = opened + timedelta(minutes=30) + WINDOW  # 15:05
    clock.set(window_end)
    await drain(a, b)
    for person, theirs in cases.items():
        got = heard(person, a, b)
        assert len(got.pinged) == 1, got  # the window's first reminder, at once
        assert len(got.digests) == 1, got  # one digest for the window, whoever wrote it
        [digest] = got.digests
        assert sorted(got.pinged + digest) == sorted(theirs)  # none lost, none twice
        assert got.headlines == [f"⏰ {{{person}}} 提醒汇总 reminders: 29 件 cases"]
    assert await posts(a.store) == []  # nothing of the window left waiting


async def test_cases_swept_by_one_instance_then_the_other_end_in_the_same_digest(
    two: tuple[Instance, Instance], clock: FrozenClock
) -> None:
    """Instance A starts the window's digest, B adds to it a minute later, A again after
    that: each finds the digest the other left waiting, so the person still gets one."""
    a, b = two
    opened = clock.now()
    groups: list[list[str]] = []
    for start in (0, 90, 180):  # three groups of 4, due from 15:00, 15:01:30 and 15:03
        clock.set(opened + timedelta(seconds=start))
        group = []
        for n in range(4):
            group.append(await open_case(a.service, Priority.A, user=f"{start}{n}"))
            await a.service.claim(group[-1], AGENT)
            clock.advance(timedelta(seconds=1))
        groups.append(group)

    clock.set(opened + timedelta(minutes=30, seconds=30))
    assert sorted(await a.sweep(clock.now())) == sorted(groups[0])
    await drain(a, b)  # the first reminder goes at once; the digest waits for 15:05
    assert heard(AGENT, a, b) == Heard(pinged=[groups[0][0]], digests=[], headlines=[])

    clock.set(opened + timedelta(minutes=32))
    assert sorted(await b.sweep(clock.now())) == sorted(groups[1])  # adds to A's digest
    clock.set(opened + timedelta(minutes=33, seconds=30))
    assert sorted(await a.sweep(clock.now())) == sorted(groups[2])  # and on to B's
    await drain(a, b)
    assert heard(AGENT, a, b).digests == []  # still waiting for the window's end

    clock.set(opened + timedelta(minutes=30) + WINDOW)
    await drain(a, b)
    assert heard(AGENT, a, b) == Heard(
        pinged=[groups[0][0]],
        digests=[groups[0][1:] + groups[1] + groups[2]],  # in the order they fell due
        headlines=[f"⏰ {{{AGENT}}} 提醒汇总 reminders: 11 件 cases"],
    )
    assert await posts(a.store) == []


async def remind_at_once(first: Instance, second: Instance, numbers: tuple[str, str]) -> None:
    """The two instances' reminders each add a case to the person's digest in transactions
    that overlap: ``first`` has added its case and not committed when ``second`` adds the
    other. On PostgreSQL ``second`` waits on the digest row ``first`` wrote and then must
    lose and run again (``Conflict``); on SQLite it waits for the database's write lock."""

    async def reminder(instance: Instance, tx: Tx, number: str) -> None:
        """What the sweep's handler does for the case's 50% point, in this transaction."""
        case = Case.from_row(await tx.cases.by_number(number))
        sla = instance.service.sla
        point = steps.key(steps.FIRST_RESPONSE, 50)
        [step] = [s for s in steps.steps(case, sla.policy, sla.calendar) if s.key == point]
        assert (await instance.desk.reminders.remind(tx, case, step)).endswith("digest 1")

    wrote = asyncio.Event()

    async def holding(tx: Tx) -> None:
        try:
            await reminder(first, tx, numbers[0])
        finally:
            wrote.set()
        await asyncio.sleep(0.3)  # the transaction stays open while ``second`` writes

    held = asyncio.create_task(first.store.write(holding))
    await wrote.wait()
    await second.store.write(lambda tx: reminder(second, tx, numbers[1]))
    await held


async def test_two_instances_adding_to_one_digest_in_the_same_instant_keep_it_whole(
    two: tuple[Instance, Instance], clock: FrozenClock
) -> None:
    """The two tests above never have both instances write the digest at the same time:
    each sweep locks the case it acts on (``FOR UPDATE``) and both go through the due cases
    in the same order, so one trails the other. The digest's own guard is what keeps it
    whole if they ever do (a sweep that skipped locked cases would): here the instances'
    reminders overlap on purpose — first both starting the window's digest, then both
    adding to it."""
    a, b = two
    opened = clock.now()
    numbers = []
    for n in range(5):  # the first due at 15:00, the other four at 15:02
        clock.set(opened + timedelta(minutes=2 if n else 0))
        numbers.append(await open_case(a.service, Priority.A, user=str(200 + n)))
        await a.service.claim(numbers[-1], AGENT)
    clock.set(opened + timedelta(minutes=31))
    assert await b.sweep(clock.now()) == [numbers[0]]  # the window's first reminder, at once
    clock.set(opened + timedelta(minutes=32))
    for pair in ((numbers[1], numbers[2]), (numbers[3], numbers[4])):
        await remind_at_once(a, b, pair)

    clock.set(opened + timedelta(minutes=30) + WINDOW)
    await drain(a, b)
    assert heard(AGENT, a, b) == Heard(
        pinged=[numbers[0]],
        digests=[numbers[1:]],
        headlines=[f"⏰ {{{AGENT}}} 提醒汇总 reminders: 4 件 cases"],
    )
