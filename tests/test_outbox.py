"""The outbox worker on a real store (every backend), with scripted senders: what is sent;
nothing twice when recording an outcome fails, nor by two workers, nor while a lease holds;
dead letters (a poison row, an unreadable payload, age) and what does not count towards
them; flood control holding every worker; a crashed process's recipients taken back."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from bot import outbox
from bot.clock import FrozenClock, TickingClock
from bot.delivery import Limits, Policy, SendResult
from bot.messages import FollowUp, OutgoingMessage
from bot.outbox import OutboxWorker
from storage.db import Store
from storage.repositories import Tx
from storage.schema import outbox_leases
from tests.conftest import SHANGHAI
from tests.queries import pending_count

T = TypeVar("T")


class Counting:
    channel = "x"
    limits = Limits(1000.0, 0.0)
    send_timeout = 5.0

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.messages: list[OutgoingMessage] = []

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
        self.sent.append(message.text)
        self.messages.append(message)
        return SendResult.sent(f"p{len(self.sent)}")


class LockedOnce:
    """A store whose next write fails once, as SQLite's "database is locked" or a dropped
    PostgreSQL connection would."""

    def __init__(self, store: Store) -> None:
        self.store, self.failures = store, 1

    def read(self) -> Any:
        return self.store.read()

    async def write(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is locked")
        return await self.store.write(work)


async def test_an_outcome_that_could_not_be_recorded_is_recorded_before_anything_is_resent(
    store: Store, clock: FrozenClock
) -> None:
    await store.write(
        lambda tx: tx.outbox.enqueue(
            channel="x", recipient="r", payload={"text": "您好"}, now=clock.now()
        )
    )
    sender = Counting()
    worker = OutboxWorker(LockedOnce(store), {"x": sender}, clock)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="locked"):
        await worker.drain_once("x")
    await worker.drain_once("x")
    await worker.drain_once("x")
    assert sender.sent == ["您好"]
    async with store.read() as tx:
        assert await pending_count(tx) == 0


async def test_named_messages_are_recorded_and_a_follow_up_is_queued_when_delivered(
    store: Store, clock: FrozenClock
) -> None:
    follow = FollowUp("x", "staff", OutgoingMessage("line", edit="sent:1", card={"at": "{at}"}))
    message = OutgoingMessage("hello", ref="card:1", on_sent=follow)
    await store.write(
        lambda tx: tx.outbox.enqueue(
            channel="x", recipient="r", payload=message.to_payload(), now=clock.now()
        )
    )
    sender = Counting()
    worker = OutboxWorker(store, {"x": sender}, clock, tz=SHANGHAI)
    await worker.drain_once("x")
    await worker.drain_once("x")
    async with store.read() as tx:
        assert await tx.refs.many("x", ["card:1"]) == {"card:1": "p1"}
    assert sender.sent == ["hello", "line"]
    receipt = sender.messages[1]
    assert receipt.edit == "sent:1"
    assert receipt.card == {"at": "11-17 14:30:00"}  # the delivery time, in the desk's zone


async def test_a_message_queued_for_later_is_sent_at_its_time_and_holds_up_nothing(
    store: Store, clock: FrozenClock
) -> None:
    """A held-back acknowledgement: the pass says how long until it is due (the running
    loop sleeps that long, not until something else is queued), sends what was queued after
    it at once, and sends it when the clock reaches its time."""
    start = clock.now()

    async def work(tx: Tx) -> None:
        for text, not_before in (("later", start + timedelta(seconds=10)), ("now", None)):
            await tx.outbox.enqueue(
                channel="x", recipient="r", payload={"text": text}, now=start,
                not_before=not_before,
            )  # fmt: skip

    await store.write(work)
    sender = Counting()
    worker = OutboxWorker(store, {"x": sender}, clock)
    assert await worker.drain_once("x") == 0.0
    assert await worker.drain_once("x") == 10.0  # asleep until then
    assert sender.sent == ["now"]
    clock.advance(timedelta(seconds=9))
    assert await worker.drain_once("x") == 1.0
    clock.advance(timedelta(seconds=1))
    await worker.drain_once("x")
    assert sender.sent == ["now", "later"]


class Scripted:
    """A sender that answers from a script, then sends; records every call in order."""

    channel = "x"
    limits = Limits(1000.0, 0.0)
    send_timeout = 5.0

    def __init__(self, *answers: SendResult | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str]] = []

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
        self.calls.append((recipient, message.text))
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return SendResult.sent(f"p{len(self.calls)}")


async def queue(store: Store, clock: FrozenClock, recipient: str, *texts: str, **kw: Any) -> None:
    async def work(tx: Tx) -> None:
        for text in texts:
            message = OutgoingMessage(text, **kw)
            await tx.outbox.enqueue(
                channel="x", recipient=recipient, payload=message.to_payload(), now=clock.now()
            )

    await store.write(work)


async def drain_for(worker: OutboxWorker, clock: FrozenClock, seconds: int, step: int = 1) -> None:
    """Passes ``step`` seconds apart on the frozen clock, as the running loop would make them."""
    for _ in range(seconds // step):
        await worker.drain_once("x")
        clock.advance(timedelta(seconds=step))


async def test_a_poison_message_becomes_a_dead_letter_and_its_recipient_flows_again(
    store: Store, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    staff = FollowUp("x", "staff", OutgoingMessage("❌ {error}", card={"why": "{error}"}))
    await queue(store, clock, "r", "毒", on_failed=staff)
    await queue(store, clock, "r", "后面的消息")
    sender = Scripted(*[KeyError("card")] * 5)
    worker = OutboxWorker(store, {"x": sender}, clock, policy=Policy(attempts=5))
    with caplog.at_level(logging.INFO, logger="bot.outbox"):
        await drain_for(worker, clock, 40)  # retries after 2, 4, 8, 16 s
    assert sender.calls[:5] == [("r", "毒")] * 5
    assert sorted(sender.calls[5:]) == [("r", "后面的消息"), ("staff", "❌ {error}")]
    async with store.read() as tx:
        dead = await tx.outbox.listing(["failed"])
        assert await pending_count(tx) == 0
    assert [(d["attempts"], d["failures"]) for d in dead] == [(5, 5)]
    # The error's type and where: its message may quote a customer's words (issue 13).
    assert dead[0]["last_error"].startswith("KeyError at tests/test_outbox.py:")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"outbox {dead[0]['id']} (x to r) is a dead letter after 5 tries" in errors[0]
    assert f"kesu outbox retry {dead[0]['id']}" in errors[0]


async def test_a_send_that_chokes_on_the_words_never_logs_them(
    store: Store, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An adapter bug whose error quotes the message (as ``int('…')`` would): the log says
    the error's type and where, each try and as a dead letter; the words only at DEBUG."""
    words = "快递员把我的包裹扔在门口淋湿了"
    await queue(store, clock, "r", words)
    sender = Scripted(*[ValueError(f"invalid literal for int(): {words!r}")] * 2)
    worker = OutboxWorker(store, {"x": sender}, clock, policy=Policy(attempts=2))
    with caplog.at_level(logging.INFO):
        await drain_for(worker, clock, 10)
    shown = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any("dead letter" in r.getMessage() for r in shown)
    assert all("ValueError at" in r.getMessage() for r in shown if "outbox 1" in r.getMessage())
    assert not any(words in logging.Formatter().format(r) for r in shown)


