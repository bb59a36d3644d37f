"""After intake: status, follow-ups appended to the right case, repeats, and nothing leaking
between customers."""

from __future__ import annotations

from bot.domain.cases import Severity
from tests.channels.conftest import Bot
from tests.channels.test_telegram_intake import file_complaint
from tests.fakes.telegram import FakeTelegram


async def test_status_lists_only_my_cases(bot: Bot, tg: FakeTelegram) -> None:
    alice, bob = tg.user(2001, "Alice"), tg.user(2002, "Bob")
    mine = await file_complaint(alice, "快递三天了还没派送")
    theirs = await file_complaint(bob, "物业费乱收费")
    await alice.says("查询进度")
    status = await alice.hears()
    assert mine in status
    assert "已受理,待处理" in status
    assert "流程/效率问题" in status
    assert theirs not in status


async def test_a_message_after_intake_is_added_to_the_open_case(bot: Bot, tg: FakeTelegram) -> None:
    alice = tg.user(2003, "Alice")
    number = await file_complaint(alice, "快递三天了还没派送")
    await alice.says("刚才快递员打电话说明天送,但我明天不在家")
    assert f"已将您的补充记入投诉 {number}" in await alice.hears()
    await alice.sends_photo()
    assert number in await alice.hears()
    cases = bot.runtime.kesu.cases  # type: ignore[union-attr]
    history = await cases.history(number)
    added = [e for e in history if e.action == "customer_message"]
    assert added[0].note == "刚才快递员打电话说明天送,但我明天不在家"
    assert len(added) == 2
    async with bot.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
        case = await cases.get(number)
        files = await tx.attachments.for_case(case.id)
    assert [f["file_id"] for f in files] == ["big-2003"]  # the largest size of the photo


async def test_with_several_open_cases_the_customer_picks_one(bot: Bot, tg: FakeTelegram) -> None:
    alice = tg.user(2004, "Alice")
    first = await file_complaint(alice, "快递三天了还没派送")
    second = await file_complaint(alice, "客服态度恶劣,还挂我电话")
    await alice.says("还有一件事:")
    assert "属于哪一个" in await alice.hears()
    await alice.says("他们今天又没来")  # more words before choosing: kept, asked again
    assert "属于哪一个" in await alice.hears()
    assert alice.last.buttons[:2] == [second, first]
    await alice.taps(first)
    assert f"记入投诉 {first}" in await alice.hears()
    note = [
        e for e in await bot.runtime.kesu.cases.history(first) if e.action == "customer_message"
    ]  # type: ignore[union-attr]
    assert note[0].note == "还有一件事:\n他们今天又没来"


async def test_a_forged_button_for_someone_elses_case_gets_nothing(
    bot: Bot, tg: FakeTelegram
) -> None:
    alice, mallory = tg.user(2005, "Alice"), tg.user(2006, "Mallory")
    victim = await file_complaint(alice, "快递三天了还没派送")
    await file_complaint(mallory, "物业费乱收费")
    await file_complaint(mallory, "快递员态度恶劣")
    await mallory.says("我想看看")
    await mallory.hears()
    await mallory.presses(f"f:{victim}")  # a button no one showed Mallory
    assert "找不到这个投诉" in await mallory.hears()
    history = await bot.runtime.kesu.cases.history(victim)  # type: ignore[union-attr]
    assert [e.action for e in history] == ["open"]
    await mallory.presses("i:cat:yes")  # a stale intake button, no dialogue going on
    assert "按钮已经失效" in await mallory.hears(2)


async def test_new_starts_another_intake_even_with_an_open_case(bot: Bot, tg: FakeTelegram) -> None:
    alice = tg.user(2007, "Alice")
    await file_complaint(alice, "快递三天了还没派送")
    await alice.says("/new")
    assert "请用文字描述" in await alice.hears()


async def test_a_second_complaint_on_the_same_subject_is_a_repeat(
    bot: Bot, tg: FakeTelegram
) -> None:
    alice = tg.user(2008, "Alice")
    first = await file_complaint(alice, "快递三天了还没派送")
    cases = bot.runtime.kesu.cases  # type: ignore[union-attr]
    await cases.claim(first, "slack:U1")
    await cases.resolve(first, "slack:U1", "已联系快递公司加急派送")
    # The resolution reaches the customer with no staff channel configured (issue 12, item 4).
    assert f"您的投诉 {first} 已处理" in await alice.hears()
    await cases.close(first, "customer", "客户确认")
    second = await file_complaint(alice, "快递又是一个星期没派送")
    case = await cases.get(second)
    assert case.repeat_of == (await cases.get(first)).id
    assert case.severity is Severity.IMPORTANT  # 重要: complained again after closure


async def test_choosing_new_case_from_the_question_starts_an_intake(
    bot: Bot, tg: FakeTelegram
) -> None:
    alice = tg.user(2009, "Alice")
    await file_complaint(alice, "快递三天了还没派送")
    await file_complaint(alice, "客服态度恶劣,还挂我电话")
    await alice.says("加油站多收了我五十元")
    assert "属于哪一个" in await alice.hears()
    await alice.taps("这是新的投诉")
    assert "还有要补充的吗" in await alice.hears()  # the words are already the description
    await alice.taps("说完了 ✅")
    assert "价格/费用问题" in await alice.hears()


async def test_evidence_sent_while_answering_another_question_is_kept(
    bot: Bot, tg: FakeTelegram
) -> None:
    alice = tg.user(2010, "Alice")
    await alice.says("加油站员工态度恶劣")
    await alice.hears()
    await alice.taps("说完了 ✅")
    await alice.hears()
    await alice.taps("是")
    await alice.hears()
    await alice.sends_document()
    reply = await alice.hears(2)
    assert "附件已收到" in reply
    assert "被投诉的网点" in reply  # and the same question again
    async with bot.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
        conversation = await tx.conversations.get("telegram", "2010")
    assert conversation is not None
    assert conversation["data"]["attachments"][0]["name"] == "receipt.pdf"
