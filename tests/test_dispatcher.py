"""The dispatcher and intake flow without any channel: messages in, replies out (and queued)."""

from __future__ import annotations

import itertools
import logging
from datetime import datetime, timedelta

import bot.channels.telegram as telegram_channel
from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from bot.messages import IncomingMessage
from storage.db import Store
from tests.conftest import SHANGHAI
from tests.dialogue import Chat
from tests.queries import case_count, pending

_ids = itertools.count(1)


def msg(user: str = "42", text: str = "", **kw: object) -> IncomingMessage:
    return IncomingMessage(
        "telegram",
        user,
        user,
        str(next(_ids)),
        text=text,
        **kw,  # type: ignore[arg-type]
    )


async def say(d: Dispatcher, *args: object, **kw: object) -> str:
    replies = await d.handle(msg(*args, **kw))  # type: ignore[arg-type]
    assert replies is not None
    return "\n".join(r.text for r in replies)


async def test_language_choice_is_remembered(dispatcher: Dispatcher, clock: FrozenClock) -> None:
    assert "请选择语言" in await say(dispatcher, command="language")
    assert "Switched to English" in await say(dispatcher, callback="lang:en")
    assert "Hello" in await say(dispatcher, text="my parcel is late")
    assert "已切換為繁體中文" in await say(dispatcher, callback="lang:zh-hant")
    clock.advance(timedelta(seconds=10))  # past the quiet time: acknowledged at once
    assert "還有要補充的嗎" in await say(dispatcher, text="還有一件事")


async def test_replies_are_queued_with_the_state(dispatcher: Dispatcher, store: Store) -> None:
    await say(dispatcher, text="快递三天了还没派送")
    async with store.read() as tx:
        queued = await pending(tx, dispatcher.clock.now())
        conversation = await tx.conversations.get("telegram", "42")
    assert len(queued) == 1
    assert queued[0]["payload"]["buttons"][0][0]["data"] == "i:done"
    assert conversation is not None
    assert (conversation["flow"], conversation["state"]) == ("intake", "content")


async def test_an_unknown_state_from_an_older_version_starts_over(
    dispatcher: Dispatcher, store: Store
) -> None:
    await store.write(
        lambda tx: tx.conversations.put(
            "telegram", "42", flow="intake", state="retired_step", data={},
            now=dispatcher.clock.now(),
        )
    )  # fmt: skip
    assert "请用文字描述" in await say(dispatcher, text="hello")


async def test_cancel_at_the_restatement_opens_nothing(
    dispatcher: Dispatcher, store: Store
) -> None:
    await say(dispatcher, text="加油站员工态度恶劣")
    await say(dispatcher, callback="i:done")
    await say(dispatcher, callback="i:cat:yes")
    await say(dispatcher, callback="i:skip")
    await say(dispatcher, callback="i:skip")
    await say(dispatcher, contact_phone="13800138000", contact_user_id="42")
    assert "请核对" in await say(dispatcher, callback="i:out:apology")
    assert "已取消" in await say(dispatcher, text="取消")
    async with store.read() as tx:
        assert await case_count(tx) == 0
        assert await tx.conversations.get("telegram", "42") is None


async def test_a_duplicate_update_returns_none(dispatcher: Dispatcher) -> None:
    first = msg(text="快递三天了还没派送")
    assert await dispatcher.handle(first) is not None
    assert await dispatcher.handle(first) is None


async def test_a_dialogue_abandoned_for_a_day_starts_afresh(
    dispatcher: Dispatcher, clock: FrozenClock
) -> None:
    await say(dispatcher, text="加油站员工态度恶劣")
    await say(dispatcher, callback="i:done")
    assert "被投诉的网点" in await say(dispatcher, callback="i:cat:yes")
    clock.advance(timedelta(days=7))
    # A week later this is a new complaint, not the answer to "which branch?".
    reply = await say(dispatcher, text="快递三天了还没派送")
    assert "您好" in reply
    assert "还有要补充的吗" in reply