async def test_an_unreadable_payload_is_a_dead_letter_without_reaching_the_sender(
    store: Store, clock: FrozenClock
) -> None:
    await store.write(
        lambda tx: tx.outbox.enqueue(
            channel="x", recipient="r", payload={"txet": "v0 shape"}, now=clock.now()
        )
    )
    await queue(store, clock, "r", "下一条")
    sender = Scripted()
    worker = OutboxWorker(store, {"x": sender}, clock, policy=Policy(attempts=2))
    await drain_for(worker, clock, 5)
    assert sender.calls == [("r", "下一条")]
    async with store.read() as tx:
        [dead] = await tx.outbox.listing(["failed"])
    assert dead["last_error"] == "unreadable payload (keys: txet)"  # never its words


async def test_outages_and_flood_control_do_not_count_but_age_does(
    store: Store, clock: FrozenClock
) -> None:
    await queue(store, clock, "r", "您好")
    outage = SendResult(ok=False, outage=True, error="network: 502 Bad Gateway")
    flood = SendResult(ok=False, retry_after=3.0, error="429 retry after 3s")
    sender = Scripted(*[outage, flood] * 100)
    policy = Policy(attempts=2, max_age=timedelta(hours=1))
    worker = OutboxWorker(store, {"x": sender}, clock, policy=policy)
    await drain_for(worker, clock, 30 * 60, step=5)  # half an hour of outage: still waiting
    async with store.read() as tx:
        [waiting] = await tx.outbox.listing(["pending"])
    assert (waiting["failures"], waiting["attempts"] > 10) == (0, True)
    await drain_for(worker, clock, 36 * 60, step=5)  # dead at the first try after an hour
    async with store.read() as tx:
        [dead] = await tx.outbox.listing(["failed"])
    assert dead["id"] == waiting["id"]


