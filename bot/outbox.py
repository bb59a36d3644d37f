"""The outbox dispatcher: sends queued messages within each platform's limits, never losing one.

Rows are written by the transaction that caused them (DESIGN.md principle 4); this worker
sends each chat's oldest pending message, honouring a global rate and a per-chat interval,
and records the outcome: sent, retry later (429 with the platform's retry-after, 5xx and
network errors with exponential back-off), or failed for good (the customer blocked the bot,
the chat does not exist) — recorded, not retried forever.

Named messages (a case's card in the Slack staff channel) are resolved here: before sending,
``edit``/``thread`` names become the platform's ids; after sending, ``ref`` is recorded, and a
message's follow-up (the thread's "delivered at 14:03") is queued with the outcome.

A message sent but not yet marked sent when the process dies is sent again on restart: at
most RECORD_BATCH messages, sent in the last moments; platforms offer no idempotency key to
close that window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol

from aiolimiter import AsyncLimiter

from bot.clock import Clock
from bot.messages import FollowUp, OutgoingMessage
from storage.db import Store
from storage.repositories import Tx

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)
RECORD_BATCH = 16  # outcomes recorded per transaction; also the most resent after a crash


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    platform_id: str | None = None
    retry_after: float | None = None  # seconds the platform asked us to wait (429)
    permanent: bool = False  # never going to work: do not retry
    blocked: bool = False  # the recipient blocked us (Telegram 403)
    error: str | None = None

    @classmethod
    def sent(cls, platform_id: str | None = None) -> SendResult:
        return cls(ok=True, platform_id=platform_id)


@dataclass(frozen=True, slots=True)
class Limits:
    per_second: float  # all chats together (Telegram: about 30)
    per_chat_interval: float  # seconds between two messages to one chat (Telegram: 1)


class Sender(Protocol):
    """What a channel adapter offers the outbox."""

    channel: str
    limits: Limits

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult: ...


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        senders: dict[str, Sender],
        clock: Clock,
        *,
        batch: int = 200,
        in_flight: int = 16,
        tz: tzinfo = UTC,
    ) -> None:
        self.store = store
        self.tz = tz  # for the times written into follow-ups
        self.senders = senders
        self.clock = clock
        self.batch = batch
        self._wakes = {name: asyncio.Event() for name in senders}
        self._in_flight = {name: asyncio.Semaphore(in_flight) for name in senders}
        # One token refilled every 1/rate seconds: sends evenly spaced, so no one-second
        # window ever holds more than the platform's rate (a bucket of 30 would allow bursts).
        self._rate = {
            name: AsyncLimiter(1, 1.0 / s.limits.per_second) for name, s in senders.items()
        }
        self._next_for_chat: dict[tuple[str, str], float] = {}  # monotonic time allowed
        self._channel_paused: dict[str, float] = {}  # flood control (429) holds a whole bot
        # Outcomes not yet recorded, per platform: each loop records its own before its next
        # pass, or it could read a row it just sent as still pending and send it again.
        self._results: dict[str, list[tuple[dict[str, Any], SendResult]]] = {
            name: [] for name in senders
        }
        self.sent = 0
        self.retried = 0
        self.failed = 0

    def wake(self) -> None:
        """Something was queued: look now instead of at the next tick."""
        for event in self._wakes.values():
            event.set()

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Send until ``stop`` is set: one loop per platform, so a slow or unreachable Slack
        never holds up the customers' Telegram messages (nor the other way round)."""
        await asyncio.gather(*(self._run(name, stop, idle) for name in self.senders))

    async def _run(self, channel: str, stop: asyncio.Event, idle: float) -> None:
        wake = self._wakes[channel]
        while not stop.is_set():
            wake.clear()  # before the pass: a wake-up during it is not lost
            try:
                delay = await self.drain_once(channel)
            except Exception:
                log.exception("outbox pass for %s failed; retrying shortly", channel)
                delay = idle
            waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
            timeout = idle if delay is None else min(idle, delay)
            _, pending = await asyncio.wait(
                waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            for task in waits:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def drain_once(self, channel: str | None = None) -> float | None:
        """One pass over each chat's head message (of ``channel``, or of every platform this
        worker sends for); returns seconds until more could be sent."""
        # Outcomes not recorded yet (the last write failed) first: until they are, their rows
        # still read as pending, and reading heads now would send them again.
        for name in [channel] if channel is not None else list(self.senders):
            await self._flush(name)
        now = self.clock.now()
        async with self.store.read() as tx:
            heads = await tx.outbox.heads(now, limit=self.batch, channel=channel)
            next_due = await tx.outbox.next_due(channel=channel)
        loop_now = time.monotonic()
        if len(self._next_for_chat) > 10_000:  # forget chats whose interval has long passed
            self._next_for_chat = {k: v for k, v in self._next_for_chat.items() if v > loop_now}
        ready: list[dict[str, Any]] = []
        wait: float | None = None
        for row in heads:
            if row["channel"] not in self.senders:
                continue  # a channel this process does not run: another instance sends it
            allowed = max(
                self._next_for_chat.get((row["channel"], row["recipient"]), 0.0),
                self._channel_paused.get(row["channel"], 0.0),
            )
            if allowed > loop_now:
                wait = allowed - loop_now if wait is None else min(wait, allowed - loop_now)
                continue
            ready.append(row)
        if ready:
            refs = await self._refs(ready)
            try:
                # Every send finishes before the pass records and ends, even if one of them
                # failed to record its batch: no result may arrive after the pass.
                failures = await asyncio.gather(
                    *(self._send(row, refs) for row in ready), return_exceptions=True
                )
                for failure in failures:
                    if isinstance(failure, BaseException):
                        raise failure
            finally:
                for name in {row["channel"] for row in ready}:
                    await self._flush(name)
            return 0.0  # there may be more behind these heads
        if next_due is not None and next_due > now:
            until_due = (next_due - now).total_seconds()
            wait = until_due if wait is None else min(wait, until_due)
        return wait

    async def _refs(self, rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
        """The platform ids of the messages these rows edit or answer, in one read."""
        wanted: dict[str, set[str]] = {}
        for row in rows:
            for name in (row["payload"].get("edit"), row["payload"].get("thread")):
                if name:
                    wanted.setdefault(row["channel"], set()).add(name)
        if not wanted:
            return {}
        found: dict[tuple[str, str], str] = {}
        async with self.store.read() as tx:
            for channel, names in wanted.items():
                for name, platform_id in (await tx.refs.many(channel, sorted(names))).items():
                    found[(channel, name)] = platform_id
        return found

    async def _send(self, row: dict[str, Any], refs: dict[tuple[str, str], str]) -> None:
        sender = self.senders[row["channel"]]
        key = (row["channel"], row["recipient"])
        message = OutgoingMessage.from_payload(row["payload"])
        if message.edit or message.thread:
            message = replace(
                message,
                edit_id=refs.get((row["channel"], message.edit or "")),
                thread_id=refs.get((row["channel"], message.thread or "")),
            )
        async with self._in_flight[row["channel"]], self._rate[row["channel"]]:
            self._next_for_chat[key] = time.monotonic() + sender.limits.per_chat_interval
            try:
                result = await sender.send(row["recipient"], message)
            except Exception as exc:  # an adapter bug must not stop the queue
                log.exception("sending outbox message %s failed unexpectedly", row["id"])
                result = SendResult(ok=False, error=f"{type(exc).__name__}: {exc}")
        if result.retry_after is not None:  # flood control: the platform's word holds for all
            self._channel_paused[row["channel"]] = time.monotonic() + result.retry_after
        results = self._results[row["channel"]]
        results.append((row, result))
        if len(results) >= RECORD_BATCH:
            await self._flush(row["channel"])

    async def _flush(self, channel: str) -> None:
        """Record outcomes, several per transaction: one commit per message would make the
        outbox compete with every incoming message for SQLite's single writer."""
        if not self._results[channel]:
            return
        batch, self._results[channel] = self._results[channel], []
        now = self.clock.now()

        async def work(tx: Tx) -> list[str]:
            return [await self._record(tx, row, result, now) for row, result in batch]

        try:
            outcomes = await self.store.write(work)
        except BaseException:
            self._results[channel][:0] = batch  # not recorded: kept, or they would be resent
            raise
        # Durable now: count, log and wake (a follow-up may be for another platform's loop).
        for (row, result), outcome in zip(batch, outcomes, strict=True):
            self._count(row, result, outcome)
        if any(r["payload"].get("on_sent") or r["payload"].get("on_failed") for r, _ in batch):
            self.wake()

    def _count(self, row: dict[str, Any], result: SendResult, outcome: str) -> None:
        if outcome == "sent":
            self.sent += 1
        elif outcome == "failed":
            self.failed += 1
            log.warning("outbox %s to %s failed for good: %s", row["id"], row["recipient"],
                        result.error or "unknown error")  # fmt: skip
        else:
            self.retried += 1
            delay = self._delay(row, result).total_seconds()
            log.info("outbox %s to %s: %s; retry in %.1fs", row["id"], row["recipient"],
                     result.error or "unknown error", delay)  # fmt: skip

    @staticmethod
    def _delay(row: dict[str, Any], result: SendResult) -> timedelta:
        if result.retry_after is not None:
            return timedelta(seconds=result.retry_after)
        return min(MAX_BACKOFF, timedelta(seconds=2 ** min(row["attempts"], 10)))

    async def _record(self, tx: Tx, row: dict[str, Any], result: SendResult, now: datetime) -> str:
        """Write one send's outcome (part of a unit of work: nothing but the database)."""
        message = OutgoingMessage.from_payload(row["payload"])
        if result.ok:
            await tx.outbox.mark_sent(row["id"], now, result.platform_id)
            name = message.ref or message.edit
            if name and result.platform_id:
                await tx.refs.put(row["channel"], name, result.platform_id, now)
            if message.on_sent:
                await self._follow_up(tx, row, message.on_sent, "sent", now=now, error="")
            return "sent"
        error = result.error or "unknown error"
        if result.permanent or result.blocked:
            await tx.outbox.mark_failed(row["id"], error)
            if message.on_failed:
                await self._follow_up(tx, row, message.on_failed, "failed", now=now, error=error)
            if result.blocked:
                customer = await tx.customers.find(row["channel"], row["recipient"])
                if customer is not None and customer["blocked_at"] is None:
                    await tx.customers.update(customer["id"], now, blocked_at=now)
            return "failed"
        await tx.outbox.mark_retry(row["id"], error, now + self._delay(row, result))
        return "retried"

    async def _follow_up(
        self,
        tx: Tx,
        row: dict[str, Any],
        follow: FollowUp,
        outcome: str,
        *,
        now: datetime,
        error: str,
    ) -> None:
        at = f"{now.astimezone(self.tz):%m-%d %H:%M:%S}"

        def fill(value: Any) -> Any:
            """Only a field that *is* a placeholder: staff or customer words that happen to
            contain "{at}" stay as written."""
            return (
                {"{at}": at, "{error}": error}.get(value, value)
                if isinstance(value, str)
                else value
            )

        message = follow.message
        card = None if message.card is None else {k: fill(v) for k, v in message.card.items()}
        await tx.outbox.enqueue(
            channel=follow.channel,
            recipient=follow.recipient,
            payload=replace(message, text=fill(message.text), card=card).to_payload(),
            now=now,
            dedupe_key=f"outbox:{row['id']}:{outcome}",
        )
