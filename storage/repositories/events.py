"""The audit trail (case_events): appended in the transaction of the change, never updated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from storage.repositories.base import Repo
from storage.schema import Row, case_events

_APPEND = case_events.insert().returning(case_events.c.id)
_FOR_CASE = (
    select(case_events)
    .where(case_events.c.case_id == bindparam("case_id"))
    .order_by(case_events.c.id)
)

_BETWEEN = (
    select(case_events)
    .where(
        case_events.c.at >= bindparam("since", type_=case_events.c.at.type),
        case_events.c.at < bindparam("until", type_=case_events.c.at.type),
    )
    .order_by(case_events.c.id)
)


class Events(Repo):
    async def append(
        self,
        *,
        case_id: int,
        at: datetime,
        actor: str,
        action: str,
        from_status: str | None,
        to_status: str,
        changes: Mapping[str, Sequence[Any]],
        note: str | None = None,
    ) -> int:
        params = {
            "case_id": case_id,
            "at": at,
            "actor": actor,
            "action": action,
            "from_status": from_status,
            "to_status": to_status,
            "changes": {k: list(v) for k, v in changes.items()},
            "note": note,
        }
        return int((await self.session.execute(_APPEND, params)).scalar_one())

    async def for_case(self, case_id: int) -> list[Row]:
        return (await self.session.execute(_FOR_CASE, {"case_id": case_id})).rows

    async def between(self, since: datetime, until: datetime) -> list[Row]:
        """Every case's events at ``since`` ≤ at < ``until`` (the ``at`` index), in order."""
        return (await self.session.execute(_BETWEEN, {"since": since, "until": until})).rows
