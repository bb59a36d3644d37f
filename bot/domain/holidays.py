"""The days off the law itself fixes (法定节假日), for a year not announced yet.

《全国年节及纪念日放假办法》 (as revised by the State Council in 2024, in force from 2025-01-01)
gives every citizen these days off: 元旦 1 January; 春节 农历除夕 and 正月初一 to 初三; 清明
(the day of the solar term); 劳动节 1-2 May; 端午 农历五月初五; 中秋 农历八月十五; 国庆 1-3 October.
The yearly announcement adds what cannot be derived: the weekend days worked (调休), the
bridge days they buy and the make-up day for a holiday on a weekend. So these dates are a floor:
a desk in an unannounced year rests on them rather than promising contact on 元旦.

Lunar dates and the solar term come from ``lunar_python`` (computed astronomically, no table that
ends), imported here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from lunar_python import Lunar


@lru_cache(maxsize=16)
def legal_holidays(year: int) -> Mapping[date, str]:
    """The law's days off in ``year``, each with its name for messages and tests.

    Cached: the business calendar asks for every day it scans, and one year's lunar
    computation takes milliseconds.
    """
    first_month = Lunar.fromYmd(year, 1, 1)
    new_year = _date(first_month.getSolar())
    named = [
        (date(year, 1, 1), "元旦"),
        # 除夕 is the last day of the lunar year: 腊月三十, or 廿九 when 腊月 is short.
        (new_year - timedelta(days=1), "春节 除夕"),
        (new_year, "春节 正月初一"),
        (new_year + timedelta(days=1), "春节 正月初二"),
        (new_year + timedelta(days=2), "春节 正月初三"),
        (_date(first_month.getJieQiTable()["清明"]), "清明"),
        (date(year, 5, 1), "劳动节"),
        (date(year, 5, 2), "劳动节"),
        # The ordinary months 5 and 8; a leap month (闰五月) is month -5 in lunar_python.
        (_date(Lunar.fromYmd(year, 5, 5).getSolar()), "端午"),
        (_date(Lunar.fromYmd(year, 8, 15).getSolar()), "中秋"),
        *((date(year, 10, d), "国庆") for d in (1, 2, 3)),
    ]
    days: dict[date, str] = {}
    for day, name in named:  # 中秋 may fall on 国庆 (2020, 2028): one day, both names
        days[day] = f"{days[day]}、{name}" if day in days else name
    return MappingProxyType(days)


def _date(solar: Any) -> date:
    """A ``lunar_python`` Solar (the library is untyped) as a date."""
    return date(solar.getYear(), solar.getMonth(), solar.getDay())
