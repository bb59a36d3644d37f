"""Use cases on cases: domain rules + storage in one transaction per call.

Every change reads the case inside the write transaction (row-locked on PostgreSQL, under the
write lock on SQLite), asks the domain what it becomes, writes the row and its ``case_events``
row, and commits both or neither.

Over ~400 lines: the split into lifecycle use cases and the customer's notifications
(``services/cases.py``, ``services/notify.py``) is issue 12's restructuring, kept apart so it
is reviewed on its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain.cases import (
    CORRECTABLE_FIELDS,
    SEVERITY_ZH,
    Action,
    Case,
    DomainError,
    Priority,
    Risk,
    Severity,
    Status,
    next_escalation_level,
    transition,
)
from bot.domain.numbers import CaseNumber, check_prefix, desk_day, parse_case_number
from bot.domain.sla import Deadlines, Sla
from bot.messages import Attachment
from storage.db import Store
from storage.repositories import Tx

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A second complaint in the same category within this window is a repeat (重复投诉).
REPEAT_WINDOW = timedelta(days=30)


class CaseNotFound(DomainError):
    pass


@dataclass(frozen=True, slots=True)
class NewComplaint:
    """What intake has gathered; the customer's words go in ``content`` untouched."""

    channel: str
    channel_user_id: str
    content: str
    subject: str = ""
    category: str = "other"
    priority: Priority = Priority.C
    severity: Severity = Severity.GENERAL
    risk: Risk = Risk.NONE
    party: str | None = None
    reference: str | None = None
    desired_outcome: str | None = None
    contact: str | None = None
    display_name: str | None = None
    language: str | None = None
    received_at: datetime | None = None  # defaults to now; set when the channel reports it
    repeat_of: int | None = None


@dataclass(frozen=True, slots=True)
class CaseEvent:
    id: int
    case_id: int
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    changes: dict[str, list[Any]]
    note: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CaseEvent:
        return cls(**{f: row[f] for f in cls.__slots__})


#: How a resolved case ended (处理结果类型), shown to staff and counted in reports.
OUTCOMES = ("resolved", "partial", "explained", "compensated", "declined")


@dataclass(frozen=True, slots=True)
class Change:
    """One committed-to-be change of a case, as listeners (the staff desk) see it."""

    case: Case  # after the change
    before: Case | None  # None when the case was just opened
    action: Action
    actor: str
    note: str | None
    changes: dict[str, list[Any]]
    at: datetime
    attachments: tuple[Attachment, ...] = ()
    echo: bool = True  # False: written where staff already see it, do not post it back


#: Called inside the transaction of every change; what it writes commits with the change.
CaseListener = Callable[[Tx, Change], Awaitable[None]]


