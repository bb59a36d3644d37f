"""The outbox's upkeep beside the sending: recipients a crashed process of this host held are
taken back at once (``bot/owners.py``), and recipients whose pace ran out long ago are
forgotten, so ``outbox_leases`` holds only the chats that are busy."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.owners import dead_on_this_host
from storage.db import Store
from storage.repositories import Tx

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds between forgetting recipients whose pace ran out
REAP_EVERY = 5.0  # seconds between looks for crashed processes' leases on this host


class Upkeep:
    def __init__(self, store: Store, clock: Clock, owner: str) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner

    async def run(self, stop: asyncio.Event) -> None:
        """Take back what crashed siblings on this host held, at once and then every few
        seconds; forget recipients whose pace ran out, hourly."""
        pruned = time.monotonic()
        while not stop.is_set():
            try:
                await self.reap()
                if time.monotonic() - pruned >= PRUNE_EVERY:
                    before = self.clock.now() - timedelta(minutes=10)
                    await self.store.write(functools.partial(_prune_leases, before=before))
                    pruned = time.monotonic()
            except Exception:
                log.exception("outbox housekeeping failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REAP_EVERY)

    async def reap(self) -> int:
        """Free the recipients held by dead processes of this host (a crash, then a restart):
        they need not wait out the lease. Their sends in flight at the crash may repeat."""
        async with self.store.read() as tx:
            holders = await tx.outbox.holders()
        dead = dead_on_this_host(holders, self.owner)
        if not dead:
            return 0
        now = self.clock.now()
        freed = await self.store.write(lambda tx: tx.outbox.free(dead, now))
        if freed:
            log.warning("outbox: took back %d recipients held by %s, gone from this host; "
                        "a message it was sending when it died may arrive twice", freed,
                        ", ".join(dead))  # fmt: skip
        return freed


async def _prune_leases(tx: Tx, *, before: datetime) -> int:
    return await tx.outbox.prune_leases(before)
