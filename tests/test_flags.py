"""Severity flags that rise on their own (issue 15 item 3): 热点 when three different
customers complain in one category about one party within 30 days (the party compared
without spaces, punctuation, width or script), 热点 after 7 days unresolved and 重大 after
30 (pauses excluded); each rise a correction by the system with its reason, never a lowering."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import FrozenClock
from bot.domain.cases import Severity, Status
from bot.domain.sla import Sla
from bot.nlp.text import party_key
from bot.services import CaseService, NewComplaint
from tests.conftest import SHANGHAI, Backend

AGENT = "slack:UAGENT001"


async def complain(
    service: CaseService, user: str, party: str | None, category: str = "billing"
) -> str:
    complaint = NewComplaint(
        "telegram", user, "加油站多收了我二十元", category=category, party=party
    )
    return (await service.open_case(complaint)).number


async def severities(service: CaseService, *numbers: str) -> list[Severity]:
    return [(await service.get(n)).severity for n in numbers]


def test_spellings_of_one_party_have_one_key() -> None:
    spellings = [
        "三堰加油站",
        "三堰 加油站",
        "三堰加油站 ",
        "三堰　加油站",
        "三堰加油站。",
        "三堰加油站",
    ]
    assert {party_key(s) for s in spellings} == {"三堰加油站"}
    assert party_key("中國石化 三堰站") == party_key("中国石化三堰站")  # 繁 → 简
    assert party_key("ＳＨＥＬＬ Station") == party_key("shell-station")  # width, case
    assert party_key("") is None
    assert party_key(" …。") is None  # nothing left: no party


async def test_three_customers_about_one_party_make_it_hot_with_the_reason(
    service: CaseService,
) -> None:
    first = await complain(service, "1", "三堰加油站")
    second = await complain(service, "2", "三堰 加油站")
    assert await severities(service, first, second) == [Severity.GENERAL] * 2
    third = await complain(service, "3", "三堰加油站 ")
    assert await severities(service, first, second, third) == [Severity.HOT] * 3
    last = (await service.history(first))[-1]
    assert (last.action, last.actor) == ("correct", "system")
    assert last.changes["severity"] == ["general", "hot"]
    assert last.note == (
        f"热点:30 天内 3 位客户投诉同一对象「三堰加油站 」({first}、{second}、{third}) "
        "hot: 3 customers about one party within 30 days"
    )
    fourth = await complain(service, "4", "三堰加油站")  # the group is hot: so is the newcomer
    assert await severities(service, fourth) == [Severity.HOT]
    assert len([e for e in await service.history(first) if e.actor == "system"]) == 1


async def test_no_party_another_category_or_one_customer_twice_count_for_nothing(
    service: CaseService,
) -> None:
    nameless = [await complain(service, str(u), None) for u in (1, 2, 3)]
    apart = [
        await complain(service, "4", "三堰加油站"),
        await complain(service, "5", "三堰加油站", category="staff"),
        await complain(service, "4", "三堰加油站"),  # the same customer again
    ]
    assert await severities(service, *nameless, *apart) == [Severity.GENERAL] * 6


async def test_a_month_apart_does_not_count_and_a_closed_case_counts_but_stays_as_it_was(
    service: CaseService, clock: FrozenClock
) -> None:
    old = await complain(service, "1", "三堰加油站")
    clock.advance(timedelta(days=31))
    closed = await complain(service, "2", "三堰加油站")
    await service.claim(closed, AGENT)
    await service.resolve(closed, AGENT, "已退款")
    await service.closure.confirmed(closed, "customer:telegram:2", 0)
    invalid = await complain(service, "5", "三堰加油站")
    await service.mark_invalid(invalid, AGENT, "非本公司站点")  # not a complaint: no count
    recent = await complain(service, "3", "三堰加油站")
    assert await severities(service, old, closed, invalid, recent) == [Severity.GENERAL] * 4
    newest = await complain(service, "4", "三堰加油站")  # three customers within 30 days
    assert (await service.get(closed)).status is Status.CLOSED
    assert await severities(service, old, closed, invalid, recent, newest) == [
        Severity.GENERAL, Severity.GENERAL, Severity.GENERAL, Severity.HOT, Severity.HOT,
    ]  # fmt: skip


async def test_a_correction_of_an_older_case_counts_the_30_days_around_it(
    service: CaseService, clock: FrozenClock
) -> None:
    """Correcting the party of a case counts the customers of any 30 days that include it,
    not 90: two before and one long after make no 热点."""
    first = await complain(service, "1", "三堰加油站")
    clock.advance(timedelta(days=20))
    second = await complain(service, "2", "三堰站")
    clock.advance(timedelta(days=20))
    third = await complain(service, "3", "三堰加油站")  # 40 days after the first
    await service.correct(second, AGENT, "party", "三堰加油站", "统一名称")
    # first–second: 20 days, second–third: 20 days, but no 30 days hold all three.
    assert await severities(service, first, second, third) == [Severity.GENERAL] * 3
    clock.advance(timedelta(days=1))
    fourth = await complain(service, "4", "三堰加油站")  # second, third, fourth: 21 days
    assert await severities(service, first, second, third, fourth) == [
        Severity.GENERAL, Severity.HOT, Severity.HOT, Severity.HOT,
    ]  # fmt: skip


async def test_staff_merging_two_spellings_by_correction_counts_them_together(
    service: CaseService,
) -> None:
    a = await complain(service, "1", "三堰加油站")
    b = await complain(service, "2", "三堰加油站")
    c = await complain(service, "3", "三堰站")  # another spelling the key cannot know
    assert await severities(service, a, b, c) == [Severity.GENERAL] * 3
    await service.correct(c, AGENT, "party", "三堰加油站", "同一加油站,统一名称")
    assert await severities(service, a, b, c) == [Severity.HOT] * 3


async def test_a_flag_never_goes_down_on_its_own(service: CaseService) -> None:
    major = await complain(service, "1", "三堰加油站")
    await service.correct(major, AGENT, "severity", "major", "客户已起诉")
    await complain(service, "2", "三堰加油站")
    await complain(service, "3", "三堰加油站")
    assert await severities(service, major) == [Severity.MAJOR]


async def test_unresolved_cases_rise_to_hot_at_7_days_and_major_at_30_pauses_excluded(
    service: CaseService, clock: FrozenClock
) -> None:
    number = await complain(service, "1", None)
    await service.claim(number, AGENT)
    await service.reply(number, AGENT, "正在核实")
    clock.advance(timedelta(days=1))
    await service.pause_clock(number, AGENT, "等客户提供小票")
    clock.advance(timedelta(days=2))  # waiting for the customer: not counted
    await service.resume_clock(number, AGENT)
    clock.advance(timedelta(days=4))  # 7 days since receipt, 5 counted
    acted = [(a.step, a.outcome) for a in await service.sweep.once(clock.now())]
    assert ("flag@hot", "flagged hot") not in acted
    clock.advance(timedelta(days=2))  # 7 counted
    acted = [(a.step, a.outcome) for a in await service.sweep.once(clock.now())]
    assert ("flag@hot", "flagged hot") in acted
    last = [e for e in await service.history(number) if e.action == "correct"][-1]
    assert last.note == (
        "热点:7 天未解决 hot: unresolved for 7 days (time waiting for the customer excluded)"
    )
    clock.advance(timedelta(days=23))  # 30 counted
    acted = [(a.step, a.outcome) for a in await service.sweep.once(clock.now())]
    assert ("flag@major", "flagged major") in acted
    assert await severities(service, number) == [Severity.MAJOR]


async def test_a_correction_and_a_complaint_at_once_on_two_instances_still_make_it_hot(
    backend: Backend, service: CaseService, sla: Sla, clock: FrozenClock
) -> None:
    """A party corrected on one instance while another opens a complaint about it: each count
    waits for the other (PostgreSQL: an advisory lock per category and party), so neither
    misses the third customer. (Two openings are serialised already, by the day's number.)"""
    other_store = backend.connect()
    try:
        other = CaseService(other_store, sla, clock, SHANGHAI, prefix="TS")
        for n in range(5):  # a race lost once may be won the next time: try a few
            party = f"三堰加油站{n}号"
            first = await complain(service, f"1{n}", party)
            second = await complain(service, f"2{n}", f"三堰{n}号站")
            _, third = await asyncio.gather(
                other.correct(second, AGENT, "party", party, "统一名称"),
                complain(service, f"3{n}", party),
            )
            assert await severities(service, first, second, third) == [Severity.HOT] * 3, n
    finally:
        await other_store.close()
