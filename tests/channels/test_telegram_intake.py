"""A customer on Telegram, the real python-telegram-bot, kesu, and the emulator: a whole intake
with a photo and a shared contact, and a reply-keyboard key typed back. Every other turn of
the dialogue is checked exactly, without HTTP, in tests/flows/ and tests/test_dispatcher.py."""

from __future__ import annotations

from datetime import timedelta

from tests.channels.conftest import Bot
from tests.fakes.telegram import FakeTelegram, FakeUser


async def test_a_whole_intake_in_simplified_chinese(bot: Bot, tg: FakeTelegram) -> None:
    alice = tg.user(1001, "Alice", "zh-hans")
    await alice.says("/start")
    assert "您好" in await alice.hears()
    await alice.says("昨天在你们加油站加油,员工态度恶劣,还骂人")
    assert "还有要补充的吗" in await alice.hears()
    await alice.sends_photo(caption="这是当时的小票")
    # Within 10 s of the last 已记录: acknowledged when those 10 s are over, by the outbox
    # worker, which sleeps until then (here the clock jumps, and it wakes at its next tick).
    bot.clock.advance(timedelta(seconds=10))
    assert "已记录" in await alice.hears(within=5.0)
    await alice.taps("说完了 ✅")
    assert "人员态度问题" in await alice.hears()
    await alice.taps("是")
    assert "被投诉的网点" in await alice.hears()
    await alice.says("第三加油站")
    assert "订单号" in await alice.hears()
    await alice.taps("跳过")
    assert "联系电话" in await alice.hears()
    await alice.says("12345")
    assert "号码好像不对" in await alice.hears(2)
    await alice.shares_contact("+86 138 0013 8000")
    assert "希望得到怎样的处理" in await alice.hears(2)
    await alice.taps("道歉")
    summary = await alice.hears()
    assert "员工态度恶劣,还骂人" in summary
    assert "这是当时的小票" in summary
    assert "第三加油站" in summary
    assert "+8613800138000" in summary
    assert "附件:1 个" in summary
    await alice.taps("确认提交")
    done = await alice.hears()
    assert "TS20261117001" in done
    assert "1 个工作日内(明天 14:30前)" in done

    case = await bot.runtime.kesu.cases.get("TS20261117001")  # type: ignore[union-attr]
    assert case.category == "staff"
    assert case.party == "第三加油站"
    assert case.contact == "+8613800138000"
    assert case.desired_outcome == "apology"
    assert case.content == "昨天在你们加油站加油,员工态度恶劣,还骂人\n这是当时的小票"


async def test_english_customer_and_contact_by_chat(bot: Bot, tg: FakeTelegram) -> None:
    carol = tg.user(1003, "Carol", "en-US")
    await carol.says("/new")
    assert "Privacy" in await carol.hears()
    await carol.says("The courier was rude and threw my parcel")
    assert "Anything to add?" in await carol.hears()
    await carol.taps("Done ✅")
    assert "Staff attitude" in await carol.hears()
    await carol.taps("Yes")
    await carol.hears()
    await carol.says("Station 5")
    await carol.hears()
    await carol.says("SF1234567890")
    assert "phone number" in await carol.hears()
    await carol.taps("Contact me in this chat")  # a key of the reply keyboard
    await carol.hears(2)
    await carol.taps("An explanation")
    summary = await carol.hears()
    assert "Reference: SF1234567890" in summary
    assert "Contact: this chat" in summary
    await carol.taps("Submit")
    assert "Your case number is TS20261117001" in await carol.hears()


async def test_a_contact_card_of_someone_else_is_not_the_customers_number(
    bot: Bot, tg: FakeTelegram
) -> None:
    dora = tg.user(1006, "Dora", "zh-hans")
    await dora.says("/new")
    await dora.hears()
    await dora.says("加油站员工态度恶劣")
    await dora.hears()
    await dora.taps("说完了 ✅")
    await dora.hears()
    await dora.taps("是")
    await dora.hears()
    await dora.taps("跳过")
    await dora.hears()
    await dora.taps("跳过")
    assert "联系电话" in await dora.hears()
    await dora.shares_card("13900139000", "Mum", 2002)  # another Telegram user's card
    assert "这是别人的名片" in await dora.hears(2)
    await dora.shares_card("13700137000", "Plumber", None)  # a phone-book entry
    assert "这是别人的名片" in await dora.hears(2)
    await dora.shares_contact("13800138000")
    assert "希望得到怎样的处理" in await dora.hears(2)
    await dora.taps("道歉")
    assert "联系方式:+8613800138000" in await dora.hears()


async def through_to_summary(user: FakeUser, complaint: str) -> str:
    """The usual answers up to the restatement, starting with /new; returns it."""
    await user.says("/new")
    await user.hears()
    await user.says(complaint)
    await user.hears()
    await user.taps("说完了 ✅")
    await user.hears()
    if "对吗" in user.last.text:
        await user.taps("是")
    else:
        await user.taps(user.last.buttons[0])
    await user.hears()
    await user.taps("跳过")
    await user.hears()
    await user.taps("跳过")
    await user.hears()
    await user.shares_contact("13800138000")
    await user.hears(2)
    await user.taps("退款")
    return await user.hears()


async def file_complaint(user: FakeUser, complaint: str) -> str:
    """A whole intake; returns the case number the bot gave."""
    await through_to_summary(user, complaint)
    await user.taps("确认提交")
    done = await user.hears()
    return done.split("编号是 ")[1].split("。")[0]
