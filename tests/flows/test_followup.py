"""After intake, as transcripts: the customer's words go to their open case, or they are asked
which one; a stale or forged button gets nothing, and the words wait for an answer."""

from __future__ import annotations

from bot.dispatcher import Dispatcher
from bot.domain.cases import Severity
from bot.services import CaseService
from storage.db import Store
from tests.dialogue import Chat


async def test_a_message_after_intake_is_added_to_the_open_case(
    dispatcher: Dispatcher, service: CaseService, store: Store
) -> None:
    alice = Chat(dispatcher, "2003", None, "Alice")
    number = await alice.file_complaint("快递三天了还没派送")
    await alice.verify(f"""
        > 刚才快递员打电话说明天送,但我明天不在家
        < 已将您的补充记入投诉 {number},处理人员会看到。
        > (photo)
        < 已将您的补充记入投诉 {number},处理人员会看到。
        > (sticker)
        < 暂时无法处理这类消息,请发送文字、照片或文件。
    """)
    added = [e for e in await service.history(number) if e.action == "customer_message"]
    assert [e.note for e in added] == ["刚才快递员打电话说明天送,但我明天不在家", None]
    async with store.read() as tx:
        files = await tx.attachments.for_case((await service.get(number)).id)
    assert [f["kind"] for f in files] == ["photo"]


