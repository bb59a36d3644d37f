"""/new in the middle of an intake asks before it throws the answers away (issue 13): yes
starts again, no goes on where the customer was; the question's buttons, once stale, do
nothing a button of another message would not do."""

from __future__ import annotations

from bot.dispatcher import Dispatcher
from storage.db import Store
from tests.dialogue import Chat

GREETING = """\
< 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          请用文字描述您遇到的问题(可以分几条发送,也可以发送照片或文件)。"""


async def _state(store: Store, chat: str) -> tuple[str, str, dict[str, object]] | None:
    async with store.read() as tx:
        row = await tx.conversations.get("telegram", chat)
    if row is None:
        return None
    data = {k: v for k, v in row["data"].items() if not k.startswith("_")}
    return row["flow"], row["state"], data


async def test_new_in_the_middle_of_an_intake_asks_first(
    dispatcher: Dispatcher, store: Store
) -> None:
    ivy = Chat(dispatcher, "4001", None, "Ivy")
    await ivy.verify(f"""
        > 快递三天了还没派送
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「流程/效率问题」,对吗?
          [是] [否,换一个]
        > /new
        < 放弃当前填写的投诉,重新开始?
          [放弃,重新开始] [继续填写]
        > [继续填写]
        < 我们继续刚才的登记:
        < 您反映的问题属于「流程/效率问题」,对吗?
          [是] [否,换一个]
        > [是]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > /new
        < 放弃当前填写的投诉,重新开始?
          [放弃,重新开始] [继续填写]
        > [放弃,重新开始]
        {GREETING}
    """)
    assert await _state(store, "4001") == (
        "intake",
        "content",
        {"started_at": dispatcher.clock.now().isoformat()},
    )


async def test_stale_buttons_of_the_question_do_no_harm(
    dispatcher: Dispatcher, store: Store
) -> None:
    """Once the customer has gone on, or asked again, the question's old buttons are those
    of any other old message: the step at hand treats them as it treats a stale button."""
    ivy = Chat(dispatcher, "4002", None, "Ivy", show_data=False)
    await ivy.verify("""
        > 快递三天了还没派送
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > /new
        < 放弃当前填写的投诉,重新开始?
          [放弃,重新开始] [继续填写]
        ~ 1 minute later
        > 昨天又等了一整天
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [放弃,重新开始]
        < 这个按钮已经失效了。
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [继续填写]
        < 这个按钮已经失效了。
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
    """)
    state = await _state(store, "4002")
    assert state is not None
    assert state[2]["parts"] == ["快递三天了还没派送", "昨天又等了一整天"]
    first = next(m for m in ivy.seen if m.text == "放弃当前填写的投诉,重新开始?")
    await ivy.verify("""
        > /new
        < 放弃当前填写的投诉,重新开始?
          [放弃,重新开始] [继续填写]
    """)
    stale_yes = first.buttons[0][0].data
    assert stale_yes.startswith("r:")
    await ivy.verify(f"""
        > [data={stale_yes}]
        < 这个按钮已经失效了。
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > /cancel
        < 已取消,本次内容没有提交。需要时发送 /new 重新开始。
          (keyboard removed)
        > [放弃,重新开始]
        < 这个按钮已经失效了。
        < 直接发消息描述问题即可投诉。
          /new 新的投诉
          /status 查询进度
          /cancel 取消当前登记
          /language 切换语言
          /help 帮助
    """)
    assert await _state(store, "4002") is None


async def test_new_with_nothing_entered_yet_just_starts_again(dispatcher: Dispatcher) -> None:
    ivy = Chat(dispatcher, "4003", None, "Ivy")
    await ivy.verify(f"""
        > /new
        {GREETING}
        > /new
        {GREETING}
    """)


async def test_the_question_holds_through_help_and_status(
    dispatcher: Dispatcher, store: Store
) -> None:
    """/help and /status answer and ask the step's question again, as anywhere; the restart
    question's buttons above still answer it."""
    ivy = Chat(dispatcher, "4004", "en", "Ivy")
    await ivy.verify("""
        > my parcel is three days late
        < Hello, this is the customer complaints service. Tell us what happened and we will record it and get back to you.
          Privacy: what you tell us is used only to handle your complaint and is not shared with anyone not involved.

          Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
        > /new
        < Drop the complaint you are entering and start again?
          [Drop it, start again] [Continue]
        > /status
        < You have no complaints on record. Just describe a problem to start one.
        < Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
        > [Continue]
        < Let us continue where we were:
        < Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
    """)
    state = await _state(store, "4004")
    assert state is not None
    assert state[2]["parts"] == ["my parcel is three days late"]
