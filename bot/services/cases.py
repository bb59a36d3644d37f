"""The lifecycle use cases: opening a case, the customer's further words, and every staff
action, each one call and one transaction (``changes.py`` runs it). The rules of what a
field may hold live in ``rules.py``; what the customer is told, in ``notify.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain import steps
from bot.domain.cases import (
    CORRECTABLE_FIELDS,
    Action,
    Case,
    DomainError,
    next_escalation_level,
)
from bot.domain.numbers import CaseNumber, check_prefix, desk_day
from bot.domain.sla import Sla
from bot.domain.words import blank
from bot.messages import Attachment
from bot.outgoing import TextLimits
from bot.services import due, opening
from bot.services.changes import Changes
from bot.services.closure import Closure
from bot.services.escalation import Escalation, failed
from bot.services.flags import Flags
from bot.services.model import OUTCOMES, CaseListener, Change, NewComplaint
from bot.services.notify import Notices
from bot.services.reads import CaseReads
from bot.services.rules import corrected, reopened, require, resumed, validate_field
from bot.services.survey import Surveys
from bot.services.sweep import Sweep
from storage.db import Store
from storage.repositories import Tx
from storage.repositories.base import Conflict

log = logging.getLogger(__name__)


@dataclass
class CaseService(CaseReads):
    store: Store
    sla: Sla
    clock: Clock
    tz: ZoneInfo
    prefix: str = "TS"
    default_language: str = "zh-hans"
    text_limits: TextLimits = field(default_factory=TextLimits)
    # (content, category) → the words explaining it, for a corrected category; app.py sets it
    explain: Callable[[str, str], list[str]] | None = None
    notices: Notices = field(init=False)
    closure: Closure = field(init=False)  # the customer's answer to a resolution (闭环)
    sweep: Sweep = field(init=False)  # the clock's steps due now (the scheduler's job)
    escalation: Escalation = field(init=False)  # on breach, on the third follow-up
    surveys: Surveys = field(init=False)  # the revisit after closure (回访)
    flags: Flags = field(init=False)  # 热点 / 重大 that rise on their own
    _changes: Changes = field(init=False)

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        self.notices = Notices(self.sla, self.tz, self.default_language, self.text_limits)
        self._changes = Changes(self.store, self.clock, self.notices)
        self.closure = Closure(self.sla, self._changes)
        self.escalation = Escalation(self.sla, self.clock, self.escalate, self.add_note)
        self.sweep = Sweep(self.store, self.sla, self.closure, on_breach=self.escalation.on_breach)
        self.surveys = Surveys(self.sla, self._changes, self.text_limits, self.default_language)
        self.sweep.handlers[steps.SURVEY] = self.surveys.on_step
        self.flags = Flags(self.correct)
        self.sweep.handlers[steps.FLAG] = self.flags.on_step
        self._changes.listeners.append(self.escalation.on_change)

    @property
    def listeners(self) -> list[CaseListener]:
        """Heard in the transaction of every change; the composition root (app.py) appends
        the staff projection of each staff channel."""
        return self._changes.listeners

    # -- opening -----------------------------------------------------------------------------

    async def open_case(
        self,
        complaint: NewComplaint,
        actor: str | None = None,
        *,
        attachments: Sequence[Attachment] = (),
        tx: Tx | None = None,
    ) -> Case:
        """Record a complaint: number, deadlines, row, evidence and opening event, atomically.

        A complaint in the same category from the same customer within 30 days is linked to
        the earlier case as a repeat (重复投诉). Pass ``tx`` to make it part of a larger
        transaction (the intake dialogue's)."""
        if blank(complaint.content):
            raise DomainError("a complaint needs the customer's words (content is empty)")
        now = self.clock.now()
        # A platform's clock may run a little ahead of ours: neither time is in our future,
        # and the SLA clock never starts before the complaint was received.
        received_at = min(complaint.received_at or now, now)
        sla_started_at = max(min(complaint.sla_started_at or now, now), received_at)
        actor = actor or f"customer:{complaint.channel}:{complaint.channel_user_id}"

        async def work(t: Tx) -> Case:
            customer_id = await t.customers.ensure(
                complaint.channel,
                complaint.channel_user_id,
                now,
                display_name=complaint.display_name,
                language=complaint.language,
            )
            repeat_of, severity = await opening.repeat(t, customer_id, complaint, received_at)
            number = await self._allocate_number(t, received_at)
            values = opening.row(
                complaint,
                number=number,
                customer_id=customer_id,
                severity=severity,
                repeat_of=repeat_of,
                received_at=received_at,
                sla_started_at=sla_started_at,
                deadlines=self.sla.deadlines(
                    complaint.priority, sla_started_at, category=complaint.category
                ),
                now=now,
            )
            values |= due.opened(self.sla, values)
            case = Case.from_row(await t.cases.insert(values))
            await t.attachments.add(
                case.id, complaint.channel, [a.to_json() for a in attachments], now
            )
            changes = opening.opening_changes(case)
            await t.events.append(
                case_id=case.id,
                at=now,
                actor=actor,
                action=Action.OPEN.value,
                from_status=None,
                to_status=case.status.value,
                changes=changes,
                note="重复投诉 repeat complaint" if repeat_of is not None else None,
            )
            change = Change(
                case=case,
                before=None,
                action=Action.OPEN,
                actor=actor,
                note=None,
                changes=changes,
                at=now,
                attachments=tuple(attachments),
            )
            await self._changes.project(t, change)
            await self.flags.check_party(t, case)
            return case

        case = await self._changes.write(tx, work)
        log.info("opened case %s (priority %s)", case.number, case.priority.value)
        return case

    async def _allocate_number(self, tx: Tx, received_at: datetime) -> CaseNumber:
        day = desk_day(received_at, self.tz)
        seq = await tx.cases.next_sequence(self.prefix, day)
        return CaseNumber(self.prefix, day, seq)

    async def add_customer_message(
        self,
        number: str,
        actor: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        tx: Tx | None = None,
    ) -> Case:
        """The customer's further words or evidence, kept verbatim on the case (补充材料).
        Their third follow-up without a staff answer escalates the case, in the same
        transaction; if that fails, their words are kept all the same (logged)."""
        if blank(text) and not attachments:
            raise DomainError("nothing to add: the message has no text and no attachment")

        async def work(t: Tx) -> Case:
            case = await self._changes.change(
                number, Action.CUSTOMER_MESSAGE, actor, text or None, _nothing, tx=t,
                files=attachments,
            )  # fmt: skip
            try:
                async with t.savepoint():
                    await self.escalation.on_customer_message(t, case)
            except Conflict:
                raise  # PostgreSQL runs the whole transaction again
            except Exception as exc:
                failed(case, exc)
            return case

        return await self._changes.write(tx, work)

    # -- lifecycle ---------------------------------------------------------------------------

    async def claim(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        """Take ownership; a second claimer gets an IllegalTransition naming the state."""
        return await self._changes.change(
            number, Action.CLAIM, actor, note, lambda c, now: {"assignee": actor}, tx=tx
        )

    async def release(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        return await self._changes.change(
            number, Action.RELEASE, actor, note, lambda c, now: {"assignee": None}, tx=tx
        )

    async def assign(
        self,
        number: str,
        actor: str,
        assignee: str,
        note: str | None = None,
        *,
        tx: Tx | None = None,
    ) -> Case:
        if blank(assignee):
            raise DomainError("assign needs somebody to assign the case to")
        return await self._changes.change(
            number, Action.ASSIGN, actor, note, lambda c, now: {"assignee": assignee}, tx=tx
        )

    async def start(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        """The first response reached the customer: the first-response clock stops."""
        return await self._changes.change(
            number, Action.START, actor, note, lambda c, now: {"first_responded_at": now}, tx=tx
        )

    async def resolve(
        self,
        number: str,
        actor: str,
        resolution: str,
        outcome: str | None = None,
        *,
        tx: Tx | None = None,
    ) -> Case:
        """Staff say it is done (处理结果); the customer is told and asked to confirm — or,
        when the policy has a supervisor check it first, once approved (``closure.py``)."""
        require(resolution, "resolve needs a resolution note (处理结果)")
        if outcome is not None and outcome not in OUTCOMES:
            raise DomainError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
        review = self.sla.policy.closure.review_before_confirm

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            # Resolved while waiting for the customer: the pause is credited first, so a
            # resolution sent back later does not find the wait counted against the desk.
            waited = resumed(self.sla, case, now) if case.clock_paused_at is not None else {}
            return waited | {
                "resolution": resolution,
                "outcome": outcome,
                "resolved_at": now,
                "confirm_asked_at": None if review else now,
                "clock_paused_at": None,
            }

        return await self._changes.change(number, Action.RESOLVE, actor, resolution, changes, tx=tx)

    async def close(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        """The customer confirmed (or the confirmation window passed)."""
        return await self._changes.change(
            number, Action.CLOSE, actor, note, lambda c, now: {"closed_at": now}, tx=tx
        )

    async def reopen(self, number: str, actor: str, reason: str, *, tx: Tx | None = None) -> Case:
        """Handling restarts one level up with fresh deadlines (DOMAIN.md §6)."""
        require(reason, "reopen needs the reason (e.g. the customer's revisit answer)")
        return await self._changes.change(
            number, Action.REOPEN, actor, reason, lambda c, now: reopened(self.sla, c, now), tx=tx
        )

    async def mark_invalid(
        self, number: str, actor: str, explanation: str, *, tx: Tx | None = None
    ) -> Case:
        """无效投诉: answered with an explanation and closed, but still on record."""
        require(explanation, "marking a complaint invalid needs the explanation for the customer")
        return await self._changes.change(
            number,
            Action.MARK_INVALID,
            actor,
            explanation,
            lambda c, now: {"closed_at": now, "clock_paused_at": None},
            tx=tx,
        )

    async def escalate(self, number: str, actor: str, note: str, *, tx: Tx | None = None) -> Case:
        require(note, "escalation needs a note: why, and what was tried")
        chain = len(self.sla.policy.escalation)

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            level = next_escalation_level(case.escalation_level, chain, case.number)
            return {"escalation_level": level, "level_since": now}

        return await self._changes.change(number, Action.ESCALATE, actor, note, changes, tx=tx)

    async def correct(
        self,
        number: str,
        actor: str,
        field_name: str,
        value: Any,
        reason: str,
        *,
        tx: Tx | None = None,
    ) -> Case:
        """Fix a recorded field; the event keeps the old value and the reason (更正记录)."""
        require(reason, "a correction needs its reason")
        if field_name not in CORRECTABLE_FIELDS:
            allowed = ", ".join(sorted(CORRECTABLE_FIELDS))
            raise DomainError(f"{field_name!r} cannot be corrected; correctable: {allowed}")
        value = validate_field(field_name, value)
        extra: dict[str, Any] = {}
        if field_name == "category" and self.explain is not None:  # segmented before the write
            extra["keywords"] = self.explain((await self.get(number)).content, value)

        async def work(t: Tx) -> Case:
            after = await self._changes.change(
                number, Action.CORRECT, actor, reason,
                lambda c, now: corrected(self.sla, c, field_name, value, now) | extra, tx=t,
            )  # fmt: skip
            if field_name in {"party", "category"}:  # a spelling merged: it may count now
                await self.flags.check_party(t, after)
            return after

        return await self._changes.write(tx, work)

    async def pause_clock(
        self, number: str, actor: str, note: str, *, tx: Tx | None = None
    ) -> Case:
        """Stop the SLA clock while waiting for the customer (e.g. for a photo of the receipt)."""
        require(note, "pausing the clock needs a note: what are we waiting for")

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            if case.clock_paused_at is not None:
                raise DomainError(f"the clock of case {case.number} is already paused")
            return {"clock_paused_at": now}

        return await self._changes.change(number, Action.PAUSE_CLOCK, actor, note, changes, tx=tx)

    async def resume_clock(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        """Restart the clock; unmet deadlines move by the paused time on their own clock."""
        return await self._changes.change(
            number, Action.RESUME_CLOCK, actor, note, lambda c, now: resumed(self.sla, c, now),
            tx=tx,
        )  # fmt: skip

    async def add_note(
        self, number: str, actor: str, note: str, *, echo: bool = True, tx: Tx | None = None
    ) -> Case:
        """A handler's opinion (处理意见) on record, without changing the case. ``echo=False``
        when it was written where staff already see it (a Slack thread)."""
        require(note, "a note cannot be empty")
        return await self._changes.change(
            number, Action.NOTE, actor, note, _nothing, tx=tx, echo=echo
        )

    async def reply(self, number: str, actor: str, text: str, *, tx: Tx | None = None) -> Case:
        """Staff answer the customer. The first answer stops the first-response clock; on an
        unowned case the person answering becomes its owner."""
        require(text, "a reply to the customer cannot be empty")

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            result: dict[str, Any] = {}
            if case.first_responded_at is None:
                result["first_responded_at"] = now
            if case.assignee is None:
                result["assignee"] = actor
            return result

        return await self._changes.change(number, Action.REPLY, actor, text, changes, tx=tx)


def _nothing(case: Case, now: datetime) -> dict[str, Any]:
    return {}
