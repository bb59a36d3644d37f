"""Where each customer is in a dialogue; written after every step so a restart resumes there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.sql import Executable

from storage.repositories.base import Repo, per_dialect, replace_on_conflict
from storage.schema import Row, conversations

_KEY = (
    conversations.c.channel == bindparam("channel"),
    conversations.c.chat_id == bindparam("chat_id"),
)
_GET = select(conversations).where(*_KEY)
_GET_LOCKED = _GET.with_for_update()
_DELETE = conversations.delete().where(*_KEY)


@per_dialect
def _put(dialect: str) -> Executable:
    columns = ["flow", "state", "data", "updated_at"]
    return replace_on_conflict(dialect, conversations, ["channel", "chat_id"], columns)


class Conversations(Repo):
    async def get(self, channel: str, chat_id: str, *, for_update: bool = False) -> Row | None:
        """``for_update`` locks the row on PostgreSQL, so two instances serialise one chat."""
        stmt = _GET_LOCKED if for_update else _GET
        return (await self.session.execute(stmt, {"channel": channel, "chat_id": chat_id})).first()

    async def put(
        self, channel: str, chat_id: str, *, flow: str, state: str, data: Any, now: datetime
    ) -> None:
        params = {
            "channel": channel,
            "chat_id": chat_id,
            "flow": flow,
            "state": state,
            "data": data,
            "updated_at": now,
        }
        await self.session.modify(_put(self.session.dialect), params)

    async def delete(self, channel: str, chat_id: str) -> None:
        await self.session.modify(_DELETE, {"channel": channel, "chat_id": chat_id})
