"""The field rules of case changes: what a correction may hold, what a collective complaint's
headcount implies, how deadlines follow a priority. Pure functions of a case and a time, so
they are read (and tested) without a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from bot.domain.cases import MEDIA, SEVERITY_ZH, Case, DomainError, Priority, Risk, Severity
from bot.domain.sla import Deadlines, Sla
from bot.domain.targets import Paused, Target
from bot.domain.words import blank
from bot.nlp.text import party_key

_ENUM_FIELDS: dict[str, type[Enum]] = {
    "priority": Priority,
    "severity": Severity,
    "risk": Risk,
}


def require(text: str | None, message: str) -> None:
    if blank(text):
        raise DomainError(message)


def plain(value: Any) -> Any:
    """JSON-safe form for the audit trail."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()  # one zone, so old and new compare as text
    return value


def collective_severity(headcount: int) -> Severity:
    """The least severity a collective complaint of ``headcount`` people carries."""
    if headcount >= 10:
        return Severity.MAJOR
    if headcount >= 3:
        return Severity.HOT
    return Severity.GENERAL


def validate_field(field_name: str, value: Any) -> Any:
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
    if field_name in {"category", "subject"} and blank(value):
        raise DomainError(f"{field_name} cannot be empty")
    return value


def corrected(
    sla: Sla, case: Case, field_name: str, value: Any, now: datetime | None = None
) -> dict[str, Any]:
    """The values a correction writes: the field, and what follows from it (a severity that
    rises is dated ``now``: its reports count from then)."""
    result: dict[str, Any] = {field_name: value}
    # The time limits follow the priority (and a press enquiry's category) from the clock's
    # start: a case reclassified to or from 媒体问询 takes the other targets.
    priority = Priority(value) if field_name == "priority" else case.priority
    category = value if field_name == "category" else case.category
    if field_name == "priority" or (category == MEDIA) != (case.category == MEDIA):
        fresh = sla.deadlines(priority, case.sla_started_at, paused(case), category)
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
    if field_name == "party":  # a spelling corrected: it now counts with the others (热点)
        result["party_key"] = party_key(value)
    if field_name == "headcount":  # 集体投诉: ≥3 people is 热点, ≥10 is 重大 (DOMAIN §5)
        floor = collective_severity(int(value))
        if floor.rank > case.severity.rank:
            result["severity"] = floor.value
    raised = result.get("severity")
    if raised is not None and now is not None and Severity(raised).rank > case.severity.rank:
        result["severity_since"] = now
    return result


def paused(case: Case) -> Paused:
    """The time the case's SLA clock has stood still since it started, on each clock."""
    return Paused(
        timedelta(seconds=case.paused_seconds), timedelta(seconds=case.paused_business_seconds)
    )


def reopened(sla: Sla, case: Case, now: datetime) -> dict[str, Any]:
    """Handling restarts one level up with fresh deadlines (DOMAIN.md §6): the SLA clock
    starts again now, with no pause credited."""
    deadlines = sla.deadlines(case.priority, now, category=case.category)
    return {
        "assignee": None,
        "reopen_count": case.reopen_count + 1,
        "escalation_level": min(case.escalation_level + 1, sla.policy.top_level),
        "level_since": now,
        "customer_heard_at": now,  # the reopening is answered in their chat
        "confirm_asked_at": None,
        "sla_started_at": now,
        "paused_seconds": 0,
        "paused_business_seconds": 0,
        "clock_paused_at": None,
        "resolved_at": None,
        "closed_at": None,
        "survey": None,  # the closure is undone: its survey with it (a survey's own: "reopened")
        "first_responded_at": None,
        "first_response_due": deadlines.first_response,
        "resolution_due": deadlines.resolution,
    }


def resumed(sla: Sla, case: Case, now: datetime) -> dict[str, Any]:
    """Unmet deadlines move by the paused time on their own clock."""
    if case.clock_paused_at is None:
        raise DomainError(f"the clock of case {case.number} is not paused")
    moved, credited = sla.resume(
        case.priority,
        Deadlines(case.first_response_due, case.resolution_due),
        start=case.sla_started_at,
        paused=paused(case),
        paused_at=case.clock_paused_at,
        resumed_at=now,
        category=case.category,
    )
    result: dict[str, Any] = {
        "clock_paused_at": None,
        "resolution_due": moved.resolution,
        # Whole seconds: an SLA is not measured finer, and the row keeps plain integers.
        "paused_seconds": round(credited.wall.total_seconds()),
        "paused_business_seconds": round(credited.business.total_seconds()),
    }
    if case.first_responded_at is None:
        result["first_response_due"] = moved.first_response
    # The level's times and the customer's silence get the pause too, on their own clocks:
    # time spent waiting for the customer neither escalates the case nor counts as leaving
    # them without news.
    level = sla.policy.level(case.escalation_level)
    silence = sla.policy.reminders.silence
    clocks = {
        "level_since": [t for t in (level.review_within, level.escalate_after) if t],
        "customer_heard_at": [silence] if silence is not False else [],
    }
    for name, targets in clocks.items():
        since = getattr(case, name)
        if since is not None:
            result[name] = min(_credited(sla, since, case.clock_paused_at, now, targets), now)
    return result


def _credited(
    sla: Sla, since: datetime, paused_at: datetime, now: datetime, targets: list[Target]
) -> datetime:
    """``since`` moved on by the pause, in working time when every target counts it (a
    business-clock silence: a night's pause is no working time), else in wall time."""
    if targets and all(not t.on_calendar_clock for t in targets):
        return sla.calendar.add(since, sla.calendar.between(paused_at, now))
    return since + (now - paused_at)
