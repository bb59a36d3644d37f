"""Customers: one row per channel identity, created on first contact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.sql import Executable

from storage.repositories.base import NotFound, Repo, insert_for, per_dialect
from storage.schema import Row, customers


@per_dialect
def _upsert(dialect: str) -> Executable:
    ins = insert_for(dialect, customers)
    return ins.on_conflict_do_update(
        index_elements=[customers.c.channel, customers.c.channel_user_id],
        set_={
            # Refreshed only when the channel tells us: a message without them erases nothing.
            "display_name": func.coalesce(ins.excluded.display_name, customers.c.display_name),
            "language": func.coalesce(ins.excluded.language, customers.c.language),
            "blocked_at": None,  # they wrote to us: whatever blocked us is over
            "updated_at": ins.excluded.updated_at,
        },
    ).returning(*customers.c)


_BY_ID = select(customers).where(customers.c.id == bindparam("id"))
_BY_IDENTITY = select(customers).where(
    customers.c.channel == bindparam("channel"),
    customers.c.channel_user_id == bindparam("user"),
)
# The SET clause comes from the parameters' keys; the id's name must not be a column's.
_UPDATE = update(customers).where(customers.c.id == bindparam("b_id"))


class Customers(Repo):
    async def ensure(
        self,
        channel: str,
        channel_user_id: str,
        now: datetime,
        *,
        display_name: str | None = None,
        language: str | None = None,
    ) -> int:
        """Id of the customer behind a channel identity, created on first contact."""
        row = await self.ensure_row(
            channel, channel_user_id, now, display_name=display_name, language=language
        )
        return int(row["id"])

    async def ensure_row(
        self,
        channel: str,
        channel_user_id: str,
        now: datetime,
        *,
        display_name: str | None = None,
        language: str | None = None,
    ) -> Row:
        """The customer row, created on first contact, in one statement.

        A later contact refreshes the display name and language only when the channel tells
        us one, so a message without them never erases what we knew.
        """
        params = {
            "channel": channel,
            "channel_user_id": channel_user_id,
            "display_name": display_name,
            "language": language,
            "created_at": now,
            "updated_at": now,
        }
        result = await self.session.execute(_upsert(self.session.dialect), params)
        return result.one()

    async def get(self, customer_id: int) -> Row:
        row = (await self.session.execute(_BY_ID, {"id": customer_id})).first()
        if row is None:
            raise NotFound(f"no customer with id {customer_id}")
        return row

    async def find(self, channel: str, channel_user_id: str) -> Row | None:
        params = {"channel": channel, "user": channel_user_id}
        return (await self.session.execute(_BY_IDENTITY, params)).first()

    async def update(self, customer_id: int, now: datetime, **values: Any) -> None:
        params = {**values, "updated_at": now, "b_id": customer_id}
        if await self.session.modify(_UPDATE, params) == 0:
            raise NotFound(f"no customer with id {customer_id}")
