"""Closure (闭环, DOMAIN.md §6): staff resolve, the monitor checks, the customer confirms. The
supervisor's check when the policy asks for one (``review_before_confirm``: approve, and the
customer is asked; or send back with a note), the customer's answer to a resolution (已解决
closes the case, 未解决 reopens it one level up) and the window after which a case nobody
answered for closes on its own, recorded as such.

Apart from ``cases.py`` because it is one concern with its own policy (``[closure]``); every
change still goes through the one unit of work (:class:`~bot.services.changes.Changes`), so
it is a normal case event with the version check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.cases import Action, Case, DomainError, Status
from bot.domain.sla import Sla
from bot.services.changes import Changes
from bot.services.model import SYSTEM
from bot.services.rules import reopened, require
from bot.services.survey import drawn
from storage.repositories import Tx

APPROVED = "主管审核通过 approved by a supervisor"
CONFIRMED = "客户确认 the customer confirmed it is solved"
NOT_SOLVED = "客户反馈未解决 the customer says it is not solved"
UNANSWERED = "客户未在确认期内答复,自动结案 (no answer within the confirmation window)"


class NotAwaiting(DomainError):
    """The resolution asked about is no longer waiting for the customer's answer."""


class OwnResolution(DomainError):
    """The person who resolved a case may not also pass their own resolution."""


@dataclass
class Closure:
    sla: Sla
    changes: Changes

    def confirm_due(self, case: Case) -> datetime | None:
        """When the customer's window to answer closes; None for a case not awaiting them."""
        asked = case.confirm_asked_at or case.resolved_at
        if case.status is not Status.RESOLVED or asked is None:
            return None
        return self.sla.policy.closure.confirm_within.due(self.sla.calendar, asked)

    async def approve(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        """The supervisor passes the resolution: the customer now receives it with 已解决 /
        未解决, and their window runs from now. Checked by someone other than who resolved it
        (the monitor checks the handler, DOMAIN.md §6)."""
        await self._not_own(number, actor, tx)
        words = f"{APPROVED}: {note.strip()}" if note and note.strip() else APPROVED

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            return {"confirm_asked_at": now}

        return await self.changes.change(number, Action.APPROVE, actor, words, changes, tx=tx)

    async def send_back(self, number: str, actor: str, note: str, *, tx: Tx | None = None) -> Case:
        """退回: the resolution is not good enough; the handler works on with the note. The
        customer never heard of it; the SLA clock kept running (a resolution still late is
        late: its breach escalates at the next sweep)."""
        require(note, "sending a resolution back needs a note: what is missing")
        await self._not_own(number, actor, tx)

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            return {"resolved_at": None, "confirm_asked_at": None, "resolution": None,
                    "outcome": None}  # fmt: skip

        return await self.changes.change(number, Action.SEND_BACK, actor, note, changes, tx=tx)

    async def _not_own(self, number: str, actor: str, tx: Tx | None) -> None:
        async with self.changes.read(tx) as t:
            case = await self.changes.load(t, number)
            resolver = next(
                (e["actor"] for e in reversed(await t.events.for_case(case.id))
                 if e["action"] == Action.RESOLVE.value),
                None,
            )  # fmt: skip
        if case.status is Status.REVIEWING and resolver == actor:
            raise OwnResolution(
                f"{case.number}: a resolution is checked by someone other than who resolved it"
            )

    @staticmethod
    def token(case: Case) -> int:
        """Names one resolution of the case: a reopening starts the next, so a button of an
        earlier resolution no longer matches (two resolutions can share a second)."""
        return case.reopen_count

    async def confirmed(self, number: str, actor: str, token: int, *, tx: Tx | None = None) -> Case:
        """已解决: the case closes; the event keeps who and when (客户确认)."""

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            self._check(case, token)
            return {"closed_at": now} | drawn(self.sla, case)

        return await self.changes.change(number, Action.CLOSE, actor, CONFIRMED, changes, tx=tx)

    async def not_solved(
        self, number: str, actor: str, token: int, *, tx: Tx | None = None
    ) -> Case:
        """未解决: handling restarts one level up with fresh deadlines (DOMAIN.md §6)."""

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            self._check(case, token)
            return reopened(self.sla, case, now)

        return await self.changes.change(number, Action.REOPEN, actor, NOT_SOLVED, changes, tx=tx)

    @staticmethod
    def _check(case: Case, token: int) -> None:
        """Checked on the locked row, so two presses at once change the case once."""
        if case.status is not Status.RESOLVED or case.reopen_count != token:
            raise NotAwaiting(f"case {case.number}'s resolution {token} is not awaiting an answer")

    async def close_unanswered(self, number: str, token: int, *, tx: Tx | None = None) -> Case:
        """The confirmation window passed without an answer (the sweep's ``confirm_timeout``
        step): closed by the system, recorded as such. Checked on the locked row."""

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            self._check(case, token)
            return {"closed_at": now} | drawn(self.sla, case)

        return await self.changes.change(number, Action.CLOSE, SYSTEM, UNANSWERED, changes, tx=tx)