async def test_with_several_open_cases_the_customer_picks_one(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    # moved from tests/channels/test_telegram_after_intake.py::test_with_several_open_cases_the_customer_picks_one
    alice = Chat(dispatcher, "2004", None, "Alice", show_data=True)
    first = await alice.file_complaint("快递三天了还没派送")
    second = await alice.file_complaint("客服态度恶劣,还挂我电话")
    await alice.verify(f"""
        > 还有一件事:
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second} → f:{second}]
          [{first} → f:{first}]
          [这是新的投诉 → f:new]
        > 他们今天又没来
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second} → f:{second}]
          [{first} → f:{first}]
          [这是新的投诉 → f:new]
        > (photo)
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second} → f:{second}]
          [{first} → f:{first}]
          [这是新的投诉 → f:new]
        > [{first}]
        < 已将您的补充记入投诉 {first},处理人员会看到。
        > 再补充一句
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second} → f:{second}]
          [{first} → f:{first}]
          [这是新的投诉 → f:new]
    """)
    note = [e for e in await service.history(first) if e.action == "customer_message"]
    assert note[0].note == "还有一件事:\n他们今天又没来"
    assert [e.action for e in await service.history(second)] == ["open"]


async def test_the_question_stays_through_help_and_a_language_switch(
    dispatcher: Dispatcher,
) -> None:
    """The which-case question is not asked again after /help or a language switch: its
    buttons above still answer it."""
    alice = Chat(dispatcher, "2011", None, "Alice")
    first = await alice.file_complaint("快递三天了还没派送")
    second = await alice.file_complaint("客服态度恶劣,还挂我电话")
    await alice.verify(f"""
        > 还有一件事
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [{first}]
          [这是新的投诉]
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
        > [{second}]
        < Added to your case {second}; the person handling it will see it.
    """)


async def test_a_forged_button_for_someone_elses_case_gets_nothing(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    # moved from tests/channels/test_telegram_after_intake.py::test_a_forged_button_for_someone_elses_case_gets_nothing
    alice = Chat(dispatcher, "2005", None, "Alice")
    mallory = Chat(dispatcher, "2006", None, "Mallory")
    victim = await alice.file_complaint("快递三天了还没派送")
    await mallory.file_complaint("物业费乱收费")
    await mallory.file_complaint("快递员态度恶劣")
    await mallory.verify(f"""
        > 我想看看
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [TS20261117003]
          [TS20261117002]
          [这是新的投诉]
        > [data=f:{victim}]
        < 找不到这个投诉。
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [TS20261117003]
          [TS20261117002]
          [这是新的投诉]
        > [data=i:cat:yes]
        < 这个按钮已经失效了。
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [TS20261117003]
          [TS20261117002]
          [这是新的投诉]
    """)
    assert [e.action for e in await service.history(victim)] == ["open"]


async def test_a_button_for_a_case_closed_since_gets_nothing(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    alice = Chat(dispatcher, "2012", None, "Alice")
    first = await alice.file_complaint("快递三天了还没派送")
    second = await alice.file_complaint("客服态度恶劣,还挂我电话")
    await alice.verify(f"""
        > 还有一件事
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [{first}]
          [这是新的投诉]
    """)
    await service.claim(first, "slack:U1")
    await service.resolve(first, "slack:U1", "已联系快递公司加急派送")
    await service.close(first, "customer", "客户确认")
    await alice.verify(f"""
        > [{first}]
        < 找不到这个投诉。
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [这是新的投诉]
        > 他们今天又没来
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [这是新的投诉]
        > [{second}]
        < 已将您的补充记入投诉 {second},处理人员会看到。
    """)
    assert [e.action for e in await service.history(first)][-1] == "close"
    note = [e.note for e in await service.history(second) if e.action == "customer_message"]
    assert note == ["还有一件事\n他们今天又没来"]  # nothing lost on the way


async def test_new_starts_another_intake_even_with_an_open_case(dispatcher: Dispatcher) -> None:
    # moved from tests/channels/test_telegram_after_intake.py::test_new_starts_another_intake_even_with_an_open_case
    alice = Chat(dispatcher, "2007", None, "Alice")
    await alice.file_complaint("快递三天了还没派送")
    await alice.verify("""
        > /new
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          请用文字描述您遇到的问题(可以分几条发送,也可以发送照片或文件)。
    """)


async def test_choosing_new_case_from_the_question_starts_an_intake(
    dispatcher: Dispatcher,
) -> None:
    # moved from tests/channels/test_telegram_after_intake.py::test_choosing_new_case_from_the_question_starts_an_intake
    alice = Chat(dispatcher, "2009", None, "Alice")
    await alice.file_complaint("快递三天了还没派送")
    await alice.file_complaint("客服态度恶劣,还挂我电话")
    await alice.verify("""
        > 加油站多收了我五十元
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [TS20261117002]
          [TS20261117001]
          [这是新的投诉]
        > [这是新的投诉]
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「价格/费用问题」,对吗?
          [是] [否,换一个]
        > 取消
        < 已取消,本次内容没有提交。需要时发送 /new 重新开始。
          (keyboard removed)
        > 嗯
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [TS20261117002]
          [TS20261117001]
          [这是新的投诉]
        > [这是新的投诉]
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [data=f:new]
        < 这个按钮已经失效了。
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
    """)


async def test_choosing_new_case_before_any_words_asks_for_them(
    dispatcher: Dispatcher, store: Store
) -> None:
    """A which-case question stored by an earlier version, answered "new" with no words kept:
    the intake asks for the description (without greeting: the customer knows us)."""
    await store.write(
        lambda tx: tx.conversations.put(
            "telegram", "2013", flow="followup", state="choose", data={},
            now=dispatcher.clock.now(),
        )
    )  # fmt: skip
    alice = Chat(dispatcher, "2013", None, "Alice")
    await alice.verify("""
        > [data=f:new]
        < 请用文字描述您遇到的问题(可以分几条发送,也可以发送照片或文件)。
    """)
    async with store.read() as tx:
        conversation = await tx.conversations.get("telegram", "2013")
    assert conversation is not None
    assert (conversation["flow"], conversation["state"]) == ("intake", "content")


async def test_a_which_case_question_stored_by_an_earlier_version_resumes(
    dispatcher: Dispatcher, service: CaseService, store: Store
) -> None:
    alice = Chat(dispatcher, "2014", None, "Alice")
    first = await alice.file_complaint("快递三天了还没派送")
    await alice.file_complaint("客服态度恶劣,还挂我电话")
    data = {"pending_text": "还有一件事", "pending_attachments": []}
    await store.write(
        lambda tx: tx.conversations.put(
            "telegram", "2014", flow="followup", state="choose", data=data,
            now=dispatcher.clock.now(),
        )
    )  # fmt: skip
    await alice.verify(f"""
        > [data=f:{first}]
        < 已将您的补充记入投诉 {first},处理人员会看到。
    """)
    note = [e for e in await service.history(first) if e.action == "customer_message"]
    assert [e.note for e in note] == ["还有一件事"]


async def test_a_second_complaint_on_the_same_subject_is_a_repeat(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    # moved from tests/channels/test_telegram_after_intake.py::test_a_second_complaint_on_the_same_subject_is_a_repeat
    alice = Chat(dispatcher, "2008", None, "Alice")
    first = await alice.file_complaint("快递三天了还没派送")
    await service.claim(first, "slack:U1")
    await service.resolve(first, "slack:U1", "已联系快递公司加急派送")
    await service.close(first, "customer", "客户确认")
    second = await alice.file_complaint("快递又是一个星期没派送")
    case = await service.get(second)
    assert case.repeat_of == (await service.get(first)).id
    assert case.severity is Severity.IMPORTANT  # 重要: complained again after closure


async def test_only_the_questions_own_buttons_answer_it(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    """Issue 13: an old button (a stale 确认提交 or category button of an earlier message)
    ended the which-case question and threw the customer's words away."""
    alice = Chat(dispatcher, "2015", None, "Alice")
    first = await alice.file_complaint("快递三天了还没派送")
    second = await alice.file_complaint("客服态度恶劣,还挂我电话")
    await alice.verify(f"""
        > 还有一件事
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [{first}]
          [这是新的投诉]
        > [data=i:submit]
        < 这个按钮已经失效了。
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [{first}]
          [这是新的投诉]
        > [data=i:cat:yes]
        < 这个按钮已经失效了。
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [{first}]
          [这是新的投诉]
        > 他们今天又没来
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [{first}]
          [这是新的投诉]
        > [data=f:TS20261117999]
        < 找不到这个投诉。
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [{first}]
          [这是新的投诉]
        > [{first}]
        < 已将您的补充记入投诉 {first},处理人员会看到。
    """)
    note = [e.note for e in await service.history(first) if e.action == "customer_message"]
    assert note == ["还有一件事\n他们今天又没来"]
    assert [e.action for e in await service.history(second)] == ["open"]


async def test_new_typed_at_the_which_case_question_begins_with_the_words_waiting(
    dispatcher: Dispatcher, store: Store
) -> None:
    """/new at the which-case question is [这是新的投诉]: the words waiting there are the new
    complaint's first words, never dropped."""
    bea = Chat(dispatcher, "2016", None, "Bea")
    first = await bea.file_complaint("快递三天了还没派送")
    second = await bea.file_complaint("客服态度恶劣,还挂我电话")
    await bea.verify(f"""
        > 加油站多收了我二十元
        < 您有多个进行中的投诉,这条补充属于哪一个?
          [{second}]
          [{first}]
          [这是新的投诉]
        > /new
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
    """)
    async with store.read() as tx:
        row = await tx.conversations.get("telegram", "2016")
    assert row is not None
    assert (row["flow"], row["state"], row["data"]["parts"]) == (
        "intake",
        "content",
        ["加油站多收了我二十元"],
    )
