"""What staff do, whatever the staff channel: each action is one transaction that records the
platform's update id with the change (a redelivered click or form changes nothing twice),
checks the desk's rules — members act, owners or supervisors handle, supervisors reassign —
and calls the use case. Refusals come back as a sentence for the acting person alone.

The acting person's role is looked up by the channel (its members, its supervisors) before
an action reaches here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.desk import wording
from bot.desk.model import Outcome, Refused, Staff, load_case
from bot.domain.cases import MEDIA, Case, DomainError, IllegalTransition
from bot.domain.words import blank
from bot.nlp.classifier import Classifier
from bot.services import OUTCOMES, CaseService
from storage.repositories import StaleRow, Tx

log = logging.getLogger(__name__)

#: Longest reply staff may send: Slack's text inputs take at most 3,000 characters, and
#: Telegram's 4,096 leave room for the case-number header.
REPLY_LIMIT = 3_000

Act = Callable[[Tx, Case], Awaitable[Case]]


class Actions:
    def __init__(
        self,
        cases: CaseService,
        classifier: Classifier,
        *,
        channel: str,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.cases = cases
        self.classifier = classifier
        self.channel = channel  # the staff platform: update ids are unique within it
        self.on_enqueued = on_enqueued or (lambda: None)  # the outbox worker's wake-up

    async def claim(self, number: str, staff: Staff, update_id: str | None = None) -> Outcome:
        async def act(tx: Tx, case: Case) -> Case:
            if case.assignee == staff.actor:
                raise Refused(wording.already_yours(case.number))
            if case.assignee is not None:
                raise Refused(wording.claimed_by(case.number, case.assignee))
            return await self.cases.claim(number, staff.actor, tx=tx)

        return await self._act(number, staff, act, owner_only=False, update_id=update_id)

    async def release(self, number: str, staff: Staff, update_id: str | None = None) -> Outcome:
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.release(number, staff.actor, tx=tx),
            update_id=update_id,
        )

    async def assign(
        self,
        number: str,
        staff: Staff,
        to: Staff,
        note: str | None,
        *,
        update_id: str | None = None,
    ) -> Outcome:
        if not to.is_staff:
            return Outcome(False, wording.not_a_member(to.actor))
        if to.actor != staff.actor and not staff.is_supervisor:
            return Outcome(False, wording.ONLY_SUPERVISORS_ASSIGN)
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.assign(number, staff.actor, to.actor, note, tx=tx),
            update_id=update_id,
        )

    async def reply(
        self, number: str, staff: Staff, message: str, *, update_id: str | None = None
    ) -> Outcome:
        body = message.strip()
        if blank(body):
            return Outcome(False, wording.EMPTY_REPLY)
        if len(body) > REPLY_LIMIT:
            return Outcome(False, wording.reply_too_long(len(body), REPLY_LIMIT))
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.reply(number, staff.actor, body, tx=tx),
            update_id=update_id,
        )

    async def note(
        self, number: str, staff: Staff, message: str, *, update_id: str | None = None
    ) -> Outcome:
        """An internal thread message, kept in the case history; never sent to the customer."""
        if blank(message):
            return Outcome(True)
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.add_note(number, staff.actor, message, echo=False, tx=tx),
            owner_only=False,
            update_id=update_id,
        )

    async def escalate(
        self, number: str, staff: Staff, note: str, *, update_id: str | None = None
    ) -> Outcome:
        """Anyone on the desk may raise a case they see stuck (the monitor's role, §4)."""
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.escalate(number, staff.actor, note, tx=tx),
            owner_only=False,
            update_id=update_id,
        )

    async def resolve(
        self,
        number: str,
        staff: Staff,
        resolution: str,
        outcome: str,
        *,
        update_id: str | None = None,
    ) -> Outcome:
        if outcome not in OUTCOMES:
            return Outcome(False, f"unknown outcome {outcome!r}")
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.resolve(number, staff.actor, resolution, outcome, tx=tx),
            update_id=update_id,
        )

    async def approve(
        self, number: str, staff: Staff, note: str | None, *, update_id: str | None = None
    ) -> Outcome:
        """A supervisor passes a resolution under review: the customer is asked to confirm."""
        return await self._review(
            number,
            staff,
            lambda tx, case: self.cases.closure.approve(number, staff.actor, note, tx=tx),
            update_id,
        )

    async def send_back(
        self, number: str, staff: Staff, note: str, *, update_id: str | None = None
    ) -> Outcome:
        """A supervisor returns a resolution under review to its handler, with a note."""
        return await self._review(
            number,
            staff,
            lambda tx, case: self.cases.closure.send_back(number, staff.actor, note, tx=tx),
            update_id,
        )

    async def _review(self, number: str, staff: Staff, act: Act, update_id: str | None) -> Outcome:
        """Only supervisors review, on any case (the rules say it must be under review)."""
        if not staff.is_supervisor:
            return Outcome(False, wording.ONLY_SUPERVISORS_REVIEW)
        return await self._act(number, staff, act, owner_only=False, update_id=update_id)

    async def mark_invalid(
        self, number: str, staff: Staff, explanation: str, *, update_id: str | None = None
    ) -> Outcome:
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.mark_invalid(number, staff.actor, explanation, tx=tx),
            update_id=update_id,
        )

    async def correct(
        self,
        number: str,
        staff: Staff,
        field_name: str,
        value: Any,
        reason: str,
        *,
        update_id: str | None = None,
    ) -> Outcome:
        known = value in self.classifier.taxonomy.ids or value == MEDIA  # 媒体问询: no taxonomy's
        if field_name == "category" and not known:
            return Outcome(False, wording.no_such_category(value))
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.correct(
                number, staff.actor, field_name, value, reason, tx=tx
            ),
            update_id=update_id,
        )

    async def set_severity(
        self,
        number: str,
        staff: Staff,
        severity: str | None,
        headcount: int | None,
        reason: str,
        *,
        update_id: str | None = None,
    ) -> Outcome:
        """The severity form: the flag and the collective complaint's headcount, both or
        neither (one transaction); the headcount first, as it may raise the flag itself."""

        async def act(tx: Tx, case: Case) -> Case:
            changed = case
            if headcount is not None and headcount != case.headcount:
                changed = await self.cases.correct(
                    number, staff.actor, "headcount", headcount, reason, tx=tx
                )
            if severity and severity != case.severity.value:  # the person changed the flag
                changed = await self.cases.correct(
                    number, staff.actor, "severity", severity, reason, tx=tx
                )
            return changed

        return await self._act(number, staff, act, update_id=update_id)

    async def _act(
        self,
        number: str,
        staff: Staff,
        act: Act,
        *,
        owner_only: bool = True,
        update_id: str | None = None,
    ) -> Outcome:
        """Run one staff action in one transaction; every refusal becomes a sentence."""
        if not staff.is_staff:
            log.warning("%s is not staff: %s refused", staff.actor, number)
            return Outcome(False, wording.NOT_STAFF)

        async def work(tx: Tx) -> Case | None:
            if update_id and not await tx.inbound.first_time(
                self.channel, update_id, self.cases.clock.now()
            ):
                return None
            case = await load_case(tx, number, for_update=True)
            if owner_only and not _may_handle(case, staff):
                raise Refused(wording.owner_only(case.number, case.assignee))
            return await act(tx, case)

        try:
            changed = await self.cases.store.write(work)
        except IllegalTransition as exc:
            return Outcome(False, wording.explain(exc))
        except StaleRow:
            return Outcome(False, wording.changed_meanwhile(number))
        except DomainError as exc:  # Refused, CaseNotFound, NotDelivered, the domain's rules
            return Outcome(False, str(exc))
        if changed is None:
            log.info("%s %s seen before: ignored", self.channel, update_id)
            return Outcome(True, duplicate=True)
        self.on_enqueued()
        return Outcome(True, case=changed)


def _may_handle(case: Case, staff: Staff) -> bool:
    return staff.is_supervisor or case.assignee in (None, staff.actor)
