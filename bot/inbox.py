"""The durable inbox: every inbound update is committed before the platform is told it
arrived, then processed from the store.

Receivers (Telegram's polling loop and webhook, Slack's events) only store: one transaction
per fetched batch, and the platform hears "received" once it is durable, so a ``kill -9``
loses nothing the platform considers delivered. Processing is apart: a chat's rows run in the
platform's order, one at a time, by whichever worker holds the chat's lease in the store — on
one instance or several. Each row is processed in one transaction together with marking it
done, so it happens once. A row that fails is retried with back-off; after its attempts it is
parked with the reason, the customer is told, and the chat's later rows flow again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from bot.clock import Clock
from bot.logsafe import brief, log_failure
from bot.owners import worker_id
from storage.db import Store
from storage.repositories import Tx
from storage.repositories.base import Conflict
from storage.schema import Row

log = logging.getLogger(__name__)

#: What runs once a row's transaction is durable (answer a button, wake the outbox).
After = Callable[[], Awaitable[None]]

ATTEMPTS = 5  # tries of one row before it is parked
BACKOFF = 2.0  # seconds before the second try; doubled each time (2, 4, 8, 16: 30 s in all)
LEASE = 10.0  # seconds a worker holds a chat between its steps; a dead worker's chat waits that
SWEEP = 1.0  # seconds between looks for work this process was not woken for
CONCURRENCY = 256  # chats processed at once by one process (more wait in its backlog)
RETENTION = timedelta(days=6)  # under Telegram's week: update ids may be reused after it
PRUNE_EVERY = 3600.0  # seconds


@dataclass(frozen=True, slots=True)
class Inbound:
    """An update as a receiver stores it: the raw payload and where it belongs."""

    channel: str
    update_id: str
    chat: str  # the ordering scope (a customer's chat)
    fingerprint: str  # the message's own id within the update
    seq: int  # the platform's order within the chat
    payload: dict[str, Any]


class Handler(Protocol):
    """A channel's processing of its stored updates, inside the row's transaction."""

    async def process(self, tx: Tx, row: Row) -> After | None:
        """Do what the update asks; raise to have it retried. Changes nothing outside the
        database (the transaction may run again); the returned callable runs once it is
        durable."""
        ...

    async def parked(self, tx: Tx, row: Row, reason: str) -> After | None:
        """The row is given up on: tell the customer and the staff, in this transaction."""
        ...


class _Failed(Exception):
    """A row's processing raised: its transaction is rolled back, the failure recorded apart."""

    def __init__(self, row_id: int, cause: Exception) -> None:
        super().__init__(f"inbox row {row_id}: {cause}")
        self.row_id = row_id
        self.cause = cause


@runtime_checkable
class ApartHandler(Protocol):
    """A channel whose processing runs its own transactions (the Slack desk's actions): the
    row is taken in one transaction, processed, and marked done in another. A process killed
    in between processes the row again, so the processing must recognise it (the desk records
    the update id with the change it makes)."""

    async def process_apart(self, row: Row) -> After | None: ...

    async def parked(self, tx: Tx, row: Row, reason: str) -> After | None: ...


@dataclass(slots=True)
class _Step:
    more: bool = False  # the chat may have another row due
    after: After | None = None
    row: Row | None = None
    failure: BaseException | None = None
    parked: bool = False
    retry_in: float = 0.0
    telling_failed: BaseException | None = None