@dataclass
class CaseService:
    store: Store
    sla: Sla
    clock: Clock
    tz: ZoneInfo
    prefix: str = "TS"
    listeners: list[CaseListener] = field(default_factory=list)
    _chain_length: int = field(init=False)

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        self._chain_length = len(self.sla.policy.escalation)

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
        the earlier case as a repeat (重复投诉); if that one was already closed, the new case
        is at least 重要 (DOMAIN.md §5). Pass ``tx`` to make it part of a larger transaction.
        """
        if not complaint.content.strip():
            raise DomainError("a complaint needs the customer's words (content is empty)")
        now = self.clock.now()
        received_at = complaint.received_at or now
        day = desk_day(received_at, self.tz)
        actor = actor or f"customer:{complaint.channel}:{complaint.channel_user_id}"

        async def work(t: Tx) -> Case:
            customer_id = await t.customers.ensure(
                complaint.channel,
                complaint.channel_user_id,
                now,
                display_name=complaint.display_name,
                language=complaint.language,
            )
            repeat_of, severity = complaint.repeat_of, complaint.severity
            if repeat_of is None:
                earlier = await t.cases.search(
                    customer_id=customer_id, since=received_at - REPEAT_WINDOW, limit=50
                )
                same = [r for r in earlier if r["category"] == complaint.category]
                if same:
                    repeat_of = int(same[0]["id"])
                    if not Status(same[0]["status"]).is_open and severity.rank < 1:
                        severity = Severity.IMPORTANT
            number = await self._allocate_number(t, day)
            deadlines = self.sla.deadlines(complaint.priority, received_at)
            row = await t.cases.insert(
                {
                    "number": str(number),
                    "customer_id": customer_id,
                    "channel": complaint.channel,
                    "status": Status.NEW.value,
                    "priority": complaint.priority.value,
                    "severity": severity.value,
                    "risk": complaint.risk.value,
                    "category": complaint.category,
                    "subject": complaint.subject,
                    "content": complaint.content,
                    "party": complaint.party,
                    "reference": complaint.reference,
                    "desired_outcome": complaint.desired_outcome,
                    "contact": complaint.contact,
                    "language": complaint.language,
                    "assignee": None,
                    "escalation_level": 0,
                    "reopen_count": 0,
                    "repeat_of": repeat_of,
                    "received_at": received_at,
                    "first_response_due": deadlines.first_response,
                    "resolution_due": deadlines.resolution,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            case = Case.from_row(row)
            await t.attachments.add(
                case.id, complaint.channel, [a.to_json() for a in attachments], now
            )
            changes: dict[str, list[Any]] = {
                "priority": [None, case.priority.value],
                "category": [None, case.category],
                "first_response_due": [None, _plain(case.first_response_due)],
                "resolution_due": [None, _plain(case.resolution_due)],
            }
            if repeat_of is not None:
                changes["repeat_of"] = [None, repeat_of]
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
            change = Change(case, None, Action.OPEN, actor, None, changes, now, tuple(attachments))
            await self._notify(t, change)
            return case

        case = await self._write(tx, work)
        log.info("opened case %s (priority %s)", case.number, case.priority.value)
        return case

    async def _notify(self, tx: Tx, change: Change) -> None:
        """Listeners write in a savepoint: a broken listener (a card that cannot be drawn)
        loses its own rows, logged, never the case change itself — the customer's complaint
        is recorded even if the staff channel's card is not."""
        for listener in self.listeners:
            try:
                async with tx.savepoint():
                    await listener(tx, change)
            except Exception:
                log.exception(
                    "listener %r failed on %s of case %s; the change is kept",
                    listener, change.action.value, change.case.number,
                )  # fmt: skip

    async def _write(self, tx: Tx | None, work: Callable[[Tx], Awaitable[T]]) -> T:
        """``work`` in the caller's transaction if it has one, else in a new one."""
        if tx is not None:
            return await work(tx)
        return await self.store.write(work)

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
        async with self._read(tx) as t:
            if customer_id is None:
                customer = await t.customers.find(channel, channel_user_id)
                if customer is None:
                    return []
                customer_id = int(customer["id"])
            statuses = [s.value for s in Status if s.is_open] if open_only else None
            rows = await t.cases.search(customer_id=customer_id, statuses=statuses, limit=50)
        return [Case.from_row(r) for r in rows]

    @contextlib.asynccontextmanager
    async def _read(self, tx: Tx | None) -> AsyncIterator[Tx]:
        if tx is not None:
            yield tx
            return
        async with self.store.read() as new:
            yield new

    async def add_customer_message(
        self,
        number: str,
        actor: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        tx: Tx | None = None,
    ) -> Case:
        """The customer's further words or evidence, kept verbatim on the case (补充材料)."""
        if not text.strip() and not attachments:
            raise DomainError("nothing to add: the message has no text and no attachment")

        return await self._change(
            number,
            Action.CUSTOMER_MESSAGE,
            actor,
            text or None,
            lambda case, now: {},
            tx=tx,
            files=attachments,
        )

    async def _allocate_number(self, tx: Tx, day: date) -> CaseNumber:
        seq = await tx.cases.next_sequence(self.prefix, day)
        return CaseNumber(self.prefix, day, seq)

    # -- reading -----------------------------------------------------------------------------

    async def get(self, number: str) -> Case:
        async with self.store.read() as tx:
            return await self._load(tx, number)

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
            case = await self._load(tx, number)
            rows = await tx.events.for_case(case.id)
        return [CaseEvent.from_row(r) for r in rows]

    async def _load(self, tx: Tx, number: str, *, for_update: bool = False) -> Case:
        canonical = str(parse_case_number(number))
        row = await tx.cases.by_number(canonical, for_update=for_update)
        if row is None:
            raise CaseNotFound(f"no case {canonical}")
        return Case.from_row(row)

    # -- lifecycle ---------------------------------------------------------------------------

    async def claim(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        """Take ownership; a second claimer gets an IllegalTransition naming the state."""
        return await self._change(
            number, Action.CLAIM, actor, note, lambda c, now: {"assignee": actor}, tx=tx
        )

    async def release(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        return await self._change(
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
        if not assignee.strip():
            raise DomainError("assign needs somebody to assign the case to")
        return await self._change(
            number, Action.ASSIGN, actor, note, lambda c, now: {"assignee": assignee}, tx=tx
        )

    async def start(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        """The first response reached the customer: the first-response clock stops."""
        return await self._change(
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
        """Staff say it is done (处理结果); the customer is told and asked to confirm."""
        _require(resolution, "resolve needs a resolution note (处理结果)")
        if outcome is not None and outcome not in OUTCOMES:
            raise DomainError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
        return await self._change(
            number,
            Action.RESOLVE,
            actor,
            resolution,
            lambda c, now: {
                "resolution": resolution,
                "outcome": outcome,
                "resolved_at": now,
                "clock_paused_at": None,
            },
            tx=tx,
        )

    async def close(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        """The customer confirmed (or the confirmation window passed)."""
        return await self._change(
            number, Action.CLOSE, actor, note, lambda c, now: {"closed_at": now}, tx=tx
        )

    async def reopen(self, number: str, actor: str, reason: str, *, tx: Tx | None = None) -> Case:
        """Handling restarts one level up with fresh deadlines (DOMAIN.md §6)."""
        _require(reason, "reopen needs the reason (e.g. the customer's revisit answer)")

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            deadlines = self.sla.deadlines(case.priority, now)
            return {
                "assignee": None,
                "reopen_count": case.reopen_count + 1,
                "escalation_level": min(case.escalation_level + 1, self._chain_length - 1),
                "resolved_at": None,
                "closed_at": None,
                "first_responded_at": None,
                "first_response_due": deadlines.first_response,
                "resolution_due": deadlines.resolution,
            }

        return await self._change(number, Action.REOPEN, actor, reason, changes, tx=tx)

    async def mark_invalid(
        self, number: str, actor: str, explanation: str, *, tx: Tx | None = None
    ) -> Case:
        """无效投诉: answered with an explanation and closed, but still on record."""
        _require(explanation, "marking a complaint invalid needs the explanation for the customer")
        return await self._change(
            number,
            Action.MARK_INVALID,
            actor,
            explanation,
            lambda c, now: {"closed_at": now, "clock_paused_at": None},
            tx=tx,
        )

    async def escalate(self, number: str, actor: str, note: str, *, tx: Tx | None = None) -> Case:
        _require(note, "escalation needs a note: why, and what was tried")

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            level = next_escalation_level(case.escalation_level, self._chain_length, case.number)
            return {"escalation_level": level}

        return await self._change(number, Action.ESCALATE, actor, note, changes, tx=tx)

    def escalation_promise(self, case: Case, now: datetime) -> datetime:
        """The time the customer is told after an escalation (DOMAIN.md §4: keep them informed
        of the new owner and the expected time): the resolution deadline while it is ahead;
        for a case already late, the new level's own time to review it (主管 1 h …). The
        deadline itself stays: a breach is never erased."""
        if case.resolution_due > now:
            return case.resolution_due
        step = self.sla.policy.escalation[case.escalation_level]
        target = step.review_within or step.escalate_after or self.sla.targets(case.priority)[1]
        return target.due(self.sla.calendar, now)

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
        _require(reason, "a correction needs its reason")
        if field_name not in CORRECTABLE_FIELDS:
            allowed = ", ".join(sorted(CORRECTABLE_FIELDS))
            raise DomainError(f"{field_name!r} cannot be corrected; correctable: {allowed}")
        value = _validate_field(field_name, value)

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            result: dict[str, Any] = {field_name: value}
            if field_name == "priority":  # the time limits follow the priority
                fresh = self.sla.deadlines(Priority(value), case.received_at)
                if case.first_responded_at is None:
                    result["first_response_due"] = fresh.first_response
                result["resolution_due"] = fresh.resolution
            if field_name == "severity" and case.headcount:
                floor = collective_severity(case.headcount)
                if Severity(value).rank < floor.rank:
                    raise DomainError(
                        f"a collective complaint of {case.headcount} people is at least "
                        f"{floor.value} ({SEVERITY_ZH[floor]})"
                    )
            if field_name == "headcount":  # 集体投诉: ≥3 people is 热点, ≥10 is 重大 (DOMAIN §5)
                floor = collective_severity(int(value))
                if floor.rank > case.severity.rank:
                    result["severity"] = floor.value
            return result

        return await self._change(number, Action.CORRECT, actor, reason, changes, tx=tx)

    async def pause_clock(
        self, number: str, actor: str, note: str, *, tx: Tx | None = None
    ) -> Case:
        """Stop the SLA clock while waiting for the customer (e.g. for a photo of the receipt)."""
        _require(note, "pausing the clock needs a note: what are we waiting for")

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            if case.clock_paused_at is not None:
                raise DomainError(f"the clock of case {case.number} is already paused")
            return {"clock_paused_at": now}

        return await self._change(number, Action.PAUSE_CLOCK, actor, note, changes, tx=tx)

    async def resume_clock(
        self, number: str, actor: str, note: str | None = None, *, tx: Tx | None = None
    ) -> Case:
        """Restart the clock; unmet deadlines move by the paused time on their own clock."""

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            if case.clock_paused_at is None:
                raise DomainError(f"the clock of case {case.number} is not paused")
            moved = self.sla.resume(
                case.priority,
                Deadlines(case.first_response_due, case.resolution_due),
                case.clock_paused_at,
                now,
            )
            result: dict[str, Any] = {"clock_paused_at": None, "resolution_due": moved.resolution}
            if case.first_responded_at is None:
                result["first_response_due"] = moved.first_response
            return result

        return await self._change(number, Action.RESUME_CLOCK, actor, note, changes, tx=tx)

    async def add_note(
        self, number: str, actor: str, note: str, *, echo: bool = True, tx: Tx | None = None
    ) -> Case:
        """A handler's opinion (处理意见) on record, without changing the case. ``echo=False``
        when it was written where staff already see it (a Slack thread)."""
        _require(note, "a note cannot be empty")
        return await self._change(
            number, Action.NOTE, actor, note, lambda c, now: {}, tx=tx, echo=echo
        )

    async def reply(self, number: str, actor: str, text: str, *, tx: Tx | None = None) -> Case:
        """Staff answer the customer. The first answer stops the first-response clock; on an
        unowned case the person answering becomes its owner."""
        _require(text, "a reply to the customer cannot be empty")

        def changes(case: Case, now: datetime) -> dict[str, Any]:
            result: dict[str, Any] = {}
            if case.first_responded_at is None:
                result["first_responded_at"] = now
            if case.assignee is None:
                result["assignee"] = actor
            return result

        return await self._change(number, Action.REPLY, actor, text, changes, tx=tx)

    async def _change(
        self,
        number: str,
        action: Action,
        actor: str,
        note: str | None,
        compute: Callable[[Case, datetime], dict[str, Any]],
        *,
        tx: Tx | None = None,
        files: Sequence[Attachment] = (),
        echo: bool = True,
    ) -> Case:
        _require(actor, "every change needs the person who made it")
        now = self.clock.now()

        async def work(t: Tx) -> tuple[Case, Case]:
            case = await self._load(t, number, for_update=True)
            new_status = transition(case.status, action, case.number)
            values = compute(case, now)
            if new_status is not case.status:
                values["status"] = new_status.value
            diff = {
                k: [_plain(getattr(case, k)), _plain(v)]
                for k, v in values.items()
                if _plain(getattr(case, k)) != _plain(v)
            }
            row = await t.cases.update(case.id, case.version, {**values, "updated_at": now})
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
            change = Change(after, case, action, actor, note, diff, now, tuple(files), echo)
            await self._notify(t, change)
            return case, after

        case, after = await self._write(tx, work)
        log.info(
            "case %s: %s by %s (%s -> %s)",
            case.number,
            action.value,
            actor,
            case.status.value,
            after.status.value,
        )
        return after


def _require(text: str | None, message: str) -> None:
    if text is None or not text.strip():
        raise DomainError(message)


def _plain(value: Any) -> Any:
    """JSON-safe form for the audit trail."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()  # one zone, so old and new compare as text
    return value


_ENUM_FIELDS: dict[str, type[Enum]] = {
    "priority": Priority,
    "severity": Severity,
    "risk": Risk,
}


def collective_severity(headcount: int) -> Severity:
    """The least severity a collective complaint of ``headcount`` people carries."""
    if headcount >= 10:
        return Severity.MAJOR
    if headcount >= 3:
        return Severity.HOT
    return Severity.GENERAL


def _validate_field(field_name: str, value: Any) -> Any:
    if field_name == "headcount":
        try:
            count = int(value)
        except (TypeError, ValueError):
            raise DomainError(
                f"headcount must be a whole number of people, not {value!r}"
            ) from None
        if not 1 <= count <= 1_000_000:
            raise DomainError("headcount must be between 1 and 1,000,000")
        return count
    enum = _ENUM_FIELDS.get(field_name)
    if enum is not None:
        try:
            return enum(value).value
        except ValueError:
            allowed = ", ".join(str(m.value) for m in enum)
            raise DomainError(f"{value!r} is not a valid {field_name} ({allowed})") from None
    if value is not None and not isinstance(value, str):
        raise DomainError(f"{field_name} must be text")
    if field_name in {"category", "subject"} and not (value or "").strip():
        raise DomainError(f"{field_name} cannot be empty")
    return value
