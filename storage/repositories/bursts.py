"""Burst alerts (``burst_alerts``) and the intake they are measured on (``cases.received_at``).

An alert is active while ``ended_at`` is NULL; the partial unique index on its category makes
raising one an insert that does nothing when another instance raised it first, and ending one
an update that only the first instance to try finds still active."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.sql import Executable

from storage.repositories.base import Repo, insert_for, per_dialect
from storage.schema import Row, burst_alerts, cases

_WHEN = cases.c.received_at.type
_INTAKE = (
    select(cases.c.category, func.count().label("n"))
    .where(
        cases.c.received_at > bindparam("after", type_=_WHEN),
        cases.c.received_at <= bindparam("until", type_=_WHEN),
    )
    .group_by(cases.c.category)
)
_FIRST = select(func.min(cases.c.received_at).label("first"))
_ACTIVE_ROW = burst_alerts.c.ended_at.is_(None)
_ACTIVE = select(burst_alerts).where(_ACTIVE_ROW)
_PEAK = (
    update(burst_alerts)
    .where(burst_alerts.c.id == bindparam("b_id"), burst_alerts.c.peak < bindparam("peak"))
    .values(peak=bindparam("peak"))
)
_END = (
    update(burst_alerts)
    .where(burst_alerts.c.id == bindparam("b_id"), burst_alerts.c.ended_at.is_(None))
    .values(ended_at=bindparam("at", type_=burst_alerts.c.ended_at.type))
    .returning(burst_alerts.c.id)
)


@per_dialect
def _start(dialect: str) -> Executable:
    """At most one active alert per category: a second instance's insert does nothing."""
    table = burst_alerts
    return (
        insert_for(dialect, table)
        .on_conflict_do_nothing(index_elements=[table.c.category], index_where=_ACTIVE_ROW)
        .returning(table.c.id)
    )


class BurstAlerts(Repo):
    async def intake(self, spans: Sequence[tuple[datetime, datetime]]) -> dict[str, list[int]]:
        """Category → its complaints received in each ``(after, until]`` span, in order."""
        found: dict[str, list[int]] = {}
        for i, (after, until) in enumerate(spans):
            rows = await self.session.execute(_INTAKE, {"after": after, "until": until})
            for row in rows:
                found.setdefault(str(row["category"]), [0] * len(spans))[i] = int(row["n"])
        return found

    async def first_received(self) -> datetime | None:
        """When the desk's first complaint came in (None: none yet)."""
        first: datetime | None = (await self.session.execute(_FIRST)).scalar()
        return first

    async def active(self) -> dict[str, Row]:
        """Category → its active alert."""
        return {str(r["category"]): r for r in await self.session.execute(_ACTIVE)}

    async def start(self, category: str, at: datetime, intake: int, usual: float) -> int | None:
        """The new alert's id; None when the category's alert is active already."""
        params = {"category": category, "started_at": at, "intake": intake, "usual": usual,
                  "peak": intake, "ended_at": None}  # fmt: skip
        row = (await self.session.execute(_start(self.session.dialect), params)).first()
        return None if row is None else int(row["id"])

    async def peak(self, alert_id: int, intake: int) -> None:
        await self.session.modify(_PEAK, {"b_id": alert_id, "peak": intake})

    async def end(self, alert_id: int, at: datetime) -> bool:
        """Whether this call ended it (False: another instance did a moment ago)."""
        rows = await self.session.execute(_END, {"b_id": alert_id, "at": at})
        return rows.first() is not None
