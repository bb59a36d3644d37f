"""已记录 once for a burst of messages (issue 13): the first at once, the ones within 10 s of the
last acknowledgement silent and counted in one acknowledgement queued for the end of those
10 s, which a newer one supersedes and leaving the description withdraws. Time is the frozen
clock's: ``~ 10 seconds later`` shows what fell due."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from storage.db import Store
from storage.schema import outbox
from tests.dialogue import Chat


async def statuses(store: Store, chat: str) -> dict[str, int]:
    """The chat's held-back acknowledgements by outbox status."""
    stmt = (
        select(outbox.c.status, func.count().label("n"))
        .where(outbox.c.recipient == chat, outbox.c.dedupe_key.like("%:ack"))
        .group_by(outbox.c.status)
    )
    async with store.read() as tx:
        return {r["status"]: int(r["n"]) for r in await tx.session.execute(stmt)}


async def test_quick_messages_are_acknowledged_together_with_their_count(
    dispatcher: Dispatcher, store: Store
) -> None:
    ann = Chat(dispatcher, "5001", None, "Ann")
    await ann.verify("""
        > 加油站多收了我五十元
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > 而且态度很差
        > (photo)
        > 还不给开发票
        ~ 9 seconds later
        > 我要投诉他们
        ~ 1 second later
        < 已记录 4 条。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > 就这些
        ~ 9 seconds later
        ~ 1 second later
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        ~ 15 seconds later
        > 对了,是第三加油站
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
    """)
    # One row per rescheduling, each superseding the one before: one left per burst.
    assert await statuses(store, "5001") == {"superseded": 3, "pending": 2}
    async with store.read() as tx:
        conversation = await tx.conversations.get("telegram", "5001")
    assert conversation is not None
    assert len(conversation["data"]["parts"]) == 6
    assert len(conversation["data"]["attachments"]) == 1


async def test_done_withdraws_the_acknowledgement_not_yet_sent(
    dispatcher: Dispatcher, store: Store
) -> None:
    bob = Chat(dispatcher, "5002", None, "Bob")
    await bob.verify("""
        > 加油站员工态度恶劣
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > 还骂人
        > [说完了 ✅]
        < 您反映的问题属于「人员态度问题」,对吗?
          [是] [否,换一个]
        ~ 1 minute later
    """)
    assert await statuses(store, "5002") == {"superseded": 1}


async def test_cancel_and_new_withdraw_it_too(dispatcher: Dispatcher, store: Store) -> None:
    cat = Chat(dispatcher, "5003", None, "Cat")
    await cat.verify("""
        > 快递三天了还没派送
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > 打电话也没人接
        > /new
        < 放弃当前填写的投诉,重新开始?
          [放弃,重新开始] [继续填写]
        > [放弃,重新开始]
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          请用文字描述您遇到的问题(可以分几条发送,也可以发送照片或文件)。
        ~ 10 seconds later
        > 加油站多收钱
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > 五十元
        > /cancel
        < 已取消,本次内容没有提交。需要时发送 /new 重新开始。
          (keyboard removed)
        ~ 1 minute later
    """)
    assert await statuses(store, "5003") == {"superseded": 2}


async def test_the_count_in_english_and_traditional_chinese(dispatcher: Dispatcher) -> None:
    dan = Chat(dispatcher, "5004", "en", "Dan")
    await dan.send("> My parcel is late")
    await dan.verify("""
        > It was due on Monday
        > Nobody answers the phone
        ~ 10 seconds later
        < 2 messages recorded. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
    """)
    eve = Chat(dispatcher, "5005", "zh-hk", "Eve")
    await eve.send("> 物業費亂收費")
    await eve.verify("""
        > 每個月多收二十元
        > 管理處不理
        > (photo)
        ~ 10 seconds later
        < 已記錄 3 條。還有要補充的嗎?可以繼續發送文字或照片;說完了請點「說完了」。
          [說完了 ✅]
    """)


async def test_the_count_survives_a_restart(
    dispatcher: Dispatcher, store: Store, clock: FrozenClock
) -> None:
    """The state is the conversation's data and the outbox's rows: another process (a new
    dispatcher on the same store) goes on counting."""
    fay = Chat(dispatcher, "5006", None, "Fay")
    await fay.send("> 加油站员工态度恶劣")
    await fay.send("> 还骂人")
    restarted = Dispatcher(store, dispatcher.deps, clock)
    fay = Chat(restarted, "5006", None, "Fay")
    await fay.verify("""
        > 还推了我一下
        ~ 10 seconds later
        < 已记录 2 条。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
    """)
    assert await statuses(store, "5006") == {"superseded": 1, "pending": 1}
