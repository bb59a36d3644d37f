"""Escalation on breach (投诉升级, DOMAIN.md §4; issue 14 item 4): what the clock does when a
deadline passes, and when the customer's third follow-up has had no staff reply.

A breach moves the case one level up through the ordinary escalate use case (actor
``system``), so the event, the level's ping in the thread (the projection's ESCALATE line) and
the customer's notice (the level's customer-facing title and by when, ``notify.py``) come with
it in the same transaction. The internal reason is the event's note: staff read it, the
customer never does. At the top of the chain there is nowhere to go: the breach re-notifies
the top level instead, at most once per working day (a ``case_steps`` row keyed by the day),
so a case overdue at the top is never silent and never floods.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from bot.clock import Clock
from bot.domain import steps
from bot.domain.cases import Action, Case, Status
from bot.domain.sla import Sla
from bot.domain.steps import Step
from bot.logsafe import log_failure
from bot.services.due import REVIEWED
from bot.services.model import SYSTEM, Change, Receipt
from storage.repositories import Tx

log = logging.getLogger(__name__)

#: The internal reason of each automatic escalation (the event's note; never told the customer).
NOTES = {
    steps.FIRST_RESPONSE: "超时自动升级:首次响应超时 escalated on breach: no first response",
    steps.RESOLUTION: "超时自动升级:处理超时 escalated on breach: not resolved in time",
    steps.REVIEW: "超时自动升级:本级未按时复核 escalated on breach: not reviewed in time",
    steps.LEVEL: "超时自动升级:本级未能按时解决 escalated: unresolved at this level in time",
}
FOLLOW_UPS = "客户第三次催促未获答复 the customer's third follow-up has had no staff reply"
AT_THE_TOP = "已在最高级别,再次通知 at the top of the chain: notified again"
#: Follow-ups without a staff reply that escalate (once, on exactly this one).
FOLLOW_UP_LIMIT = 3
#: The ``case_steps`` version of the rows that belong to the case, not to a deadline version
#: (deadline versions start at 1): the top level's once-a-working-day notice survives a new
#: deadline version (a priority correction) and still happens once that day.
CASE_WIDE = 0

#: Staff actions that count as the level's review of a case that reached it (it decides the
#: owner, answers, notes its opinion …). Releasing it is not a review.
_REVIEWING = frozenset(
    {
        Action.CLAIM, Action.ASSIGN, Action.START, Action.REPLY, Action.NOTE, Action.RESOLVE,
        Action.MARK_INVALID, Action.PAUSE_CLOCK, Action.CORRECT,
    }
)  # fmt: skip
#: What answers the customer: their follow-ups are counted from the last of these (a
#: resolution only once they received it: not while a supervisor reviews it).
_ANSWERED = frozenset(
    {Action.REPLY.value, Action.RESOLVE.value, Action.APPROVE.value, Action.MARK_INVALID.value}
)


class Act(Protocol):
    """A case use case that takes a note (escalate, add_note) in the caller's transaction."""

    async def __call__(
        self, number: str, actor: str, note: str, *, tx: Tx | None = None
    ) -> Case: ...


@dataclass
class Escalation:
    sla: Sla
    clock: Clock
    escalate: Act
    note: Act

    async def on_breach(self, tx: Tx, case: Case, step: Step) -> str:
        """A deadline's breach (a sweep handler): one level up, or the top re-notified. Two
        deadlines breached in one sweep (after downtime) move the case once: the second sees
        the case already moved in this transaction."""
        fresh = Case.from_row(await tx.cases.get(case.id, for_update=True))
        if (fresh.deadline_version, fresh.escalation_level) != (
            case.deadline_version,
            case.escalation_level,
        ):
            return "escalated already"
        return await self._up(tx, fresh, NOTES[step.deadline])

    async def on_customer_message(self, tx: Tx, case: Case) -> str | None:
        """The customer wrote again: on their third follow-up since the last staff answer,
        escalate once (the fourth does not escalate again)."""
        if case.status in (Status.RESOLVED, Status.REVIEWING):  # resolved: no level to move
            return None
        count = 0
        for row in await tx.events.for_case(case.id):
            if row["action"] in _ANSWERED and row["to_status"] != Status.REVIEWING.value:
                count = 0
            elif row["action"] == Action.CUSTOMER_MESSAGE.value:
                count += 1
        if count != FOLLOW_UP_LIMIT:
            return None
        return await self._up(tx, case, FOLLOW_UPS)

    async def on_change(self, tx: Tx, change: Change) -> Receipt | None:
        """A listener: a staff action at a level with a review time is its review, so the
        review deadline is done (recorded; the sweep then moves ``next_due`` past it)."""
        case = change.case
        review = self.sla.policy.level(case.escalation_level).review_within
        if (
            review is None
            or case.level_since is None
            or change.action not in _REVIEWING
            or change.actor == SYSTEM
            or change.actor.startswith("customer:")
        ):
            return None
        due = review.due(self.sla.calendar, case.level_since)
        key = steps.key(steps.REVIEW, steps.BREACH)
        await tx.steps.record(case.id, case.deadline_version, [(key, due, REVIEWED)], change.at)
        return None

    async def _up(self, tx: Tx, case: Case, note: str) -> str:
        if case.escalation_level < self.sla.policy.top_level:
            await self.escalate(case.number, SYSTEM, note, tx=tx)
            log.info("case %s escalated automatically to level %s", case.number,
                     case.escalation_level + 1)  # fmt: skip
            return "escalated"
        now = self.clock.now()
        day = self.working_day(now)
        key = f"top@{day:%Y%m%d}"
        recorded = await tx.steps.record(case.id, CASE_WIDE, [(key, now, None)], now)
        if not recorded:
            return "notified today"
        await self.note(case.number, SYSTEM, f"{note};{AT_THE_TOP}", tx=tx)
        return "re-notified"

    def working_day(self, instant: datetime) -> date:
        """The working day an instant counts for: its own day when that is a working day,
        else the next one (a Saturday breach and a Monday one are Monday's notice)."""
        calendar = self.sla.calendar
        day = instant.astimezone(calendar.tz).date()
        for _ in range(400):
            if calendar.is_workday(day):
                return day
            day += timedelta(days=1)
        return instant.astimezone(calendar.tz).date()  # a calendar with no working days


def failed(case: Case, exc: BaseException) -> None:
    """The follow-up's escalation could not be made: the customer's message is kept."""
    log_failure(log, logging.ERROR, "case %s: the escalation on the third follow-up failed; "
                "the customer's message is kept", case.number, exc=exc)  # fmt: skip