def test_the_token_never_reaches_the_logs() -> None:
    """httpx logs request URLs at INFO and Bot API URLs carry the token."""
    assert telegram_channel.CHANNEL == "telegram"
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


async def test_the_promise_names_working_hours_for_a_business_clock(
    dispatcher: Dispatcher, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 17, 22, 0, tzinfo=SHANGHAI))  # Tuesday night
    await say(dispatcher, text="请马上处理,快递员把我的包裹弄丢了")  # urgent: priority B
    await say(dispatcher, callback="i:done")
    await say(dispatcher, callback="i:cat:process")
    await say(dispatcher, callback="i:skip")
    await say(dispatcher, callback="i:skip")
    await say(dispatcher, callback="i:chat")
    await say(dispatcher, callback="i:out:other")
    done = await say(dispatcher, callback="i:submit")
    assert "4 个工作小时内(明天 13:00前)" in done


async def test_two_messages_of_one_customer_at_once_are_taken_one_after_the_other(
    dispatcher: Dispatcher, store: Store
) -> None:
    """The dialogue state is locked on the customer row (it always exists; the conversation
    row may not yet): two instances taking one customer's messages at once lose neither."""
    import asyncio  # noqa: PLC0415

    other = Dispatcher(store, dispatcher.deps, dispatcher.clock)  # another instance's
    people = [str(9000 + n) for n in range(12)]
    await asyncio.gather(
        *(
            instance.handle(msg(user, text=f"{user} 第{part}句"))
            for user in people
            for part, instance in ((1, dispatcher), (2, other))
        )
    )
    async with store.read() as tx:
        for user in people:
            conversation = await tx.conversations.get("telegram", user)
            assert conversation is not None
            assert sorted(conversation["data"]["parts"]) == [f"{user} 第1句", f"{user} 第2句"]


# -- transcripts (tests/dialogue.py): every reply exactly ----------------------------------------


async def test_cancel_help_and_status_work_in_the_middle(
    dispatcher: Dispatcher, store: Store
) -> None:
    # moved from tests/channels/test_telegram_intake.py::test_cancel_help_and_status_work_in_the_middle
    # (and extended: /language, an unknown command, /start and 查询进度 in the middle too)
    fay = Chat(dispatcher, "1006", None, "Fay")
    await fay.verify("""
        > 多扣了我话费
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > /help
        < 直接发消息描述问题即可投诉。
          /new 新的投诉
          /status 查询进度
          /cancel 取消当前登记
          /language 切换语言
          /help 帮助
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > /status
        < 您还没有投诉记录。直接描述问题即可开始投诉。
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > /language
        < 请选择语言 / 請選擇語言 / Choose a language
          [简体中文] [繁體中文] [English]
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [English]
        < Switched to English.
        < Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
        > /frobnicate
        < Just write to us to make a complaint.
          /new new complaint
          /status see progress
          /cancel cancel what you are entering
          /language change language
          /help this help
        < Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
        > [简体中文]
        < 已切换为简体中文。
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > /start
        < 我们继续刚才的登记:
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > 查询进度
        < 您还没有投诉记录。直接描述问题即可开始投诉。
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > 取消
        < 已取消,本次内容没有提交。需要时发送 /new 重新开始。
          (keyboard removed)
        > /cancel
        < 当前没有进行中的登记。发送 /new 可以开始新的投诉。
          (keyboard removed)
    """)
    async with store.read() as tx:
        assert await case_count(tx) == 0


