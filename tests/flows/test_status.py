"""The /status answer (查询进度) as transcripts: only the customer's own cases, newest first,
in their language."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from bot.flows import status
from bot.services import CaseService
from storage.db import Store
from tests.dialogue import Chat
from tests.queries import case_count


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


# -- a case number asked about (issue 13: 「查询进度 TS20261201001」 began a new complaint) ------

NOT_MINE = "没有找到您名下编号为 {} 的投诉。请核对编号;发送 /status 可以查看您的全部投诉。"


async def test_a_case_number_is_answered_for_the_askers_own_case_only(
    dispatcher: Dispatcher, store: Store
) -> None:
    """Someone else's number and one never given get the very same answer: numbers are
    guessable (prefix, date, daily sequence), so the answer must not tell them apart."""
    alice, bob = Chat(dispatcher, "2030", None, "Alice"), Chat(dispatcher, "2031", None, "Bob")
    theirs = await bob.file_complaint("物业费乱收费")
    await alice.verify(f"""
        > 查询进度 {theirs}
        < {NOT_MINE.format(theirs)}
        > 查询进度 TS20261117999
        < {NOT_MINE.format("TS20261117999")}
        > 查询进度 TS20261399001
        < {NOT_MINE.format("TS20261399001")}
    """)
    mine = await alice.file_complaint("快递三天了还没派送")
    await alice.verify(f"""
        > 查询进度 {mine}
        < 您的投诉:
          {mine} · 已受理,待处理 · 流程/效率问题 · 2026-11-17 受理
        > 查询进度 {theirs}
        < {NOT_MINE.format(theirs)}
    """)
    async with store.read() as tx:
        assert await case_count(tx) == 2  # no complaint begun, none added to
        assert await tx.conversations.get("telegram", "2030") is None
    assert [e.action for e in await dispatcher.deps.cases.history(mine)] == ["open"]


@pytest.mark.parametrize(
    "asked",
    [
        "查询进度 {n}",
        "查进度{n}",
        "进度:{n}",
        "查询 {n}",
        "{n} 状态",
        "{n}怎么样了?",
        "请问我的投诉 {n} 现在怎么样了?",
        "查詢進度 {n}",
        "{n} 進度",
        "status of {n}",
        "progress {n}",
        "What's the status of my complaint {n}?",
        "{n}",
        "{n}。",
        "/status {n}",
    ],
)
async def test_status_phrasings_with_a_case_number(dispatcher: Dispatcher, asked: str) -> None:
    """The case asked about, not the list (nor a which-case question: two are open)."""
    alice = Chat(dispatcher, "2032", None, "Alice")
    mine = await alice.file_complaint("快递三天了还没派送")
    await alice.file_complaint("客服态度恶劣,还挂我电话")
    await alice.verify(f"""
        > {asked.format(n=mine)}
        < 您的投诉:
          {mine} · 已受理,待处理 · 流程/效率问题 · 2026-11-17 受理
    """)


@pytest.mark.parametrize(
    "typed",
    [
        "查询进度 ts20261117001",  # lower case
        "查询进度 ＴＳ２０２６１１１７００１",  # full-width letters and digits
        "查询进度 TS 20261117 001",  # spaces
        "查询进度\u3000TS2026\u30001117001",  # ideographic spaces
        "查询进度 TS202611170001",  # the sequence written with four digits
    ],
)
async def test_a_case_number_is_read_as_people_type_it(dispatcher: Dispatcher, typed: str) -> None:
    alice = Chat(dispatcher, "2033", None, "Alice")
    mine = await alice.file_complaint("快递三天了还没派送")
    assert mine == "TS20261117001"
    await alice.verify(f"""
        > {typed}
        < 您的投诉:
          {mine} · 已受理,待处理 · 流程/效率问题 · 2026-11-17 受理
    """)


async def test_a_case_number_in_english(dispatcher: Dispatcher) -> None:
    ed = Chat(dispatcher, "2034", "en-US", "Ed")
    mine = await ed.file_complaint("my parcel is three days late, the courier never came")
    await ed.verify(f"""
        > status of {mine}
        < Your complaints:
          {mine} · received, waiting · Process / efficiency · received 2026-11-17
        > progress TS20261117009
        < We found no complaint TS20261117009 of yours. Please check the number; send /status to see all your complaints.
    """)


async def test_a_case_number_mid_intake_is_answered_and_the_question_asked_again(
    dispatcher: Dispatcher, store: Store
) -> None:
    """Words asking about a number are a status query in any state; a bare number in the
    middle of an intake is the answer to its question (here: the reference asked for)."""
    alice = Chat(dispatcher, "2035", None, "Alice")
    mine = await alice.file_complaint("快递三天了还没派送")
    await alice.verify(f"""
        > /new
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          请用文字描述您遇到的问题(可以分几条发送,也可以发送照片或文件)。
        > 快递又是三天没派送
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > 查询进度 {mine}
        < 您的投诉:
          {mine} · 已受理,待处理 · 流程/效率问题 · 2026-11-17 受理
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「流程/效率问题」,对吗?
          [是] [否,换一个]
        > [是]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > [跳过]
        < 有订单号、运单号或单据号吗?(没有可跳过)
          [跳过]
        > {mine}怎么样了
        < 您的投诉:
          {mine} · 已受理,待处理 · 流程/效率问题 · 2026-11-17 受理
        < 有订单号、运单号或单据号吗?(没有可跳过)
          [跳过]
        > {mine}
        < 请留下联系电话,方便我们与您联系:可以点下方按钮分享手机号,也可以直接输入。
          [通过本对话联系我]
          (keyboard: 📱 分享我的手机号)
    """)
    async with store.read() as tx:
        conversation = await tx.conversations.get("telegram", "2035")
    assert conversation is not None
    assert conversation["state"] == "contact"
    assert conversation["data"]["parts"] == ["快递又是三天没派送"]
    assert conversation["data"]["reference"] == mine


async def test_a_case_number_during_the_which_case_question_keeps_the_words(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    alice = Chat(dispatcher, "2036", None, "Alice")
    first = await alice.file_complaint("快递三天了还没派送")
    second = await alice.file_complaint("客服态度恶劣,还挂我电话")
    await alice.verify(f"""
        > 还有一件事
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [{first}]
          [这是新的投诉]
        > {first} 进度
        < 您的投诉:
          {first} · 已受理,待处理 · 流程/效率问题 · 2026-11-17 受理
        > [{first}]
        < 已将您的补充记入投诉 {first},处理人员会看到。
    """)
    note = [e for e in await service.history(first) if e.action == "customer_message"]
    assert [e.note for e in note] == ["还有一件事"]


async def test_words_with_a_number_are_not_a_status_query(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    """A number among words of a complaint, or another company's number alone (a waybill),
    is what it was before: here, a follow-up to the one open case."""
    alice = Chat(dispatcher, "2037", None, "Alice")
    mine = await alice.file_complaint("快递三天了还没派送")
    await alice.verify(f"""
        > {mine} 还是没人处理,太慢了
        < 已将您的补充记入投诉 {mine},处理人员会看到。
        > SF1311315346868
        < 已将您的补充记入投诉 {mine},处理人员会看到。
        > 运单号 SF1311315346868
        < 已将您的补充记入投诉 {mine},处理人员会看到。
    """)
    note = [e.note for e in await service.history(mine) if e.action == "customer_message"]
    assert note == [f"{mine} 还是没人处理,太慢了", "SF1311315346868", "运单号 SF1311315346868"]


@pytest.mark.parametrize(
    ("text", "numbers", "explicit"),
    [
        ("TS20261201001 和 TS20261201002 的进度", None, None),  # 和: words of their own
        ("查询进度 TS20261201001 TS20261201002", ("TS20261201001", "TS20261201002"), True),
        ("ts20261201001 ts20261201001", ("TS20261201001",), False),
        ("TS-20261201-001", ("TS20261201001",), False),
        ("status 20261201001", None, None),  # no prefix: not a case number
        ("call me at 13800138000", None, None),
        ("TS20261201001 13800138000", None, None),  # a number runs into another
        ("我的快递 SF1311315346868 怎么样了", None, None),
        ("查询进度", None, None),  # no number: the list (status.WORDS)
        ("查询进度 SF1311315346868", ("SF1311315346868",), True),
    ],
)
def test_what_counts_as_asking_about_a_number(
    text: str, numbers: tuple[str, ...] | None, explicit: bool | None
) -> None:
    asked = status.query(text)
    if numbers is None:
        assert asked is None
    else:
        assert asked == status.Query(numbers, explicit=bool(explicit))
