"""The unit of work every case change goes through, apart from the use cases that name them.

One call: read the case row-locked, ask the domain what it becomes, write the row and its
``case_events`` row, draw and queue the customer's message when the change tells them
something, let the listeners write in savepoints of their own — and commit all of it or none.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bot.clock import Clock
from bot.domain.cases import Action, Case, transition
from bot.domain.numbers import parse_case_number
from bot.logsafe import log_failure
from bot.messages import Attachment
from bot.services import due
from bot.services.model import CaseListener, CaseNotFound, Change, Receipt
from bot.services.notify import Notice, Notices, refused, told
from bot.services.rules import plain, require
from storage.db import Store
from storage.repositories import Tx
from storage.repositories.base import Conflict

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Changes whose message to the customer is the desk's answer: the first stops the
#: first-response clock, like a reply (a case resolved without one was never "answered").
ANSWERS = frozenset({Action.REPLY, Action.RESOLVE, Action.APPROVE, Action.MARK_INVALID})
#: The values a change writes, from the case as it was and the time of the change.
Compute = Callable[[Case, datetime], dict[str, Any]]


@dataclass
class Changes:
    store: Store
    clock: Clock
    notices: Notices
    listeners: list[CaseListener] = field(default_factory=list)

    async def change(
        self,
        number: str,
        action: Action,
        actor: str,
        note: str | None,
        compute: Compute,
        *,
        tx: Tx | None = None,
        files: Sequence[Attachment] = (),
        echo: bool = True,
    ) -> Case:
        require(actor, "every change needs the person who made it")
        now = self.clock.now()

        async def work(t: Tx) -> tuple[Case, Case]:
            case = await self.load(t, number, for_update=True)
            review = self.notices.sla.policy.closure.review_before_confirm
            new_status = transition(case.status, action, case.number, review=review)
            values = compute(case, now)
            if told(action, actor, new_status):  # 定期更新进展: the silence counts from here
                values["customer_heard_at"] = now
                if action in ANSWERS and case.first_responded_at is None:
                    values["first_responded_at"] = now  # a result is a response too
            if new_status is not case.status:
                values["status"] = new_status.value
            diff = {
                k: [plain(getattr(case, k)), plain(v)]
                for k, v in values.items()
                if plain(getattr(case, k)) != plain(v)
            }
            clock = await due.kept(t, self.notices.sla, case, values, now)
            row = await t.cases.update(
                case.id, case.version, {**values, **clock, "updated_at": now}
            )
            await t.attachments.add(case.id, case.channel, [f.to_json() for f in files], now)
            await t.events.append(
                case_id=case.id,
                at=now,
                actor=actor,
                action=action.value,
                from_status=case.status.value,
                to_status=new_status.value,
                changes=diff,
                note=note,
            )
            after = Case.from_row(row)
            notice = await self._draw(t, after, action, note, now, actor=actor)
            change = Change(
                case=after,
                before=case,
                action=action,
                actor=actor,
                note=note,
                changes=diff,
                at=now,
                attachments=tuple(files),
                echo=echo,
                to_customer=notice.message if notice else None,
            )
            receipt = await self.project(t, change)
            if notice is not None:
                try:
                    await self.notices.queue(t, change, notice, receipt)
                except Conflict:
                    raise  # PostgreSQL runs the whole transaction again: no refusal
                except Exception as exc:
                    raise refused(after, action, exc) from exc
            return case, after

        case, after = await self.write(tx, work)
        log.info("case %s: %s by %s (%s -> %s)", case.number, action.value, actor,
                 case.status.value, after.status.value)  # fmt: skip
        return after

    async def _draw(
        self, tx: Tx, case: Case, action: Action, note: str | None, now: datetime, *, actor: str
    ) -> Notice | None:
        if not told(action, actor, case.status):
            return None
        try:
            return await self.notices.draw(tx, case, action, note or "", now)
        except Conflict:
            raise
        except Exception as exc:
            raise refused(case, action, exc) from exc

    async def project(self, tx: Tx, change: Change) -> Receipt | None:
        """Listeners write in a savepoint: a broken listener (a card that cannot be drawn)
        loses its own rows, logged, never the case change itself — the customer's complaint
        is recorded even if the staff channel's card is not. The first receipt asked for is
        the one the customer's message carries."""
        receipt: Receipt | None = None
        for listener in self.listeners:
            try:
                async with tx.savepoint():
                    asked = await listener(tx, change)
            except Exception as exc:
                log_failure(
                    log, logging.ERROR, "listener %r failed on %s of case %s; the change is kept",
                    listener, change.action.value, change.case.number, exc=exc,
                )  # fmt: skip
                continue
            receipt = receipt or asked
        return receipt

    async def write(self, tx: Tx | None, work: Callable[[Tx], Awaitable[T]]) -> T:
        """``work`` in a transaction of its own, or in the caller's (a dialogue's) inside a
        savepoint: a refused change (a rule, a customer message that cannot be queued) is
        undone whole even when the caller catches the refusal and carries on — never a
        change on record without its message — and on PostgreSQL the caller's transaction
        stays usable after a failed statement."""
        if tx is None:
            return await self.store.write(work)
        async with tx.savepoint():
            return await work(tx)

    @contextlib.asynccontextmanager
    async def read(self, tx: Tx | None) -> AsyncIterator[Tx]:
        if tx is not None:
            yield tx
            return
        async with self.store.read() as new:
            yield new

    @staticmethod
    async def load(tx: Tx, number: str, *, for_update: bool = False) -> Case:
        canonical = str(parse_case_number(number))
        row = await tx.cases.by_number(canonical, for_update=for_update)
        if row is None:
            raise CaseNotFound(f"no case {canonical}")
        return Case.from_row(row)