async def test_a_configuration_error_waits_for_the_operator_longer(
    store: Store, clock: FrozenClock
) -> None:
    await queue(store, clock, "C1", "card")
    wrong = SendResult(ok=False, retry_after=600.0, config=True, error="not_in_channel")
    sender = Scripted(*[wrong] * 1000)
    policy = Policy(attempts=1, max_age=timedelta(hours=1), config_max_age=timedelta(hours=3))
    worker = OutboxWorker(store, {"x": sender}, clock, policy=policy)
    for _ in range(17):  # every 10 minutes for 2 h 50 min
        await worker.drain_once("x")
        clock.advance(timedelta(minutes=10))
    async with store.read() as tx:
        assert await tx.outbox.counts() == {"pending": 1}
    clock.advance(timedelta(minutes=10))
    await worker.drain_once("x")
    async with store.read() as tx:
        assert await tx.outbox.counts() == {"failed": 1}


async def test_flood_control_on_one_worker_holds_the_others(
    store: Store, clock: FrozenClock
) -> None:
    await queue(store, clock, "a", "给a")
    await queue(store, clock, "b", "给b")
    first = Scripted(SendResult(ok=False, retry_after=5.0, error="429"))
    one = OutboxWorker(store, {"x": first}, clock, owner="one")
    # The first worker claims both recipients; "a" hits flood control, "b" is sent.
    assert await one.drain_once("x") == 0.0
    second = Scripted()
    other = OutboxWorker(store, {"x": second}, clock, owner="other")
    clock.advance(timedelta(seconds=4))
    await other.drain_once("x")
    assert second.calls == []  # the bot is held for every instance
    clock.advance(timedelta(seconds=1))
    await other.drain_once("x")
    assert second.calls == [("a", "给a")]


