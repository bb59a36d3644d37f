"""Case numbers (投诉编号): ``<PREFIX><YYYYMMDD><NNN>``, e.g. ``TS20231027001``.

The daily sequence itself is allocated by storage inside the transaction that writes the case,
so a number is never handed out without its case; this module only formats and parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.domain.cases import DomainError

PREFIX_RE = re.compile(r"^[A-Z]{1,8}$")
_NUMBER_RE = re.compile(r"^(?P<prefix>[A-Z]{1,8})(?P<day>\d{8})(?P<seq>\d{3,})$")


@dataclass(frozen=True, slots=True)
class CaseNumber:
    prefix: str
    day: date
    seq: int

    def __str__(self) -> str:
        # Three digits as the procedures show; a busy day simply grows a fourth (…1000).
        return f"{self.prefix}{self.day:%Y%m%d}{self.seq:03d}"


def check_prefix(prefix: str) -> str:
    """Prefixes are upper-case Latin letters so a number can be read out on the phone."""
    if not PREFIX_RE.match(prefix):
        raise DomainError(f"case number prefix must be 1-8 letters A-Z, got {prefix!r}")
    return prefix


def desk_day(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar day of the desk, not of UTC: a case at 07:00 Beijing time is today's."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(tz).date()


def parse_case_number(text: str) -> CaseNumber:
    """Accepts what a person types: surrounding spaces and lower case are forgiven."""
    m = _NUMBER_RE.match(text.strip().upper())
    if not m:
        raise DomainError(f"not a case number: {text!r} (expected e.g. TS20231027001)")
    try:
        day = datetime.strptime(m["day"], "%Y%m%d").date()  # noqa: DTZ007 (a date, no time)
    except ValueError as exc:
        raise DomainError(f"not a case number: {text!r} (bad date {m['day']})") from exc
    return CaseNumber(m["prefix"], day, int(m["seq"]))
