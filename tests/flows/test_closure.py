"""Closure (闭环, issue 14 item 2) as transcripts: the resolution asks 已解决 / 未解决; the
answer closes the case or reopens it one level up, once; words saying it is not solved count
as 未解决; a stale or forged button changes nothing; a message after the resolution asks
whether it is about that case, and after closure begins a new complaint."""

from __future__ import annotations

from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from bot.domain.cases import Severity, Status
from bot.services import CaseService
from storage.db import Store
from tests.dialogue import Chat
from tests.queries import queued

AGENT = "slack:UAGENT001"


async def resolved(chat: Chat, service: CaseService, store: Store, number: str) -> str:
    """Staff resolve the case; the resolution notice reaches the chat (its buttons pressable).
    The notice's text."""
    case = await service.get(number)
    if case.assignee is None:
        await service.claim(number, AGENT)
    await service.resolve(number, AGENT, "已联系快递员重新派送")
    mine = [m for _, r, m in await queued(store) if r == chat.user]
    chat.seen.append(mine[-1])
    return mine[-1].text


async def test_solved_closes_the_case_once_with_the_customers_confirmation(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    alice = Chat(dispatcher, "3001", None, "Alice", show_data=True)
    number = await alice.file_complaint("快递三天了还没派送")
    notice = await resolved(alice, service, store, number)
    assert notice == (
        f"您的投诉 {number} 已处理。\n处理结果:已联系快递员重新派送\n"
        "问题是否得到解决?请点击下方按钮告诉我们;2026-11-20 14:30 前未答复的,视为已解决并结案。"
    )
    assert [[b.data for b in row] for row in alice.seen[-1].buttons] == [
        [f"c:ok:{number}:0", f"c:no:{number}:0"]
    ]
    await alice.verify(f"""
        > [已解决 ✅]
        < 感谢您的确认,投诉 {number} 已结案。如有新的问题,直接发消息给我们即可。
        > (again)
        < (ignored: seen before)
        > [已解决 ✅]
        < 您对投诉 {number} 处理结果的答复已经记录,无需再次操作。
        > [未解决]
        < 您对投诉 {number} 处理结果的答复已经记录,无需再次操作。
    """)
    case = await service.get(number)
    assert case.status is Status.CLOSED
    assert case.closed_at == clock.now()
    last = (await service.history(number))[-1]
    assert (last.action, last.actor, last.at) == ("close", "customer:telegram:3001", clock.now())
    assert (last.note or "").startswith("客户确认")


async def test_not_solved_reopens_one_level_up_and_says_by_when(
    dispatcher: Dispatcher, service: CaseService, store: Store
) -> None:
    bob = Chat(dispatcher, "3002", "en", "Bob")
    number = await bob.file_complaint("My parcel has not been delivered for three days")
    await resolved(bob, service, store, number)
    assert bob.seen[-1].buttons[0][1].label == "Not solved"
    before = await service.get(number)
    await bob.send("> [Not solved]")
    case = await service.get(number)
    due = case.resolution_due.astimezone(dispatcher.deps.tz)
    assert (case.status, case.escalation_level, case.reopen_count, case.assignee) == (
        Status.REOPENED, before.escalation_level + 1, 1, None,
    )  # fmt: skip
    assert bob.seen[-1].text == (
        f"We are sorry the problem is not solved. Complaint {number} is being handled again by "
        f"the customer service supervisor; we will answer you by {due:%Y-%m-%d %H:%M}."
    )
    last = (await service.history(number))[-1]
    assert (last.action, last.actor) == ("reopen", "customer:telegram:3002")
    assert (last.note or "").startswith("客户反馈未解决")
    await bob.verify(f"""
        > [Not solved]
        < Your answer about the result of complaint {number} is already recorded.
    """)
    assert (await service.get(number)).version == case.version  # nothing changed


async def test_writing_that_it_is_not_solved_reopens_the_case_awaiting_and_keeps_the_words(
    dispatcher: Dispatcher, service: CaseService, store: Store
) -> None:
    alice = Chat(dispatcher, "3003", "zh-hk", "Alice")
    number = await alice.file_complaint("快递三天了还没派送")
    notice = await resolved(alice, service, store, number)
    assert "問題是否得到解決" in notice  # 繁體
    assert [b.label for b in alice.seen[-1].buttons[0]] == ["已解決 ✅", "未解決"]
    await alice.send("> 还是没解决,快递员根本没来")
    case = await service.get(number)
    assert case.status is Status.REOPENED
    assert alice.seen[-1].text.startswith(
        f"很抱歉問題仍未解決。投訴 {number} 已重新處理,由客服主管跟進"
    )
    events = await service.history(number)
    assert [e.action for e in events[-2:]] == ["reopen", "customer_message"]
    assert events[-1].note == "还是没解决,快递员根本没来"


async def test_stale_and_forged_buttons_change_nothing(
    dispatcher: Dispatcher, service: CaseService, store: Store
) -> None:
    alice = Chat(dispatcher, "3004", None, "Alice")
    number = await alice.file_complaint("快递三天了还没派送")
    await resolved(alice, service, store, number)
    await alice.send("> [未解决]")
    await service.claim(number, AGENT)
    await resolved(alice, service, store, number)  # handled again, resolved again
    version = (await service.get(number)).version
    mallory = Chat(dispatcher, "3666", None, "Mallory")
    await mallory.verify(f"""
        > [data=c:ok:{number}:1]
        < 找不到这个投诉。
        > [data=c:no:{number}:1]
        < 找不到这个投诉。
        > [data=c:ok:TS20261117999:0]
        < 找不到这个投诉。
    """)
    await alice.verify(f"""
        > [data=c:ok:{number}:0]
        < 这个按钮已经失效了。
        > [data=c:ok:{number}:7]
        < 找不到这个投诉。
        > [data=c:maybe:{number}:1]
        < 找不到这个投诉。
        > [data=c:ok:{number}]
        < 找不到这个投诉。
    """)
    assert (await service.get(number)).version == version
    await alice.verify(f"""
        > [已解决 ✅]
        < 感谢您的确认,投诉 {number} 已结案。如有新的问题,直接发消息给我们即可。
    """)


async def test_a_button_pressed_in_the_middle_of_an_intake_keeps_the_intake_going(
    dispatcher: Dispatcher, service: CaseService, store: Store
) -> None:
    alice = Chat(dispatcher, "3005", None, "Alice")
    number = await alice.file_complaint("快递三天了还没派送")
    await resolved(alice, service, store, number)
    await alice.send("> /new")
    replies = await alice.send("> [已解决 ✅]")
    assert replies is not None
    assert replies[0].text.startswith(f"感谢您的确认,投诉 {number} 已结案。")
    assert (await service.get(number)).status is Status.CLOSED


async def test_a_message_after_resolution_asks_and_after_closure_is_a_new_linked_complaint(
    dispatcher: Dispatcher, service: CaseService, store: Store
) -> None:
    alice = Chat(dispatcher, "3006", None, "Alice", show_data=True)
    number = await alice.file_complaint("快递三天了还没派送")
    await resolved(alice, service, store, number)
    await alice.verify(f"""
        > 谢谢,另外想问一下运费
        < 这条消息是关于哪一个投诉?标有「已处理」的投诉正等待您确认处理结果。
          [{number} (已处理) → f:{number}]
          [这是新的投诉 → f:new]
        > [{number} (已处理)]
        < 已将您的补充记入投诉 {number},处理人员会看到。
        > [已解决 ✅]
        < 感谢您的确认,投诉 {number} 已结案。如有新的问题,直接发消息给我们即可。
    """)
    assert (await service.history(number))[-2].note == "谢谢,另外想问一下运费"
    second = await alice.file_complaint("快递又延误了,五天还没到")
    case = await service.get(second)
    assert case.repeat_of == (await service.get(number)).id  # 重复投诉, linked
    assert case.severity is Severity.IMPORTANT  # a repeat of a closed case (DOMAIN §5)


async def test_not_solved_with_several_cases_awaiting_asks_which(
    dispatcher: Dispatcher, service: CaseService, store: Store
) -> None:
    alice = Chat(dispatcher, "3007", None, "Alice", show_data=True)
    first = await alice.file_complaint("快递三天了还没派送")
    second = await alice.file_complaint("客服态度恶劣,还挂我电话")
    await resolved(alice, service, store, first)
    await resolved(alice, service, store, second)
    await alice.verify(f"""
        > 问题依旧
        < 这条消息是关于哪一个投诉?标有「已处理」的投诉正等待您确认处理结果。
          [{second} (已处理) → f:{second}]
          [{first} (已处理) → f:{first}]
          [这是新的投诉 → f:new]
    """)
    await alice.send(f"> [{first} (已处理)]")
    assert alice.seen[-1].text.startswith(f"很抱歉问题仍未解决。投诉 {first} 已重新处理")
    assert (await service.get(first)).status is Status.REOPENED
    assert (await service.get(second)).status is Status.RESOLVED