async def test_a_send_outliving_its_lease_is_not_sent_twice_while_it_is_held(
    store: Store, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    await queue(store, clock, "r", "慢")
    release = asyncio.Event()

    class Hanging(Scripted):
        called = asyncio.Event()

        async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
            self.calls.append((recipient, message.text))
            self.called.set()
            await release.wait()
            return SendResult.sent("slow")

    slow, fast = Hanging(), Scripted()
    stuck = OutboxWorker(store, {"x": slow}, clock, owner="stuck")
    other = OutboxWorker(store, {"x": fast}, clock, owner="other")
    pass_ = asyncio.create_task(stuck.drain_once("x"))
    await slow.called.wait()
    lease = outbox.MAX_AHEAD + outbox.PASS_SECONDS + slow.send_timeout + outbox.LEASE_SLACK
    for _ in range(int(lease) - 1):  # longer than the send's timeout: the lease still holds
        await other.drain_once("x")
        clock.advance(timedelta(seconds=1))
    assert fast.calls == []
    clock.advance(timedelta(seconds=2))  # the lease ran out: the stuck worker is presumed dead
    await other.drain_once("x")
    assert fast.calls == [("r", "慢")]
    release.set()
    with caplog.at_level(logging.WARNING, logger="bot.outbox"):
        await pass_
    assert "lease ran out and another worker took it over" in caplog.text
    async with store.read() as tx:
        [sent] = await tx.outbox.listing(["sent"])
    assert sent["platform_message_id"] == "p1"  # the holder's outcome, not the stuck one's


async def test_two_workers_send_each_message_once_and_in_order(store: Store) -> None:
    clock = TickingClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))

    class Slow(Scripted):
        limits = Limits(2000.0, 0.0)

        async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
            await asyncio.sleep(0.002)
            return await super().send(recipient, message)

    for n in range(30):
        await queue(store, clock, f"r{n}", *[f"r{n}-{i}" for i in range(4)])  # type: ignore[arg-type]
    senders = [Slow(), Slow()]
    workers = [OutboxWorker(store, {"x": s}, clock, owner=f"w{i}") for i, s in enumerate(senders)]

    async def drain(worker: OutboxWorker) -> None:
        for _ in range(400):
            if await worker.drain_once("x") is None:
                return
            await asyncio.sleep(0)

    await asyncio.gather(*(drain(w) for w in workers))
    calls = senders[0].calls + senders[1].calls
    assert sorted(calls) == sorted((f"r{n}", f"r{n}-{i}") for n in range(30) for i in range(4))
    assert senders[0].calls, "both did work"
    assert senders[1].calls, "both did work"
    for sender in senders:  # each worker's share of a recipient is in order ...
        for n in range(30):
            mine = [t for r, t in sender.calls if r == f"r{n}"]
            assert mine == sorted(mine)
    async with store.read() as tx:  # ... and so is the whole: sent in id order per recipient
        sent = await tx.outbox.listing(["sent"], limit=1000)
    for n in range(30):
        times = [s["sent_at"] for s in sent if s["recipient"] == f"r{n}"]
        assert times == sorted(times)


async def test_a_restart_takes_back_at_once_what_the_crashed_process_on_this_host_held(
    store: Store, clock: FrozenClock
) -> None:
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()  # a process that has exited: its pid names nobody now
    dead_pid = gone.pid
    host = socket.gethostname()[:32]
    for recipient in ("a", "b", "c"):
        await queue(store, clock, recipient, f"给{recipient}")
    holders = {
        "a": f"{host}:{dead_pid}:0ld0ld00",  # crashed, on this host
        "b": f"{host}:{os.getpid()}:0ld0ld00",  # an earlier run with this pid (a container)
        "c": "elsewhere:1:abcdef12",  # another machine's: only its lease's end frees it
    }
    for recipient, owner in holders.items():
        claimed = await store.write(
            lambda tx, owner=owner, recipient=recipient: tx.outbox.claim(
                "x", owner, clock.now(), clock.now() + timedelta(seconds=30), 1
            )
        )
        assert [c["recipient"] for c in claimed] == [recipient]
    sender = Scripted()
    worker = OutboxWorker(store, {"x": sender}, clock)
    assert await worker.upkeep.reap() == 2
    await worker.drain_once("x")
    assert sorted(sender.calls) == [("a", "给a"), ("b", "给b")]
    assert await worker.upkeep.reap() == 0


async def test_a_chats_pace_runs_from_the_platforms_answer_not_from_the_recording(
    store: Store, clock: FrozenClock
) -> None:
    await queue(store, clock, "a", "给a")
    await queue(store, clock, "b", "给b")

    class SlowForB(Scripted):
        limits = Limits(1000.0, 1.0)

        async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
            if recipient == "b":  # answered 5 s later; both are recorded after that
                clock.advance(timedelta(seconds=5))
            return await super().send(recipient, message)

    start = clock.now()
    await OutboxWorker(store, {"x": SlowForB()}, clock).drain_once("x")
    async with store.read() as tx:
        leases = {
            row["recipient"]: row["until"]
            for row in await tx.session.execute(select(outbox_leases))
        }
    assert leases == {"a": start + timedelta(seconds=1), "b": start + timedelta(seconds=6)}
