"""Keeping ``cases.deadline_version`` and ``cases.next_due`` true: computed in one place, from the
row a change writes, by the unit of work every change runs through (``changes.py``) and by the
opening (``cases.py``) — the sweep's index is then never stale for a case a person moved.

A change of a field in :data:`~bot.domain.steps.CLOCK_FIELDS` starts a new deadline version.
What the previous version already did and is still passed in the new one (a 50% reminder before
a pause, when the case resumes at 70%) is carried over as done, so a resume never repeats a
reminder (a paused version keeps what was done, for its resume); a point the new version newly
passed (a priority correction that puts the case in breach) is due at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain import steps
from bot.domain.cases import Case, Status
from bot.domain.sla import Sla
from bot.services.rules import plain
from storage.repositories import Tx

CARRIED = "carried"
REVIEWED = "reviewed"  # the mark of a level's review done before its deadline (escalation.py)


#: What a case row has only once stored; enough to compute an opening's steps before.
_UNSAVED: dict[str, Any] = {
    "id": 0, "paused_seconds": 0, "paused_business_seconds": 0, "first_responded_at": None,
    "resolved_at": None, "closed_at": None, "clock_paused_at": None, "resolution": None,
    "outcome": None, "headcount": None, "version": 1, "deadline_version": 1, "next_due": None,
    "confirm_asked_at": None, "survey": None,
}  # fmt: skip


def opened(sla: Sla, values: dict[str, Any]) -> dict[str, Any]:
    """A case about to be opened with ``values``: version 1, due at its first step."""
    case = Case.from_row(_UNSAVED | values)
    return {
        "deadline_version": 1,
        "next_due": steps.next_due(steps.steps(case, sla.policy, sla.calendar), ()),
    }


def _carry(mark: str | None) -> str:
    """A carried step's mark: a review done early stays known as such, for the next version."""
    return REVIEWED if mark == REVIEWED else CARRIED


async def kept(
    tx: Tx, sla: Sla, before: Case, values: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The deadline version and next due instant of ``before`` changed by ``values``."""
    after = Case.from_row({f: getattr(before, f) for f in Case.__slots__} | values)
    found = steps.steps(after, sla.policy, sla.calendar)
    moved = any(
        k in steps.CLOCK_FIELDS and plain(v) != plain(getattr(before, k)) for k, v in values.items()
    )
    if not moved:
        same = await tx.steps.done(before.id, before.deadline_version)
        return {"next_due": steps.next_due(found, same)}
    version = before.deadline_version + 1
    earlier = await tx.steps.done(before.id, before.deadline_version)
    if after.clock_paused_at is not None or after.status is Status.REVIEWING:
        # Nothing of the work is due while paused or under review: kept for what follows
        # (a resume, a resolution sent back), which must not repeat a reminder.
        carried = [(k, now, _carry(mark)) for k, mark in earlier.items()]
    else:
        same_level = after.escalation_level == before.escalation_level
        carried = [
            (s.key, s.at, _carry(earlier[s.key]))
            for s in found
            if s.key in earlier and (s.at <= now or (same_level and earlier[s.key] == REVIEWED))
        ]  # a review done early stays done while the case stays at its level (a pause)
    if carried:
        await tx.steps.record(before.id, version, carried, now)
    done = {key for key, _, _ in carried}
    return {"deadline_version": version, "next_due": steps.next_due(found, done)}
