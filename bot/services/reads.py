"""Reading cases: one by number, lists, the history, a customer's own. Apart from the use
cases that change them (cases.py), which it is mixed into: every read goes through the same
unit of work's loader, so a number is looked up and refused alike everywhere."""

from __future__ import annotations

from bot.domain.cases import Case, Status
from bot.services.changes import Changes
from bot.services.model import CaseEvent
from storage.db import Store
from storage.repositories import Tx


class CaseReads:
    """Mixed into :class:`~bot.services.cases.CaseService`, which provides these two."""

    store: Store
    _changes: Changes

    async def get(self, number: str, *, tx: Tx | None = None) -> Case:
        async with self._changes.read(tx) as t:
            return await self._changes.load(t, number)

    async def list_cases(
        self, *, statuses: list[Status] | None = None, limit: int = 50
    ) -> list[Case]:
        async with self.store.read() as tx:
            rows = await tx.cases.search(
                statuses=None if statuses is None else [s.value for s in statuses], limit=limit
            )
        return [Case.from_row(r) for r in rows]

    async def history(self, number: str) -> list[CaseEvent]:
        async with self.store.read() as tx:
            case = await self._changes.load(tx, number)
            rows = await tx.events.for_case(case.id)
        return [CaseEvent.from_row(r) for r in rows]

    async def customer_cases(
        self,
        channel: str,
        channel_user_id: str,
        *,
        open_only: bool = False,
        customer_id: int | None = None,
        tx: Tx | None = None,
    ) -> list[Case]:
        """A customer's own cases, newest first; never anyone else's. ``customer_id``, when
        the caller already knows it, saves looking the customer up again."""
        async with self._changes.read(tx) as t:
            if customer_id is None:
                customer = await t.customers.find(channel, channel_user_id)
                if customer is None:
                    return []
                customer_id = int(customer["id"])
            statuses = [s.value for s in Status if s.is_open] if open_only else None
            rows = await t.cases.search(customer_id=customer_id, statuses=statuses, limit=50)
        return [Case.from_row(r) for r in rows]
