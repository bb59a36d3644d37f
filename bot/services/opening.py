"""The pieces of opening a case that are rules rather than orchestration: repeat detection
(重复投诉), the row a complaint becomes, and what its opening event records."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.domain.cases import Case, Severity, Status
from bot.domain.numbers import CaseNumber
from bot.domain.sla import Deadlines
from bot.nlp.text import party_key
from bot.services.model import NewComplaint
from bot.services.rules import plain
from storage.repositories import Tx

#: A second complaint in the same category within this window is a repeat (重复投诉).
REPEAT_WINDOW = timedelta(days=30)


async def repeat(
    tx: Tx, customer_id: int, complaint: NewComplaint, received_at: datetime
) -> tuple[int | None, Severity]:
    """The earlier case this one repeats, and the severity that follows: a repeat of a case
    already closed is at least 重要 (DOMAIN.md §5) — the first answer did not hold."""
    repeat_of, severity = complaint.repeat_of, complaint.severity
    if repeat_of is not None:
        return repeat_of, severity
    earlier = await tx.cases.search(
        customer_id=customer_id, since=received_at - REPEAT_WINDOW, limit=50
    )
    same = [r for r in earlier if r["category"] == complaint.category]
    if not same:
        return None, severity
    if not Status(same[0]["status"]).is_open and severity.rank < 1:
        severity = Severity.IMPORTANT
    return int(same[0]["id"]), severity


def row(
    complaint: NewComplaint,
    *,
    number: CaseNumber,
    customer_id: int,
    severity: Severity,
    repeat_of: int | None,
    received_at: datetime,
    sla_started_at: datetime,
    deadlines: Deadlines,
    now: datetime,
) -> dict[str, Any]:
    return {
        "number": str(number),
        "customer_id": customer_id,
        "channel": complaint.channel,
        "status": Status.NEW.value,
        "priority": complaint.priority.value,
        "severity": severity.value,
        "severity_since": now if severity is not Severity.GENERAL else None,
        "risk": complaint.risk.value,
        "category": complaint.category,
        "subject": complaint.subject,
        "content": complaint.content,
        "party": complaint.party,
        "party_key": party_key(complaint.party),
        "reference": complaint.reference,
        "desired_outcome": complaint.desired_outcome,
        "contact": complaint.contact,
        "language": complaint.language,
        "assignee": None,
        "escalation_level": 0,
        "level_since": sla_started_at,
        "customer_heard_at": now,  # the case number and the promised time, just sent
        "reopen_count": 0,
        "repeat_of": repeat_of,
        "received_at": received_at,
        "sla_started_at": sla_started_at,
        "keywords": list(complaint.keywords),
        "first_response_due": deadlines.first_response,
        "resolution_due": deadlines.resolution,
        "created_at": now,
        "updated_at": now,
    }


def opening_changes(case: Case) -> dict[str, list[Any]]:
    """The opening event's record: what the case was classified and promised as."""
    changes: dict[str, list[Any]] = {
        "priority": [None, case.priority.value],
        "category": [None, case.category],
        "first_response_due": [None, plain(case.first_response_due)],
        "resolution_due": [None, plain(case.resolution_due)],
    }
    if case.repeat_of is not None:
        changes["repeat_of"] = [None, case.repeat_of]
    return changes