class Inbox:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        handlers: Mapping[str, Handler | ApartHandler] | None = None,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        lease: float = LEASE,
        sweep: float = SWEEP,
        concurrency: int = CONCURRENCY,
        retention: timedelta = RETENTION,
    ) -> None:
        self.store = store
        self.clock = clock
        self.handlers: dict[str, Handler | ApartHandler] = dict(handlers or {})
        self.attempts = attempts
        self.backoff = backoff
        self.lease = timedelta(seconds=lease)
        self.sweep = sweep
        self.concurrency = concurrency
        self.retention = retention
        self.owner = worker_id()
        self._active: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._again: set[tuple[str, str]] = set()
        # Chats received while every worker was busy, oldest first: started as workers finish,
        # without a query (the sweep finds what this process did not receive itself).
        self._backlog: dict[tuple[str, str], None] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False

    # -- receiving ---------------------------------------------------------------------------

    async def receive(self, updates: Sequence[Inbound]) -> list[int | None]:
        """Store a batch in one transaction; the platform may be told once this returns.
        Each update's row id, or None for a redelivery of one stored before."""
        if not updates:
            return []
        now = self.clock.now()

        items = [{name: getattr(u, name) for name in Inbound.__slots__} for u in updates]

        async def work(tx: Tx) -> list[int | None]:
            return await tx.inbox.add_many(items, now)

        ids = await self.store.write(work)
        for update, row_id in zip(updates, ids, strict=True):
            if row_id is None:
                log.info("%s update %s seen before: ignored", update.channel, update.update_id)
            else:
                self._kick((update.channel, update.chat))
        return ids

    def wake(self) -> None:
        self._wakeup.set()

    def _kick(self, key: tuple[str, str]) -> None:
        """Process this chat now, or as soon as this process may take one more."""
        if key in self._active:
            self._again.add(key)  # its worker looks once more before letting go
        elif self._stopping:
            return  # stored: the next start (or another instance) processes it
        elif len(self._active) < self.concurrency:
            self._active[key] = asyncio.create_task(self._drain(key))
        else:
            self._backlog[key] = None  # started when a chat's worker finishes

    # -- processing --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep for work every ``sweep`` seconds until ``stop``: rows stored by another
        instance, retries that came due, chats whose worker died, chats a busy moment left
        for later. Chats this process receives start at once, without waiting for a sweep;
        :meth:`wake` sweeps at once."""
        next_prune = 0.0
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wakeup.clear()
                if time.monotonic() >= next_prune:
                    await self._prune()
                    next_prune = time.monotonic() + PRUNE_EVERY
                await self._sweep()
                waiter = asyncio.create_task(self._wakeup.wait())
                await asyncio.wait(
                    {waiter, stopper}, timeout=self.sweep, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
        finally:
            stopper.cancel()
            self._stopping = True
            if self._active:  # each finishes the row it is on, then stops
                await asyncio.wait(list(self._active.values()), timeout=30)

    async def _sweep(self) -> None:
        room = self.concurrency - len(self._active)
        if room <= 0:
            return
        try:
            async with self.store.read() as tx:
                chats = await tx.inbox.due_chats(self.clock.now(), self.owner, room + 16)
        except Exception as exc:  # the store is down: once a second, one line, no trace
            log.warning("inbox: could not look for work (%s: %s); again in %.0f s",
                        type(exc).__name__, exc, self.sweep)  # fmt: skip
            return
        for key in chats:
            if key not in self._active:
                self._kick(key)

    async def _prune(self) -> None:
        before = self.clock.now() - self.retention
        try:
            removed = await self.store.write(lambda tx: tx.inbox.prune(before))
        except Exception:
            log.exception("inbox: pruning failed; trying again in an hour")
            return
        if removed:
            log.info("inbox: forgot %d processed updates received before %s", removed, before)

    async def _drain(self, key: tuple[str, str]) -> None:
        """Process one chat's due rows in order, then let it go."""
        channel, chat = key
        try:
            while not self._stopping:
                self._again.discard(key)
                step = await self._next(channel, chat)
                self._report(channel, chat, step)
                if step.after is not None:
                    try:
                        await step.after()
                    except Exception as exc:
                        log_failure(log, logging.ERROR, "inbox: %s chat %s: after-commit work "
                                    "failed", channel, chat, exc=exc)  # fmt: skip
                if not step.more and key not in self._again:
                    return
        except Exception as exc:
            log_failure(log, logging.ERROR, "inbox: %s chat %s could not be processed now; the "
                        "sweep tries again", channel, chat, exc=exc)  # fmt: skip
        finally:
            self._active.pop(key, None)
            while self._backlog and len(self._active) < self.concurrency:
                waiting = next(iter(self._backlog))
                del self._backlog[waiting]
                self._kick(waiting)

    async def _next(self, channel: str, chat: str) -> _Step:
        """The chat's next row: in one transaction with its effects, or — for a handler
        that runs its own transactions — taken in one and recorded in another."""
        handler = self.handlers.get(channel)
        if not isinstance(handler, ApartHandler):
            try:
                return await self.store.write(lambda tx: self._step(tx, channel, chat, handler))
            except _Failed as failed:  # its transaction is rolled back: record why, apart
                known = failed
            return await self.store.write(lambda tx: self._record(tx, channel, chat, known))
        row = await self.store.write(lambda tx: self._take(tx, channel, chat))
        if row is None:
            return _Step()
        after: After | None = None
        failure: Exception | None = None
        try:
            after = await handler.process_apart(row)
        except Exception as exc:
            failure = exc

        async def finish(tx: Tx) -> _Step:
            return await self._finish(
                tx, channel, chat, row, handler=handler, after=after, failure=failure
            )

        return await self.store.write(finish)

    async def _record(self, tx: Tx, channel: str, chat: str, failed: _Failed) -> _Step:
        row = await self._take(tx, channel, chat)
        if row is None or row["id"] != failed.row_id:
            return _Step(more=row is not None)  # taken care of meanwhile
        handler = self.handlers.get(channel)
        return await self._finish(
            tx, channel, chat, row, handler=handler, after=None, failure=failed.cause, in_take=True
        )

    async def _step(self, tx: Tx, channel: str, chat: str, handler: Handler | None) -> _Step:
        """One row's whole transaction: the lease, the row, its effects, its outcome. A
        failure rolls the whole transaction back (no savepoint: on PostgreSQL that is two
        round trips per update saved) and is recorded in a transaction of its own."""
        row = await self._take(tx, channel, chat)
        if row is None:
            return _Step()
        try:
            if handler is None:
                raise LookupError(f"no running channel {channel!r} can process it")
            after = await handler.process(tx, row)
        except Conflict:
            raise  # the store runs the whole transaction again
        except Exception as exc:
            raise _Failed(int(row["id"]), exc) from exc
        return await self._finish(
            tx, channel, chat, row, handler=handler, after=after, failure=None, in_take=True
        )

    async def _take(self, tx: Tx, channel: str, chat: str) -> Row | None:
        """The chat's lease and its oldest row, if that row is due (with ``_following``: the
        row after it, if any, read in the same round trip)."""
        now = self.clock.now()
        # No rows: another worker has this chat (it looks for more before leaving), or
        # nothing is pending here (let go of the chat, if it was ours).
        rows = await tx.inbox.claim_heads(channel, chat, self.owner, now, now + self.lease)
        if not rows or rows[0]["due_at"] > now:
            await tx.inbox.release(channel, chat, self.owner)
            return None
        return {**rows[0], "_following": rows[1] if len(rows) > 1 else None}

    async def _finish(
        self,
        tx: Tx,
        channel: str,
        chat: str,
        row: Row,
        *,
        handler: Handler | ApartHandler | None,
        after: After | None,
        failure: Exception | None,
        in_take: bool = False,
    ) -> _Step:
        """Record the row's outcome: done, retried later, or parked; then keep the chat or
        let it go."""
        now = self.clock.now()
        step = _Step(more=True, row=row, after=after, failure=failure)
        if failure is None and in_take and row["_following"] is None:
            await tx.inbox.done_release(row["id"], now, channel, chat, self.owner)
            step.more = False  # the common case: one message, one round trip to finish
            return step
        if failure is None:
            await tx.inbox.done(row["id"], now)
        else:
            attempts = int(row["attempts"]) + 1
            reason = f"{type(failure).__name__}: {failure}"[:1000]
            if attempts < self.attempts:
                step.retry_in = self.backoff * 2 ** (attempts - 1)
                due = now + timedelta(seconds=step.retry_in)
                await tx.inbox.failed(row["id"], attempts, reason, due)
                await tx.inbox.release(channel, chat, self.owner)
                step.more = False
                return step
            step.parked = True
            await tx.inbox.park(row["id"], attempts, reason, now)
            if handler is not None:
                try:
                    async with tx.savepoint():
                        step.after = await handler.parked(tx, row, reason)
                except Conflict:
                    raise
                except Exception as exc:  # the row stays parked; nobody was told
                    step.telling_failed = exc
        # Read in this transaction's take when it is the one that took the row: anything
        # stored since waits on this chat's lease row (PostgreSQL) or behind this transaction
        # (SQLite), and its receiver claims the chat once this commits.
        following = row["_following"] if in_take else await tx.inbox.head(channel, chat)
        if following is None or following["due_at"] > now:
            await tx.inbox.release(channel, chat, self.owner)
            step.more = False
        return step

    @staticmethod
    def _report(channel: str, chat: str, step: _Step) -> None:
        """Logged once the outcome is durable (the transaction may have run twice)."""
        if step.failure is None or step.row is None:
            return
        update_id, row_id = step.row["update_id"], step.row["id"]
        if step.parked:
            log.error(
                "inbox: %s update %s (row %s, chat %s) parked after %d attempts: %s; "
                "`kesu inbox retry %s` runs it again, `kesu inbox drop %s --reason …` drops it",
                channel, update_id, row_id, chat, int(step.row["attempts"]) + 1,
                brief(step.failure), row_id, row_id,
            )  # fmt: skip
            log.debug("inbox: row %s's failure in full", row_id, exc_info=step.failure)
            if step.telling_failed is not None:
                log_failure(log, logging.ERROR, "inbox: telling the customer and staff about "
                            "row %s failed", row_id, exc=step.telling_failed)  # fmt: skip
        else:
            log.warning(
                "inbox: %s update %s (row %s) failed, retried in %.0f s: %s",
                channel, update_id, row_id, step.retry_in, brief(step.failure),
            )  # fmt: skip
            log.debug("inbox: row %s's failure in full", row_id, exc_info=step.failure)
