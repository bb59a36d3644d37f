"""What the desk's actions and queries share: who acts, what they are told, how a case
number typed or clicked by staff becomes a locked case row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.desk import wording
from bot.domain.cases import Case, DomainError
from bot.domain.numbers import parse_case_number
from bot.services import CaseEvent, CaseNotFound
from storage.repositories import Tx


@dataclass(frozen=True, slots=True)
class Staff:
    """The person acting, with the role the channel looked up (channel members, supervisors)."""

    platform: str
    user_id: str
    is_staff: bool
    is_supervisor: bool = False

    @property
    def actor(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the acting person is told. ``ok`` with an empty message: the card says it all."""

    ok: bool
    message: str = ""
    case: Case | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Details:
    case: Case
    card: dict[str, Any]
    history: list[CaseEvent]
    attachments: int


class Refused(DomainError):
    """A desk rule (not a lifecycle rule) said no."""


async def load_case(tx: Tx, number: str, *, for_update: bool = False) -> Case:
    """The case staff named; text that is no case number is refused in words staff read."""
    try:
        canonical = str(parse_case_number(number))
    except DomainError:
        raise Refused(wording.not_a_number(number)) from None
    row = await tx.cases.by_number(canonical, for_update=for_update)
    if row is None:
        raise CaseNotFound(wording.no_such_case(canonical))
    return Case.from_row(row)
