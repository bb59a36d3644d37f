"""The /status answer (查询进度) as transcripts: only the customer's own cases, newest first,
in their language."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from bot.services import CaseService
from tests.dialogue import Chat


async def test_status_lists_only_my_cases(dispatcher: Dispatcher) -> None:
    # moved from tests/channels/test_telegram_after_intake.py::test_status_lists_only_my_cases
    alice, bob = Chat(dispatcher, "2001", None, "Alice"), Chat(dispatcher, "2002", None, "Bob")
    mine = await alice.file_complaint("快递三天了还没派送")
    theirs = await bob.file_complaint("物业费乱收费")
    await alice.verify(f"""
        > 查询进度
        < 您的投诉:
          {mine} · 已受理,待处理 · 流程/效率问题 · 2026-11-17 受理
    """)
    assert theirs != mine


async def test_status_with_no_case_says_how_to_begin(dispatcher: Dispatcher) -> None:
    await Chat(dispatcher, "2020", "en", "Ed").verify("""
        > /status
        < You have no complaints on record. Just describe a problem to start one.
        > /status
        < You have no complaints on record. Just describe a problem to start one.
    """)


async def test_status_names_each_case_state_in_the_customers_language(
    dispatcher: Dispatcher, service: CaseService, clock: FrozenClock
) -> None:
    bob = Chat(dispatcher, "2021", "zh-tw", "Bob")
    first = await bob.file_complaint("快递三天了还没派送")
    await service.claim(first, "slack:U1")
    await service.resolve(first, "slack:U1", "已联系快递公司加急派送")
    await service.close(first, "customer", "客户确认")
    clock.advance(timedelta(days=2))
    second = await bob.file_complaint("物业费乱收费,每个月都多收二十元")
    await service.claim(second, "slack:U1")
    await bob.verify(f"""
        > 查詢進度
        < 您的投訴:
          {second} · 處理中 · 價格/費用問題 · 2026-11-19 受理
          {first} · 已結案 · 流程/效率問題 · 2026-11-17 受理
        > /language
        < 请选择语言 / 請選擇語言 / Choose a language
          [简体中文] [繁體中文] [English]
        > [English]
        < Switched to English.
        > /status
        < Your complaints:
          {second} · being handled · Price / charges · received 2026-11-19
          {first} · closed · Process / efficiency · received 2026-11-17
    """)
