"""The outbox worker on a real store (every backend), with a counting sender: what is sent,
and that nothing is sent twice when recording an outcome fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from bot.clock import FrozenClock
from bot.messages import FollowUp, OutgoingMessage
from bot.outbox import Limits, OutboxWorker, SendResult
from storage.db import Store
from storage.repositories import Tx
from tests.conftest import SHANGHAI
from tests.queries import pending_count

T = TypeVar("T")


class Counting:
    channel = "x"
    limits = Limits(1000.0, 0.0)

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
