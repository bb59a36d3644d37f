"""Closure (闭环, DOMAIN.md §6): staff resolve, the customer confirms. The customer's answer
to a resolution (已解决 closes the case, 未解决 reopens it one level up) and the window after
which a case nobody answered for closes on its own, recorded as such.

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
from bot.services.rules import reopened
from storage.repositories import Tx

CONFIRMED = "客户确认 the customer confirmed it is solved"
NOT_SOLVED = "客户反馈未解决 the customer says it is not solved"
UNANSWERED = "客户未在确认期内答复,自动结案 (no answer within the confirmation window)"


class NotAwaiting(DomainError):
    """The resolution asked about is no longer waiting for the customer's answer."""


@dataclass
class Closure:
    sla: Sla
    changes: Changes

    def confirm_due(self, case: Case) -> datetime | None:
        """When the customer's window to answer closes; None for a case not awaiting them."""
        if case.status is not Status.RESOLVED or case.resolved_at is None:
            return None
        return self.sla.policy.closure.confirm_within.due(self.sla.calendar, case.resolved_at)

    @staticmethod
    def token(case: Case) -> int:
        """Names one resolution of the case: a reopening starts the next, so a button of an
        earlier resolution no longer matches (two resolutions can share a second)."""
        return case.reopen_count

    async def confirmed(self, number: str, actor: str, token: int, *, tx: Tx | None = None) -> Case:
        """已解决: the case closes; the event keeps who and when (客户确认)."""

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            self._check(case, token)
            return {"closed_at": now}

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
            return {"closed_at": now}

        return await self.changes.change(number, Action.CLOSE, SYSTEM, UNANSWERED, changes, tx=tx)
