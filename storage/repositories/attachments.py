"""Evidence (证据): photos and documents a customer sent, by the platform's file id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from storage.repositories.base import Repo
from storage.schema import Row, attachments

_ADD = attachments.insert()
_FOR_CASE = (
    select(attachments)
    .where(attachments.c.case_id == bindparam("case_id"))
    .order_by(attachments.c.id)
)


class Attachments(Repo):
    async def add(
        self, case_id: int, channel: str, items: Iterable[Mapping[str, Any]], now: datetime
    ) -> None:
        rows = [
            {
                "case_id": case_id,
                "channel": channel,
                "file_id": item["file_id"],
                "kind": item["kind"],
                "size": item.get("size"),
                "mime": item.get("mime"),
                "name": item.get("name"),
                "created_at": now,
            }
            for item in items
        ]
        if rows:
            await self.session.modify(_ADD, rows)

    async def for_case(self, case_id: int) -> list[Row]:
        return (await self.session.execute(_FOR_CASE, {"case_id": case_id})).rows
