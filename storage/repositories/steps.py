"""The clock's steps done (``case_steps``) and the sweep's index over ``cases.next_due``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.sql import Executable

from storage.repositories.base import Repo, insert_for, per_dialect
from storage.schema import Row, case_steps, cases


@per_dialect
def _record(dialect: str) -> Executable:
    """Once per (case, version, step): a second sweeper's insert does nothing."""
    return (
        insert_for(dialect, case_steps)
        .on_conflict_do_nothing(
            index_elements=[case_steps.c.case_id, case_steps.c.version, case_steps.c.step]
        )
        .returning(case_steps.c.step)
    )


_DONE = select(case_steps.c.step, case_steps.c.mark).where(
    case_steps.c.case_id == bindparam("case_id"), case_steps.c.version == bindparam("version")
)
_DUE = (
    select(cases.c.id)
    .where(
        cases.c.next_due.is_not(None),
        cases.c.next_due <= bindparam("now", type_=cases.c.next_due.type),
    )
    .order_by(cases.c.next_due)
    .limit(bindparam("limit"))
)
_SET_NEXT = (
    update(cases)
    .where(cases.c.id == bindparam("b_id"), cases.c.deadline_version == bindparam("b_version"))
    .values(next_due=bindparam("next_due"))
)


class CaseSteps(Repo):
    async def done(self, case_id: int, version: int) -> dict[str, str | None]:
        """The steps recorded for this deadline version, with their mark."""
        rows = await self.session.execute(_DONE, {"case_id": case_id, "version": version})
        return {r["step"]: r["mark"] for r in rows}

    async def record(
        self,
        case_id: int,
        version: int,
        steps: Sequence[tuple[str, datetime, str | None]],
        now: datetime,
    ) -> set[str]:
        """Record ``(step, due_at, mark)`` rows; the steps this call recorded (one already
        there was done by someone else)."""
        recorded: set[str] = set()
        for step, due_at, mark in steps:
            params: dict[str, Any] = {
                "case_id": case_id, "version": version, "step": step,
                "due_at": due_at, "at": now, "mark": mark,
            }  # fmt: skip
            row = (await self.session.execute(_record(self.session.dialect), params)).first()
            if row is not None:
                recorded.add(step)
        return recorded

    async def due(self, now: datetime, limit: int) -> list[int]:
        """Ids of the cases with a step due by ``now``, the most overdue first (the index)."""
        rows = await self.session.execute(_DUE, {"now": now, "limit": limit})
        return [int(r["id"]) for r in rows]

    async def set_next_due(self, case_id: int, version: int, next_due: datetime | None) -> None:
        """A derived instant, so no case version: only if the deadlines are still those of
        ``version`` (a step's own change has set it already otherwise)."""
        params = {"b_id": case_id, "b_version": version, "next_due": next_due}
        await self.session.modify(_SET_NEXT, params)


__all__ = ["CaseSteps", "Row"]