async def test_the_question_of_each_step_is_asked_again_after_a_fallback(
    dispatcher: Dispatcher,
) -> None:
    gus = Chat(dispatcher, "1011", None, "Gus")
    await gus.verify("""
        > 加油站员工态度恶劣
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「人员态度问题」,对吗?
          [是] [否,换一个]
        > /start
        < 我们继续刚才的登记:
        < 您反映的问题属于「人员态度问题」,对吗?
          [是] [否,换一个]
        > [是]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > [data=lang:zh-hant]
        < 已切換為繁體中文。
        < 被投訴的網點、門店或人員是?(沒有可跳過)
          [跳過]
        > [跳過]
        < 有訂單號、運單號或單據號嗎?(沒有可跳過)
          [跳過]
        > /status
        < 您還沒有投訴記錄。直接描述問題即可開始投訴。
        < 有訂單號、運單號或單據號嗎?(沒有可跳過)
          [跳過]
        > [跳過]
        < 請留下聯繫電話,方便我們與您聯繫:可以點下方按鈕分享手機號,也可以直接輸入。
          [通過本對話聯繫我]
          (keyboard: 📱 分享我的手機號)
        > /help
        < 直接發消息描述問題即可投訴。
          /new 新的投訴
          /status 查詢進度
          /cancel 取消當前登記
          /language 切換語言
          /help 幫助
        < 請留下聯繫電話,方便我們與您聯繫:可以點下方按鈕分享手機號,也可以直接輸入。
          [通過本對話聯繫我]
          (keyboard: 📱 分享我的手機號)
        > [通過本對話聯繫我]
        < 好的,聯繫方式已記錄。
          (keyboard removed)
        < 您希望得到怎樣的處理?
          [退款]
          [維修/更換]
          [道歉]
          [給個說法/解釋]
          [其他]
          (keyboard removed)
        > /language
        < 请选择语言 / 請選擇語言 / Choose a language
          [简体中文] [繁體中文] [English]
        < 您希望得到怎樣的處理?
          [退款]
          [維修/更換]
          [道歉]
          [給個說法/解釋]
          [其他]
          (keyboard removed)
        > [data=lang:klingon]
        < 请选择语言 / 請選擇語言 / Choose a language
          [简体中文] [繁體中文] [English]
        < 您希望得到怎樣的處理?
          [退款]
          [維修/更換]
          [道歉]
          [給個說法/解釋]
          [其他]
          (keyboard removed)
        > [其他]
        < 請核對您的投訴:

          問題描述:加油站员工态度恶劣
          附件:未提供
          問題類型:人員態度問題
          被投訴對象:未提供
          單號:未提供
          聯繫方式:通過本對話
          期望處理:其他

          確認無誤請點「確認提交」,需要更改請點「修改」。
          [確認提交] [修改]
        > /help
        < 直接發消息描述問題即可投訴。
          /new 新的投訴
          /status 查詢進度
          /cancel 取消當前登記
          /language 切換語言
          /help 幫助
        < 請核對您的投訴:

          問題描述:加油站员工态度恶劣
          附件:未提供
          問題類型:人員態度問題
          被投訴對象:未提供
          單號:未提供
          聯繫方式:通過本對話
          期望處理:其他

          確認無誤請點「確認提交」,需要更改請點「修改」。
          [確認提交] [修改]
        > [修改]
        < 要修改哪一項?
          [問題描述]
          [問題類型]
          [被投訴對象]
          [單號]
          [聯繫方式]
          [期望處理]
        > /start
        < 我們繼續剛才的登記:
        < 要修改哪一項?
          [問題描述]
          [問題類型]
          [被投訴對象]
          [單號]
          [聯繫方式]
          [期望處理]
        > /new
        < 放棄當前填寫的投訴,重新開始?
          [放棄,重新開始] [繼續填寫]
        > [放棄,重新開始]
        < 您好,這裡是客戶投訴服務。請直接描述您遇到的問題,我們會為您登記並儘快處理。
          隱私說明:您提供的信息只用於處理您的投訴,不會透露給無關人員。

          請用文字描述您遇到的問題(可以分幾條發送,也可以發送照片或文件)。
    """)


