from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.cases import DomainError
from bot.domain.numbers import CaseNumber, check_prefix, desk_day, parse_case_number

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_format_matches_the_procedures_example() -> None:
    assert str(CaseNumber("YS", date(2023, 10, 27), 1)) == "YS20231027001"


def test_a_busy_day_grows_a_fourth_digit() -> None:
    n = CaseNumber("TS", date(2026, 11, 22), 1000)
    assert str(n) == "TS202611221000"
    assert parse_case_number(str(n)) == n


@pytest.mark.parametrize("text", ["ts20261122007", "  TS20261122007\n", "TS20261122007"])
def test_parse_forgives_case_and_spaces(text: str) -> None:
    assert parse_case_number(text) == CaseNumber("TS", date(2026, 11, 22), 7)


@pytest.mark.parametrize(
    "text", ["", "TS", "TS2026112201", "TS20261322001", "20261122001", "TS-20261122-001", "投诉001"]
)
def test_parse_rejects_what_is_not_a_number(text: str) -> None:
    with pytest.raises(DomainError, match="not a case number"):
        parse_case_number(text)


@pytest.mark.parametrize("prefix", ["", "ts", "T1", "ABCDEFGHI", "客诉"])
def test_prefix_must_be_capital_letters(prefix: str) -> None:
    with pytest.raises(DomainError):
        check_prefix(prefix)


def test_the_day_is_the_desks_not_utcs() -> None:
    # 23:30 UTC on the 21st is 07:30 on the 22nd in Beijing.
    assert desk_day(datetime(2026, 11, 21, 23, 30, tzinfo=UTC), SHANGHAI) == date(2026, 11, 22)
    with pytest.raises(ValueError, match="aware"):
        desk_day(datetime(2026, 11, 21, 23, 30), SHANGHAI)  # noqa: DTZ001
