"""Named sent messages: "card:42" → the platform's id of that message, and back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.sql import Executable

from storage.repositories.base import Repo, per_dialect, replace_on_conflict
from storage.schema import message_refs


@per_dialect
def _put(dialect: str) -> Executable:
    return replace_on_conflict(
        dialect, message_refs, ["channel", "ref"], ["platform_message_id", "updated_at"]
    )


_MANY = select(message_refs.c.ref, message_refs.c.platform_message_id).where(
    message_refs.c.channel == bindparam("channel"),
    message_refs.c.ref.in_(bindparam("refs", expanding=True)),
)
_REF_OF = select(message_refs.c.ref).where(
    message_refs.c.channel == bindparam("channel"),
    message_refs.c.platform_message_id == bindparam("platform_message_id"),
    # autoescape= needs a literal; the prefix is escaped below, so the statement is built once.
    message_refs.c.ref.like(bindparam("pattern", type_=message_refs.c.ref.type), escape="/"),
)


def _starts_with(prefix: str) -> str:
    """A LIKE pattern matching ``prefix`` literally ("_" and "%" are ordinary there)."""
    return prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


class MessageRefs(Repo):
    async def put(self, channel: str, ref: str, platform_message_id: str, now: datetime) -> None:
        params = {
            "channel": channel,
            "ref": ref,
            "platform_message_id": platform_message_id,
            "updated_at": now,
        }
        await self.session.modify(_put(self.session.dialect), params)

    async def many(self, channel: str, refs: Sequence[str]) -> dict[str, str]:
        if not refs:
            return {}
        rows = await self.session.execute(_MANY, {"channel": channel, "refs": list(refs)})
        return {r["ref"]: r["platform_message_id"] for r in rows}

    async def ref_of(self, channel: str, platform_message_id: str, prefix: str) -> str | None:
        """Which named message (of the kind ``prefix``, e.g. "card:") this platform id is."""
        params = {
            "channel": channel,
            "platform_message_id": platform_message_id,
            "pattern": _starts_with(prefix),
        }
        value = (await self.session.execute(_REF_OF, params)).scalar()
        return None if value is None else str(value)
