"""The revisit survey (回访, issue 15 item 1) as transcripts: drawn at closure (A/B and flagged
cases always, C sampled once by a stable draw), sent by the clock's sweep after the policy's
delay in working time, answered question by question with buttons and an optional comment;
"not solved" or a score ≤ 2 reopens the case one level up; ignored, it is reminded once and
expires; a customer the channel no longer lets us write to is recorded unreachable."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from bot.domain.cases import Priority, Status
from bot.domain.sla import Sla
from bot.domain.steps import SURVEY_EXPIRE, SURVEY_REMIND, SURVEY_SEND
from bot.domain.survey import Reach
from bot.services import CaseService, NewComplaint
from bot.services.survey import ANSWERED
from storage.db import Store
from storage.repositories import Tx
from tests.conftest import SHANGHAI, Backend
from tests.dialogue import Chat
from tests.queries import queued

AGENT = "slack:UAGENT001"


async def closed(chat: Chat, service: CaseService, store: Store, words: str) -> str:
    """A B-priority complaint (always revisited) resolved and confirmed by the customer."""
    number = await chat.file_complaint(words)
    await service.correct(number, AGENT, "priority", "B", "影响较大")
    await service.claim(number, AGENT)
    await service.resolve(number, AGENT, "已重新派送")
    chat.seen.append([m for _, r, m in await queued(store) if r == chat.user][-1])
    await chat.send(f"> [data={chat.seen[-1].buttons[0][0].data}]")  # 已解决
    return number


async def blocked(store: Store, customer_id: int, clock: FrozenClock) -> None:
    """The customer blocks the bot (the outbox records Telegram's 403 so)."""

    async def block(tx: Tx) -> None:
        await tx.customers.update(customer_id, clock.now(), blocked_at=clock.now())

    await store.write(block)


async def swept(chat: Chat, service: CaseService, store: Store, clock: FrozenClock) -> list[str]:
    """Run the sweep now; what it did to the survey, and its messages into the chat."""
    acted = [f"{a.step}:{a.outcome}" for a in await service.sweep.once(clock.now())]
    before = len(chat.seen)
    mine = [m for _, r, m in await queued(store) if r == chat.user]
    chat.seen.extend(m for m in mine if m not in chat.seen[:before])
    return acted


async def test_a_survey_sent_an_hour_after_closure_is_answered_and_kept(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    alice = Chat(dispatcher, "4001", None, "Alice")
    number = await closed(alice, service, store, "快递三天了还没派送")  # Tuesday 14:30
    case = await service.get(number)
    assert (case.status, case.survey) == (Status.CLOSED, "due")
    close = (await service.history(number))[-1]
    assert close.changes["survey"] == [None, "due"]  # the draw, on record with the closure
    clock.advance(timedelta(minutes=59))
    assert await swept(alice, service, store, clock) == []
    clock.advance(timedelta(minutes=1))
    assert await swept(alice, service, store, clock) == [f"{SURVEY_SEND}:sent"]
    assert alice.seen[-1].text == (
        f"您好!关于您的投诉 {number},想请您花一分钟做个回访。\n问题是否得到解决?"
    )
    await alice.verify(f"""
        > [是]
        < 您对解决方案是否满意?(1 很不满意 … 5 很满意)
          [1] [2] [3] [4] [5]
        > [4]
        < 整体服务体验如何?(1 很差 … 5 很好)
          [1] [2] [3] [4] [5]
        > [data=v:{number}:0:solution:1]
        < 整体服务体验如何?(1 很差 … 5 很好)
          [1] [2] [3] [4] [5]
        > [5]
        < 还有什么想对我们说的吗?直接回复文字即可,或点「跳过」。
          [跳过]
        > 快递员态度很好
        < 感谢您的回访意见!
        > [5]
        < 投诉 {number} 的回访已经完成,感谢您!
    """)
    case = await service.get(number)
    assert (case.status, case.survey) == (Status.CLOSED, "answered")
    async with store.read() as tx:
        answers = await tx.surveys.of(case.id, 0)
    # The second answer to 方案满意度 (a 1 pressed on the old question) did not replace the 4.
    assert answers == {"solved": "y", "solution": "4", "service": "5", "comment": "快递员态度很好"}
    notes = [(e.action, e.note) for e in await service.history(number)][-3:]
    assert notes[0] == ("survey", "回访已发送 survey sent")
    assert notes[1] == (
        "survey",
        f"{ANSWERED}: 问题是否解决 solved: y; 方案满意度 solution: 4; 服务体验 service: 5",
    )
    assert notes[2] == ("survey", "意见 comment: 快递员态度很好")
    clock.advance(timedelta(days=5))
    assert await swept(alice, service, store, clock) == []  # nothing more is due


async def test_not_solved_reopens_one_level_up_and_a_low_score_too(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    bob = Chat(dispatcher, "4002", "en", "Bob")
    number = await closed(bob, service, store, "My parcel has not been delivered")
    clock.advance(timedelta(hours=1))
    await swept(bob, service, store, clock)
    await bob.send("> [No]")
    case = await service.get(number)
    due = case.resolution_due.astimezone(dispatcher.deps.tz)
    assert (case.status, case.escalation_level, case.reopen_count, case.survey) == (
        Status.REOPENED, 1, 1, "reopened",
    )  # fmt: skip
    assert bob.seen[-1].text == (
        f"We are sorry. Complaint {number} is being handled again by the customer service "
        f"supervisor; we will answer you by {due:%Y-%m-%d %H:%M}."
    )
    last = (await service.history(number))[-1]
    assert (last.action, last.actor) == ("reopen", "customer:telegram:4002")
    assert last.note == (
        "回访:客户不满意,重新处理 survey: the customer is not satisfied, handling restarts: "
        "问题是否解决 solved: n"
    )
    await bob.verify(f"""
        > [Yes]
        < The survey about complaint {number} is complete. Thank you!
    """)

    carol = Chat(dispatcher, "4003", None, "Carol")
    other = await closed(carol, service, store, "快递员把包裹扔在门口")
    clock.advance(timedelta(hours=1))
    assert f"{SURVEY_SEND}:sent" in await swept(carol, service, store, clock)
    await carol.send("> [是]")
    await carol.send("> [2]")
    assert (await service.get(other)).status is Status.REOPENED
    assert carol.seen[-1].text.startswith(
        f"很抱歉没有让您满意。投诉 {other} 已重新处理,由客服主管跟进"
    )


async def test_an_ignored_survey_is_reminded_once_then_expires(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    alice = Chat(dispatcher, "4004", None, "Alice")
    number = await closed(alice, service, store, "快递三天了还没派送")
    clock.advance(timedelta(hours=1))
    assert await swept(alice, service, store, clock) == [f"{SURVEY_SEND}:sent"]
    await alice.send("> [是]")  # one answer, then silence
    clock.advance(timedelta(hours=24))
    assert await swept(alice, service, store, clock) == [f"{SURVEY_REMIND}:reminded"]
    assert alice.seen[-1].text == (
        f"您好!关于投诉 {number} 的回访还没有完成,方便时请点选回答。\n"
        "您对解决方案是否满意?(1 很不满意 … 5 很满意)"
    )  # the question still open, not the first again
    clock.advance(timedelta(hours=48))
    assert await swept(alice, service, store, clock) == [f"{SURVEY_EXPIRE}:expired"]
    assert (await service.get(number)).survey == "expired"
    await alice.verify("""
        > [4]
        < 这次回访已经结束,如有新的问题,直接发消息给我们即可。
    """)


async def test_after_downtime_only_the_expiry_acts_and_nothing_is_sent(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    alice = Chat(dispatcher, "4005", None, "Alice")
    number = await closed(alice, service, store, "快递三天了还没派送")
    seen = len(alice.seen)
    clock.advance(timedelta(days=10))  # kesu was down past the whole survey
    assert await swept(alice, service, store, clock) == [f"{SURVEY_EXPIRE}:expired"]
    assert len(alice.seen) == seen
    assert (await service.get(number)).survey == "expired"


async def test_a_customer_who_blocked_the_bot_is_unreachable_and_not_sent_anything(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    alice = Chat(dispatcher, "4006", None, "Alice")
    number = await closed(alice, service, store, "快递三天了还没派送")
    await blocked(store, (await service.get(number)).customer_id, clock)
    seen = len(alice.seen)
    clock.advance(timedelta(hours=1))
    assert await swept(alice, service, store, clock) == [f"{SURVEY_SEND}:unreachable"]
    assert len(alice.seen) == seen
    assert (await service.get(number)).survey == "unreachable"


async def test_nobody_answers_the_survey_of_someone_elses_case(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    alice = Chat(dispatcher, "4007", None, "Alice")
    number = await closed(alice, service, store, "快递三天了还没派送")
    clock.advance(timedelta(hours=1))
    await swept(alice, service, store, clock)
    mallory = Chat(dispatcher, "4666", None, "Mallory")
    await mallory.verify(f"""
        > [data=v:{number}:0:solved:n]
        < 找不到这个投诉。
        > [data=v:{number}:0:solved]
        < 找不到这个投诉。
    """)
    await alice.verify(f"""
        > [data=v:{number}:0:solved:maybe]
        < 这次回访已经结束,如有新的问题,直接发消息给我们即可。
        > [data=v:{number}:3:solved:y]
        < 这次回访已经结束,如有新的问题,直接发消息给我们即可。
    """)
    assert (await service.get(number)).status is Status.CLOSED


async def test_answered_in_the_middle_of_a_new_complaint_the_complaint_goes_on(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    alice = Chat(dispatcher, "4008", None, "Alice")
    number = await closed(alice, service, store, "快递三天了还没派送")
    clock.advance(timedelta(hours=1))
    await swept(alice, service, store, clock)
    await alice.send("> /new")
    asked = alice.seen[-1].text.split("\n\n")[-1]  # the question, without the greeting
    await alice.send("> [是]")
    await alice.send("> [5]")
    replies = await alice.send("> [5]")
    assert replies is not None
    assert [r.text for r in replies] == ["感谢您的回访意见!", asked]  # no comment awaited
    assert (await service.get(number)).survey == "answered"
    await alice.send("> 加油站多收了二十元")  # the new complaint's words, not a comment
    async with store.read() as tx:
        answers = await tx.surveys.of((await service.get(number)).id, 0)
    assert "comment" not in answers


async def test_skip_ends_the_wait_and_words_long_after_are_not_a_comment(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    alice = Chat(dispatcher, "4009", None, "Alice")
    number = await closed(alice, service, store, "快递三天了还没派送")
    clock.advance(timedelta(hours=1))
    await swept(alice, service, store, clock)
    for label in ("是", "5", "5"):
        await alice.send(f"> [{label}]")
    await alice.verify("""
        > [跳过]
        < 感谢您的回访意见!
    """)
    replies = await alice.send("> 另外我的发票开错了,抬头不对")
    assert replies is not None
    assert "感谢您的回访意见" not in replies[0].text  # a new complaint begins, not a comment

    bob = Chat(dispatcher, "4010", None, "Bob")
    other = await closed(bob, service, store, "快递员把包裹扔在门口")
    clock.advance(timedelta(hours=1))
    await swept(bob, service, store, clock)
    for label in ("是", "4", "4"):
        await bob.send(f"> [{label}]")
    clock.advance(timedelta(minutes=31))  # the comment question long gone by
    replies = await bob.send("> 我还有一个新问题,加油站多收钱")
    assert replies is not None
    assert "感谢您的回访意见" not in replies[0].text
    async with store.read() as tx:
        for n in (number, other):
            answers = await tx.surveys.of((await service.get(n)).id, 0)
            assert "comment" not in answers


async def test_two_instances_sweeping_at_once_send_the_survey_once_and_a_restart_again_nothing(
    backend: Backend, store: Store, sla: Sla, clock: FrozenClock
) -> None:
    """A C case (sampled: rate 1 here) closed; two instances sweep at the same moment, then a
    restarted one: one draw on record, one survey sent, one event."""
    survey = sla.policy.survey.model_copy(update={"sample_rate": 1.0})
    sampled = Sla(sla.policy.model_copy(update={"survey": survey}), sla.calendar)
    one = CaseService(store, sampled, clock, SHANGHAI, prefix="TS")
    complaint = NewComplaint("telegram", "4011", "发票抬头开错了", priority=Priority.C)
    number = (await one.open_case(complaint)).number
    await one.claim(number, AGENT)
    await one.resolve(number, AGENT, "已重开发票")
    await one.closure.confirmed(number, "customer:telegram:4011", 0)
    clock.advance(timedelta(hours=1))
    other_store = backend.connect()
    try:
        other = CaseService(other_store, sampled, clock, SHANGHAI, prefix="TS")
        a, b = await asyncio.gather(one.sweep.once(clock.now()), other.sweep.once(clock.now()))
        assert [(x.step, x.outcome) for x in a + b] == [(SURVEY_SEND, "sent")]
    finally:
        await other_store.close()
    restarted = CaseService(store, sampled, clock, SHANGHAI, prefix="TS")
    assert await restarted.sweep.once(clock.now()) == []
    history = await one.history(number)
    assert [e.changes.get("survey") for e in history if e.action == "close"] == [[None, "due"]]
    assert [e.note for e in history if e.action == "survey"] == ["回访已发送 survey sent"]
    sent = [m for _, r, m in await queued(store) if r == "4011" and "回访" in m.text]
    assert len(sent) == 1


async def test_a_capped_window_channel_counts_what_went_since_the_customer_s_last_words(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    """A channel like WeChat's (48 h, at most 5 messages since the customer last wrote):
    after 已解决 the desk sent one message (the thanks). A cap of 1 leaves no room for the
    survey — unreachable, not sent; a cap of 2 does."""
    for cap, outcome in ((1, "unreachable"), (2, "sent")):
        chat = Chat(dispatcher, f"410{cap}", None, "Alice")
        number = await chat.file_complaint("快递三天了还没派送")
        await service.correct(number, AGENT, "priority", "B", "影响较大")
        await service.claim(number, AGENT)
        await service.resolve(number, AGENT, "已重新派送")
        clock.advance(timedelta(minutes=5))  # the customer answers the resolution later
        resolution = [m for _, r, m in await queued(store) if r == chat.user][-1]
        await chat.send(f"> [data={resolution.buttons[0][0].data}]")  # 已解决
        service.surveys.reach = lambda channel, c=cap: Reach(timedelta(hours=48), cap=c)
        clock.advance(timedelta(hours=1))
        assert await swept(chat, service, store, clock) == [f"{SURVEY_SEND}:{outcome}"]
        assert (await service.get(number)).survey == outcome


async def test_a_survey_already_sent_stays_sent_when_its_reminder_cannot_go(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    """Found by review: the customer has the survey and answered part of it, then blocks
    the bot. The reminder is not sent, but the survey is not 'unreachable' (it was sent):
    their later answers still count, and it expires as any unanswered one."""
    alice = Chat(dispatcher, "4201", None, "Alice")
    number = await closed(alice, service, store, "快递三天了还没派送")
    clock.advance(timedelta(hours=1))
    assert await swept(alice, service, store, clock) == [f"{SURVEY_SEND}:sent"]
    await alice.send("> [是]")
    case = await service.get(number)
    await blocked(store, case.customer_id, clock)
    clock.advance(timedelta(hours=24))
    assert await swept(alice, service, store, clock) == [f"{SURVEY_REMIND}:not reminded"]
    assert (await service.get(number)).survey == "sent"
    await alice.send(f"> [data=v:{number}:0:solution:4]")  # still taken
    async with store.read() as tx:
        assert (await tx.surveys.of(case.id, 0))["solution"] == "4"
    clock.advance(timedelta(hours=48))
    assert await swept(alice, service, store, clock) == [f"{SURVEY_EXPIRE}:expired"]
