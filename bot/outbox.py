"""The outbox dispatcher: sends queued messages within each platform's limits, each once, never
losing one — on one instance or on several sharing a PostgreSQL database.

Rows are written by the transaction that caused them (DESIGN.md principle 4). A pass claims
recipients, not rows (``storage/repositories/outbox.py``): the lease on a recipient lets one
worker send its oldest pending message, and when the outcome is recorded the lease turns into
the recipient's pace (Telegram: a second between two messages to one chat). The platform's
overall rate (Telegram about 30 a second per bot) is shared the same way, through the store:
a pass reserves its send slots in the transaction that claims, so two instances together keep
the rate one would. A 429's retry-after pushes those slots back for every instance.

Outcomes: sent; retried later (the platform's retry-after, or exponential back-off); failed for
good (the customer blocked the bot, the chat does not exist); or a dead letter — after
``attempts`` failures that were the message's own, or when older than ``max_age`` (a
configuration error an operator must fix waits ``config_max_age``). A failed message runs its
``on_failed`` follow-up (the staff thread shows ❌ and why), is logged once at ERROR, and the
recipient's later messages flow again; ``kesu outbox retry`` sends it again.

May be sent twice (platforms offer no idempotency key): one sent but not recorded when the
process died (at most RECORD_BATCH per platform), sent again by whoever takes its recipient
over (at once on the same host, ``bot/owners.py``; after the lease elsewhere); one cut off at
``send_timeout`` that had arrived; one whose worker froze past its lease meanwhile.

One module though past 400 lines: claim, send and record are one loop sharing the claim's
state (leases, pace, the batch); the outcome bookkeeping is the part to move out if it grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from bot.clock import Clock
from bot.delivery import Policy, Sender, SendResult, backoff, counted, flood, readable, verdict
from bot.logsafe import brief, log_failure, shape
from bot.messages import FollowUp, OutgoingMessage
from bot.outbox_upkeep import Upkeep
from bot.outgoing import TextLimits, enqueue
from bot.owners import worker_id
from storage.db import Store
from storage.repositories import Tx

log = logging.getLogger(__name__)

RECORD_BATCH = 16  # outcomes recorded per transaction; also the most resent after a crash
PASS_SECONDS = 1.0  # a pass claims about this many seconds' worth of the platform's rate
MAX_AHEAD = 2.0  # ... and claims nothing while the shared slots are booked further ahead
LEASE_SLACK = 5.0  # seconds a lease outlives the last slot plus the whole send
IDLE_MIN = 0.05  # never spin: the shortest sleep between passes that sent nothing


@dataclass(slots=True)
class _Claimed:
    row: dict[str, Any]
    message: OutgoingMessage | None  # None: the payload could not be read (a poison row)
    result: SendResult | None = None
    answered: datetime | None = None  # when the platform answered: the chat's pace runs from here


class _Later(Exception):  # not an error: the shared slots are booked until ``start``
    def __init__(self, start: datetime) -> None:
        self.start = start


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        senders: dict[str, Sender],
        clock: Clock,
        *,
        in_flight: int = 16,
        tz: tzinfo = UTC,
        policy: Policy | None = None,
        owner: str | None = None,
        text_limits: TextLimits | None = None,
    ) -> None:
        self.store = store
        self.tz = tz  # for the times written into follow-ups
        self.senders = senders
        self.clock = clock
        self.policy = policy or Policy()
        self.owner = owner or worker_id()
        self.upkeep = Upkeep(store, clock, self.owner)
        self.text_limits = text_limits or TextLimits().learn(senders.values())
        self._wakes = {name: asyncio.Event() for name in senders}
        self._in_flight = {name: asyncio.Semaphore(in_flight) for name in senders}
        self._next_send = dict.fromkeys(senders, 0.0)  # monotonic: this process's pace
        self._spacing = {name: asyncio.Lock() for name in senders}
        # Outcomes not yet recorded, per platform: each loop records its own before its next
        # pass, or its leases would run out and another worker send them again.
        self._results: dict[str, list[_Claimed]] = {name: [] for name in senders}
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
        loops = [self._run(name, stop, idle) for name in self.senders]
        await asyncio.gather(*loops, self.upkeep.run(stop))

    async def _run(self, channel: str, stop: asyncio.Event, idle: float) -> None:
        """Passes one after another, overlapping by a little: the next pass claims as soon as
        this one's last send leaves, while its answers are still coming in, so the platform's
        rate has no gap at each pass's end (its recipients stay leased until recorded)."""
        wake = self._wakes[channel]
        passes: list[Pass] = []
        try:
            while not stop.is_set():
                wake.clear()  # before the pass: a wake-up during it is not lost
                while len(passes := _running(passes, channel)) >= 2:
                    await asyncio.wait(passes, return_when=asyncio.FIRST_COMPLETED)
                launched = asyncio.Event()
                current = asyncio.create_task(self._pass(channel, launched))
                passes.append(current)
                leaving = asyncio.ensure_future(launched.wait())
                await asyncio.wait([current, leaving], return_when=asyncio.FIRST_COMPLETED)
                leaving.cancel()
                delay: float | None = 0.0  # its last send is leaving: claim the next now
                if current.done():
                    passes.remove(current)
                    try:
                        delay = current.result()
                    except Exception as exc:
                        log_failure(log, logging.ERROR, "outbox pass for %s failed; retrying "
                                    "shortly", channel, exc=exc)  # fmt: skip
                        delay = idle
                await self._idle(wake, stop, idle, delay)
        finally:
            await asyncio.gather(*passes, return_exceptions=True)  # they finish and record

    @staticmethod
    async def _idle(
        wake: asyncio.Event, stop: asyncio.Event, idle: float, delay: float | None
    ) -> None:
        """Until ``delay`` (at most ``idle``) has passed, something was queued, or stop."""
        timeout = idle if delay is None else min(idle, delay)
        if timeout <= 0:
            return
        waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
        _, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in waits:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def drain_once(self, channel: str | None = None) -> float | None:
        """One pass (for ``channel``, or for every platform this worker sends for); returns
        seconds until more could be sent, 0 when there may be more now, None when idle."""
        waits = [await self._pass(name) for name in ([channel] if channel else self.senders)]
        found = [w for w in waits if w is not None]
        return min(found) if found else None

    async def _pass(self, channel: str, launched: asyncio.Event | None = None) -> float | None:
        """Claim, send in the booked slots, record. ``launched`` is set when the last send
        leaves (or the pass ends without one)."""
        try:
            return await self._claim_and_send(channel, launched or asyncio.Event())
        finally:
            if launched is not None:
                launched.set()

    async def _claim_and_send(self, channel: str, launched: asyncio.Event) -> float | None:
        # Outcomes not recorded yet (the last write failed) first: while their leases last
        # nobody sends those rows, and recording must not wait until the leases run out.
        await self._flush(channel)
        sender = self.senders[channel]
        spacing = timedelta(seconds=1.0 / sender.limits.per_second)
        count = max(1, int(sender.limits.per_second * PASS_SECONDS))
        now, mono = self.clock.now(), time.monotonic()  # one instant on both clocks
        lease = timedelta(seconds=MAX_AHEAD + PASS_SECONDS + sender.send_timeout + LEASE_SLACK)

        async def claim(tx: Tx) -> tuple[list[dict[str, Any]], datetime]:
            rows = await tx.outbox.claim(channel, self.owner, now, now + lease, count)
            if not rows:
                return rows, now
            start = max(await tx.outbox.pace(channel, now), now)
            if start - now > timedelta(seconds=MAX_AHEAD):
                raise _Later(start)  # rolled back: the leases are not taken after all
            await tx.outbox.set_pace(channel, start + spacing * len(rows))
            return rows, start

        try:
            rows, start = await self.store.write(claim)
        except _Later as later:
            return max(IDLE_MIN, (later.start - now).total_seconds() - MAX_AHEAD / 2)
        if not rows:
            async with self.store.read() as tx:
                due = await tx.outbox.next_due(channel, self.clock.now())
            # Also a row queued for later (a held-back acknowledgement): the loop sleeps until
            # then (at most its idle tick), not until something else is queued.
            return None if due is None else max(IDLE_MIN, (due - self.clock.now()).total_seconds())
        claimed = [_Claimed(row, readable(row)) for row in rows]
        refs = await self._refs(channel, claimed)
        # The reserved slots, on this process's monotonic clock: anchored to the instant the
        # slots were computed from, so this pass's and the next one's never overlap.
        base = mono + (start - now).total_seconds()
        spaced = spacing.total_seconds()
        try:
            # Every send finishes before the pass records and ends, even if one of them
            # failed to record its batch: no result may arrive after the pass.
            failures = await asyncio.gather(
                *(
                    self._send(
                        c, refs, base + i * spaced, launched if i == len(claimed) - 1 else None
                    )
                    for i, c in enumerate(claimed)
                ),
                return_exceptions=True,
            )
            for failure in failures:
                if isinstance(failure, BaseException):
                    raise failure
        finally:
            await self._flush(channel)
            # Its recipients are free (or paced) now: the loop, which may be waiting out a
            # lease this pass held while it ran, looks again.
            self._wakes[channel].set()
        return 0.0  # there may be more behind these heads

    async def _refs(self, channel: str, claimed: list[_Claimed]) -> dict[str, str]:
        """The platform ids of the messages these rows edit or answer, in one read."""
        names = {
            name
            for c in claimed
            if c.message is not None
            for name in (c.message.edit, c.message.thread)
            if name
        }
        if not names:
            return {}
        async with self.store.read() as tx:
            return await tx.refs.many(channel, sorted(names))

    async def _send(
        self, claimed: _Claimed, refs: dict[str, str], at: float, last: asyncio.Event | None
    ) -> None:
        channel = claimed.row["channel"]
        sender = self.senders[channel]
        message = claimed.message
        if message is None:
            if last is not None:
                last.set()
            error = f"unreadable payload ({shape(claimed.row['payload'])})"  # no words
            claimed.result = SendResult(ok=False, error=error)
        else:
            if message.edit or message.thread:
                message = replace(
                    message,
                    edit_id=refs.get(message.edit or ""),
                    thread_id=refs.get(message.thread or ""),
                )
            async with self._in_flight[channel]:
                # Its reserved slot, and never closer than the spacing to this process's last
                # send: sends held up by the in-flight bound do not leave together.
                async with self._spacing[channel]:  # one at a time, first come first served
                    wait = max(at, self._next_send[channel]) - time.monotonic()
                    await asyncio.sleep(max(0.0, wait))
                    # From when it actually goes: a send that woke late delays the next.
                    self._next_send[channel] = time.monotonic() + 1.0 / sender.limits.per_second
                if last is not None:
                    last.set()
                claimed.result = await self._call(sender, claimed.row, message)
                claimed.answered = self.clock.now()
        results = self._results[channel]
        results.append(claimed)
        if len(results) >= RECORD_BATCH:
            await self._flush(channel)

    @staticmethod
    async def _call(sender: Sender, row: dict[str, Any], message: OutgoingMessage) -> SendResult:
        try:
            async with asyncio.timeout(sender.send_timeout):
                return await sender.send(row["recipient"], message)
        except TimeoutError:
            error = f"no answer within {sender.send_timeout:g}s (may have arrived)"
            return SendResult(ok=False, outage=True, error=error)
        except Exception as exc:  # an adapter bug must not stop the queue
            # A warning each try; the one ERROR comes if it becomes a dead letter.
            log_failure(log, logging.WARNING, "sending outbox message %s failed unexpectedly",
                        row["id"], exc=exc)  # fmt: skip
            return SendResult(ok=False, error=brief(exc))  # logged: no message, which may quote

    async def _flush(self, channel: str) -> None:
        """Record outcomes, several per transaction: one commit per message would make the
        outbox compete with every incoming message for SQLite's single writer."""
        if not self._results[channel]:
            return
        batch, self._results[channel] = self._results[channel], []
        now = self.clock.now()

        async def work(tx: Tx) -> list[str]:
            outcomes = [await self._record(tx, c, now) for c in batch]
            pause = max((flood(c.result) for c in batch if c.result), default=0.0)
            if pause:  # flood control holds the whole bot, on every instance (after leases)
                booked = await tx.outbox.pace(channel, now)
                await tx.outbox.set_pace(channel, max(booked, now + timedelta(seconds=pause)))
            return outcomes

        try:
            outcomes = await self.store.write(work)
        except BaseException:
            self._results[channel][:0] = batch  # not recorded: kept, or they would be resent
            raise
        # Durable now: count, log and wake (a follow-up may be for another platform's loop).
        for claimed, outcome in zip(batch, outcomes, strict=True):
            self._count(claimed, outcome)
        if any(c.message and (c.message.on_sent or c.message.on_failed) for c in batch):
            self.wake()

    def _count(self, claimed: _Claimed, outcome: str) -> None:
        row, result = claimed.row, claimed.result
        assert result is not None  # noqa: S101 (recorded only once sent)
        error = result.error or "unknown error"
        where = f"outbox {row['id']} ({row['channel']} to {row['recipient']})"
        if outcome == "sent":
            self.sent += 1
        elif outcome == "failed":
            self.failed += 1
            log.warning("%s failed for good: %s", where, error)
        elif outcome == "dead":
            self.failed += 1
            log.error("%s is a dead letter after %d tries: %s; its recipient's later messages "
                      "go on. See `kesu outbox list --failed`; send it again with `kesu outbox "
                      "retry %s`, or `kesu outbox drop %s --reason …`", where,
                      row["attempts"] + 1, error, row["id"], row["id"])  # fmt: skip
        elif outcome == "lost":
            log.warning("%s: its lease ran out and another worker took it over; outcome "
                        "(%s) not recorded here, it may be sent twice", where,
                        "sent" if result.ok else error)  # fmt: skip
        else:
            self.retried += 1
            log.info("%s: %s; retry in %.1fs", where, error,
                     backoff(row, result).total_seconds())  # fmt: skip

    async def _record(self, tx: Tx, claimed: _Claimed, now: datetime) -> str:
        """Write one send's outcome (part of a unit of work: nothing but the database), only
        while this worker still holds the recipient."""
        row, message, result = claimed.row, claimed.message, claimed.result
        assert result is not None  # noqa: S101 (recorded only once sent)
        sender = self.senders[row["channel"]]
        pace = now  # a sent message's chat waits its interval from the platform's answer
        if result.ok:
            pace = (claimed.answered or now) + timedelta(seconds=sender.limits.per_chat_interval)
        if not await tx.outbox.release(row["channel"], row["recipient"], self.owner, pace):
            return "lost"
        if result.ok:
            await tx.outbox.mark_sent(row["id"], now, result.platform_id)
            name = message and (message.ref or message.edit)
            if name and result.platform_id:
                await tx.refs.put(row["channel"], name, result.platform_id, now)
            if message and message.on_sent:
                await self._follow_up(tx, row, message.on_sent, "sent", now=now, error="")
            return "sent"
        error = result.error or "unknown error"
        outcome = verdict(row, result, now, self.policy)
        if outcome == "retried":
            await tx.outbox.mark_retry(
                row["id"], error, now + backoff(row, result), counted=counted(result)
            )
            return outcome
        await tx.outbox.mark_failed(row["id"], error, counted=counted(result))
        if message and message.on_failed:
            await self._follow_up(tx, row, message.on_failed, "failed", now=now, error=error)
        if result.blocked:
            customer = await tx.customers.find(row["channel"], row["recipient"])
            if customer is not None and customer["blocked_at"] is None:
                await tx.customers.update(customer["id"], now, blocked_at=now)
        return outcome

    async def _follow_up(
        self, tx: Tx, row: dict[str, Any], follow: FollowUp, outcome: str, *, now: datetime,
        error: str,
    ) -> None:  # fmt: skip
        at = f"{now.astimezone(self.tz):%m-%d %H:%M:%S}"
        await enqueue(
            tx,
            self.text_limits,
            channel=follow.channel,
            recipient=follow.recipient,
            message=follow.filled(at=at, error=error),
            now=now,
            dedupe_key=f"outbox:{row['id']}:{outcome}",
        )


Pass = asyncio.Task[float | None]


def _running(passes: list[Pass], channel: str) -> list[Pass]:
    """The passes still running; a finished one's failure is logged here."""
    for task in passes:
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            log_failure(log, logging.ERROR, "outbox pass for %s failed", channel, exc=error)
    return [task for task in passes if not task.done()]