async def test_outside_a_dialogue(dispatcher: Dispatcher) -> None:
    """No dialogue going on: a stale button, a sticker, /cancel, /help and a language
    choice answer alone; any words (even "hi") start an intake with them and ask for more."""
    hal = Chat(dispatcher, "1012", None, "Hal")
    await hal.verify("""
        > [data=i:cat:yes]
        < 这个按钮已经失效了。
        < 直接发消息描述问题即可投诉。
          /new 新的投诉
          /status 查询进度
          /cancel 取消当前登记
          /language 切换语言
          /help 帮助
        > (sticker)
        < 暂时无法处理这类消息,请发送文字、照片或文件。
        > /cancel
        < 当前没有进行中的登记。发送 /new 可以开始新的投诉。
          (keyboard removed)
        > /help
        < 直接发消息描述问题即可投诉。
          /new 新的投诉
          /status 查询进度
          /cancel 取消当前登记
          /language 切换语言
          /help 帮助
        > /language
        < 请选择语言 / 請選擇語言 / Choose a language
          [简体中文] [繁體中文] [English]
        > [English]
        < Switched to English.
        > hi
        < Hello, this is the customer complaints service. Tell us what happened and we will record it and get back to you.
          Privacy: what you tell us is used only to handle your complaint and is not shared with anyone not involved.

          Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
    """)


async def test_a_photo_alone_starts_an_intake_with_it(dispatcher: Dispatcher) -> None:
    ivy = Chat(dispatcher, "1013", None, "Ivy")
    await ivy.verify("""
        > (photo)
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 请再用一句话说明照片或文件反映的问题,这句话会作为您的问题描述。
    """)


async def test_a_redelivered_update_is_answered_once(dispatcher: Dispatcher) -> None:
    jo = Chat(dispatcher, "1014", None, "Jo")
    await jo.verify("""
        > 快递三天了还没派送
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > (again)
        < (ignored: seen before)
        > [说完了 ✅]
        < 您反映的问题属于「流程/效率问题」,对吗?
          [是] [否,换一个]
        > (again)
        < (ignored: seen before)
    """)


async def test_a_dialogue_resumes_within_a_day_and_starts_afresh_after(
    dispatcher: Dispatcher,
) -> None:
    kim = Chat(dispatcher, "1015", None, "Kim")
    await kim.verify("""
        > 加油站员工态度恶劣
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「人员态度问题」,对吗?
          [是] [否,换一个]
        ~ 23 hours later
        > [是]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        ~ 25 hours later
        > 第三加油站
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        ~ 25 hours later
        > [data=i:done]
        < 这个按钮已经失效了。
        < 直接发消息描述问题即可投诉。
          /new 新的投诉
          /status 查询进度
          /cancel 取消当前登记
          /language 切换语言
          /help 帮助
    """)


async def test_a_dialogue_expired_has_nothing_to_cancel(dispatcher: Dispatcher) -> None:
    lu = Chat(dispatcher, "1016", None, "Lu")
    await lu.verify("""
        > 加油站员工态度恶劣
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        ~ 2 days later
        > 取消
        < 当前没有进行中的登记。发送 /new 可以开始新的投诉。
          (keyboard removed)
    """)


async def test_an_unknown_stored_state_restarts_politely(
    dispatcher: Dispatcher, store: Store
) -> None:
    await store.write(
        lambda tx: tx.conversations.put(
            "telegram", "1017", flow="intake", state="retired_step",
            data={"parts": ["旧的内容"]}, now=dispatcher.clock.now(),
        )
    )  # fmt: skip
    mo = Chat(dispatcher, "1017", None, "Mo")
    await mo.verify("""
        > 快递三天了还没派送
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          请用文字描述您遇到的问题(可以分几条发送,也可以发送照片或文件)。
        > 快递三天了还没派送
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
    """)
    async with store.read() as tx:
        conversation = await tx.conversations.get("telegram", "1017")
    assert conversation is not None
    assert conversation["data"]["parts"] == ["快递三天了还没派送"]


async def test_an_unknown_stored_flow_is_no_dialogue(dispatcher: Dispatcher, store: Store) -> None:
    await store.write(
        lambda tx: tx.conversations.put(
            "telegram", "1018", flow="survey_v0", state="score", data={},
            now=dispatcher.clock.now(),
        )
    )  # fmt: skip
    ned = Chat(dispatcher, "1018", None, "Ned")
    await ned.verify("""
        > 快递三天了还没派送
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
    """)
