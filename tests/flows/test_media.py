"""Press enquiries (媒体问询, issue 15 item 5) against a customer's press threat, as
transcripts: someone presenting as press gets no answer of substance — only that the
responsible department replies within 48 hours — and the enquiry goes to the policy's PR
owner; a customer threatening exposure (我要找记者曝光) goes on with the normal intake and
the media risk flag. Moved time, an injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from bot.clock import FrozenClock
from bot.desk import Desk, Staff
from bot.dispatcher import Dispatcher
from bot.domain.cases import MEDIA, Priority, Risk, Severity
from bot.messages import OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.services import CaseService
from storage.db import Store
from tests.conftest import SHANGHAI
from tests.dialogue import Chat
from tests.queries import pending


@dataclass
class Roles:
    found: dict[str, tuple[str, ...]]

    def people(self, role: str) -> tuple[str, ...]:
        return self.found.get(role, ())


@pytest.fixture
def desk(service: CaseService, classifier: Classifier) -> Desk:
    desk = Desk(service, classifier, channel="slack", staff_channel="CDESK0001")
    service.listeners.append(desk.projection.on_change)
    service.sweep.reminders.append(desk.reminders.remind)
    service.sweep.reports.append(desk.reports.report)
    people = {"supervisor": ("USUPER01",), "pr": ("UPRDESK1",), "agent": ("UAGENT01",)}
    desk.projection.people = lambda role: people.get(role, ())
    desk.reminders.roles = Roles(people)
    return desk


async def staff_lines(store: Store) -> list[OutgoingMessage]:
    async with store.read() as tx:
        rows = await pending(tx, limit=10_000)
    return [
        m for m in (OutgoingMessage.from_payload(r["payload"]) for r in rows) if m.card is not None
    ]


async def test_a_journalist_gets_no_answer_of_substance_and_the_pr_owner_is_pinged(
    dispatcher: Dispatcher, service: CaseService, store: Store, desk: Desk, clock: FrozenClock
) -> None:
    reporter = Chat(dispatcher, "2001", "zh-hans", "记者小王")
    await reporter.verify("""
        > 您好,我是新京报记者,想就贵公司加油站多收费一事采访相关负责人,请问费用是怎么定的?
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          请问您是以媒体身份(如记者、编辑)问询吗?媒体问询由本公司负责部门统一答复;如果您是要投诉,请点「不是,我要投诉」,我们继续为您登记。
          [是,媒体问询]
          [不是,我要投诉]
        > 我想了解收费标准
        < 已记录。
        < 请问您是以媒体身份(如记者、编辑)问询吗?媒体问询由本公司负责部门统一答复;如果您是要投诉,请点「不是,我要投诉」,我们继续为您登记。
          [是,媒体问询]
          [不是,我要投诉]
        > [是,媒体问询]
        < 您好,感谢您的关注。媒体问询由本公司公共关系部统一答复,您的问询已转交,公共关系部将在 48 小时内(11月19日 14:30前)与您联系。问询编号:TS20261117001。
          如需补充采访提纲或联系方式,可直接在此留言。
          (keyboard removed)
    """)
    case = await service.get("TS20261117001")
    assert (case.category, case.subject, case.keywords) == (MEDIA, "媒体问询", ["我是新京报记者"])
    assert case.content.endswith("请问费用是怎么定的?\n我想了解收费标准")  # every word kept
    assert (case.priority, case.severity, case.risk) == (Priority.B, Severity.HOT, Risk.MEDIUM)
    assert case.first_response_due == case.resolution_due == clock.now() + timedelta(hours=48)
    lines = [m for m in await staff_lines(store) if m.card and m.card.get("kind") == "line"]
    [routed] = [m for m in lines if m.card and m.card.get("icon") == "📰"]
    assert routed.card is not None
    assert (routed.card["role"], routed.card["ping"]) == ("pr", ["UPRDESK1"])
    assert routed.text == (
        "📰 TS20261117001 媒体问询,交公共关系部答复,前台不作实质答复 · press enquiry for the "
        "public relations department; the front line answers nothing of substance"
    )

    # The supervisors hear of it at once (热点: may lead to exposure); unclaimed, the
    # reminders go to the PR owner, not to whoever is on duty.
    acted = {a.step: a.outcome for a in await service.sweep.once(clock.now())}
    assert acted == {"report@hot": "reported"}
    clock.advance(timedelta(hours=24))
    acted = {a.step: a.outcome for a in await service.sweep.once(clock.now())}
    assert acted == {"resolution@50": "reminded 1"}  # one time: the reply's
    pings = [m.text for m in await staff_lines(store) if m.text.startswith("⏰ {slack:")]
    assert pings == ["⏰ {slack:UPRDESK1} 解决还剩 1 天 resolution due in 1 d · TS20261117001"]


async def test_a_customer_threatening_the_press_goes_through_the_normal_intake(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    angry = Chat(dispatcher, "2002", "zh-hans", "老李")
    await angry.verify("""
        > 加油站多收了我二十元,再不退钱我就找记者曝光!
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「价格/费用问题」,对吗?
          [是] [否,换一个]
    """)
    number = await angry.file_complaint("信不信我让记者来采访你们")
    assert (await service.get(number)).category != MEDIA
    case = await service.get("TS20261117001")
    assert case.category == "billing"
    assert (case.severity, case.risk) == (Severity.HOT, Risk.MEDIUM)  # the media signal


async def test_press_in_traditional_chinese_and_in_english(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    await Chat(dispatcher, "2003", "zh-hk", "陳記者").verify("""
        > 你好,我是蘋果日報記者,想了解貴公司油價的情況
        < 您好,這裡是客戶投訴服務。請直接描述您遇到的問題,我們會為您登記並儘快處理。
          隱私說明:您提供的信息只用於處理您的投訴,不會透露給無關人員。

          請問您是以媒體身份(如記者、編輯)問詢嗎?媒體問詢由本公司負責部門統一答覆;如果您是要投訴,請點「不是,我要投訴」,我們繼續為您登記。
          [是,媒體問詢]
          [不是,我要投訴]
        > [是,媒體問詢]
        < 您好,感謝您的關注。媒體問詢由本公司公共關係部統一答覆,您的問詢已轉交,公共關係部將在 48 小時內(11月19日 14:30前)與您聯繫。問詢編號:TS20261117001。
          如需補充採訪提綱或聯繫方式,可直接在此留言。
          (keyboard removed)
    """)
    await Chat(dispatcher, "2004", "en", "Jo").verify("""
        > Hi, I'm a reporter with the Daily Star, asking about the fuel price rise.
        < Hello, this is the customer complaints service. Tell us what happened and we will record it and get back to you.
          Privacy: what you tell us is used only to handle your complaint and is not shared with anyone not involved.

          Are you contacting us as press (a journalist or an editor)? Press enquiries are answered by our responsible department; if you have a complaint, tap "No, a complaint" and we will go on recording it.
          [Yes, press enquiry]
          [No, a complaint]
        > [Yes, press enquiry]
        < Hello, and thank you for your interest. Press enquiries are answered by our public relations department; yours has been passed on, and they will contact you within 48 hours (by 19 Nov 14:30). Reference: TS20261117002.
          You may add your questions or contact details here.
          (keyboard removed)
    """)
    assert {(await service.get(n)).category for n in ("TS20261117001", "TS20261117002")} == {MEDIA}


async def test_a_customer_taken_for_press_says_no_and_the_complaint_goes_on(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    """The detector only guesses: a customer who happens to be a journalist, answering 不是,
    goes on with the intake and is not asked again."""
    await Chat(dispatcher, "2008", "zh-hans", "老周").verify("""
        > 我是一名记者,昨天在你们加油站加油被多收了钱
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          请问您是以媒体身份(如记者、编辑)问询吗?媒体问询由本公司负责部门统一答复;如果您是要投诉,请点「不是,我要投诉」,我们继续为您登记。
          [是,媒体问询]
          [不是,我要投诉]
        > [不是,我要投诉]
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > 我们报社的同事也遇到过
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「价格/费用问题」,对吗?
          [是] [否,换一个]
    """)


async def test_press_after_a_greeting_keeps_every_word(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    chat = Chat(dispatcher, "2005", "zh-hans", "某编辑")
    await chat.send("> 你好")
    await chat.send("> 我是财经杂志社的编辑,想了解一下最近的投诉情况")
    await chat.send("> [data=i:press:yes]")
    case = await service.get("TS20261117001")
    assert case.content == "你好\n我是财经杂志社的编辑,想了解一下最近的投诉情况"
    assert case.category == MEDIA


async def test_a_press_enquiry_reclassified_as_a_complaint_takes_its_priority_s_times(
    dispatcher: Dispatcher, service: CaseService, clock: FrozenClock, desk: Desk
) -> None:
    """Staff who find a 'journalist' is a customer after all correct the category: the
    deadlines become the priority's, from the same start; and back again."""
    chat = Chat(dispatcher, "2006", "zh-hans", "小张")
    await chat.send("> 我是一名记者,想采访贵公司加油站收费的事")
    await chat.send("> [data=i:press:yes]")
    number = "TS20261117001"
    corrected = await service.correct(number, "slack:UAGENT01", "category", "billing", "是顾客")
    # B: 4 working hours from 14:30 on a Tuesday, the day ending at 18:00
    assert corrected.first_response_due == datetime(2026, 11, 18, 9, 30, tzinfo=SHANGHAI)
    agent = Staff("slack", "UAGENT01", is_staff=True)
    assert MEDIA in desk.queries.categories()  # the card's 改类别 form offers it
    back = await desk.actions.correct(number, agent, "category", MEDIA, "确是记者")
    assert back.ok, back.message
    case = await service.get(number)
    assert case.resolution_due == clock.now() + timedelta(hours=48)


async def test_the_press_hears_the_answer_as_an_enquiry_s_and_is_never_surveyed(
    dispatcher: Dispatcher, service: CaseService, store: Store, clock: FrozenClock
) -> None:
    """The department's answer reaches the journalist as 问询, without 已解决 / 未解决; the
    window closes the record with a word; no revisit survey follows."""
    chat = Chat(dispatcher, "2007", "zh-hans", "记者")
    await chat.send("> 我是电视台的记者,想采访一下")
    await chat.send("> [data=i:press:yes]")
    number = "TS20261117001"
    await service.claim(number, "slack:UPRDESK1")
    await service.resolve(number, "slack:UPRDESK1", "已电话答复记者,书面回复见附件")
    # Words after the answer are added to the enquiry: nothing to confirm, no 未解决.
    await chat.verify("""
        > 答复没解决我的疑问,还想了解赔偿标准
        < 已将您的补充记入问询 TS20261117001,负责部门会看到。
        > /status
        < 您的投诉:
          TS20261117001 · 已答复 · 媒体问询 · 2026-11-17 受理
    """)
    assert (await service.get(number)).status.value == "resolved"
    clock.advance(timedelta(days=5))
    await service.sweep.once(clock.now())
    case = await service.get(number)
    assert case.status.value == "closed"
    assert case.survey is None
    async with store.read() as tx:
        rows = await pending(tx, limit=10_000)
    told = [OutgoingMessage.from_payload(r["payload"]) for r in rows if r["channel"] == "telegram"]
    desk_words = [m for m in told if m.text.startswith(("关于您的问询", "您的问询"))]
    assert [(m.text, m.buttons) for m in desk_words] == [
        ("关于您的问询 TS20261117001,答复如下:\n已电话答复记者,书面回复见附件\n"
         "如有进一步问题,可直接在此留言。", ()),
        ("您的问询 TS20261117001 已办结。如有新的问题,可直接在此留言。", ()),
    ]  # fmt: skip


async def test_with_nobody_in_the_pr_role_the_reminders_go_to_whoever_is_on_duty(
    dispatcher: Dispatcher, service: CaseService, store: Store, desk: Desk, clock: FrozenClock
) -> None:
    desk.reminders.roles = Roles({"agent": ("UAGENT01",)})
    chat = Chat(dispatcher, "2009", "zh-hans", "记者")
    await chat.send("> 我是电视台的记者,想采访一下")
    await chat.send("> [data=i:press:yes]")
    clock.advance(timedelta(hours=24))
    await service.sweep.once(clock.now())
    pings = [m.text for m in await staff_lines(store) if m.text.startswith("⏰ {slack:")]
    assert pings == ["⏰ {slack:UAGENT01} 解决还剩 1 天 resolution due in 1 d · TS20261117001"]


async def test_the_press_question_takes_a_typed_answer_and_is_not_asked_when_editing(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    """Found by review: a typed 不是 is an answer, not more words of the complaint; a
    complainant correcting the description after the restatement is not asked again (and
    so cannot lose the answers given); after photos and 说完了, 不是 goes on to the category."""
    chat = Chat(dispatcher, "2010", "zh-hans", "老王")
    await chat.send("> 我是报社的,你们加油站多收钱")
    replies = await chat.send("> 不是。")
    assert replies is not None
    assert replies[-1].text.startswith("已记录。还有要补充的吗?")
    number = await chat.file_complaint("加油站多收我钱")  # /new, the usual answers
    assert (await service.get(number)).category != MEDIA
    await chat.send("> /new")
    await chat.send("> [data=i:restart:yes]")
    await chat.send("> 油价标错了")
    await chat.send("> [data=i:done]")
    for data in ("i:cat:yes", "i:skip", "i:skip", "i:chat", "i:out:refund", "i:edit",
                 "i:edit:content"):  # fmt: skip
        await chat.send(f"> [data={data}]")
    replies = await chat.send("> 我是记者,油价标错了")
    assert replies is not None
    assert "媒体身份" not in replies[-1].text  # edited words go on as the complaint's


async def test_after_photos_and_done_a_no_goes_on_to_the_category(
    dispatcher: Dispatcher,
) -> None:
    chat = Chat(dispatcher, "2011", "zh-hans", "小李")
    await chat.verify("""
        > (photo)
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 请再用一句话说明照片或文件反映的问题,这句话会作为您的问题描述。
        > 我是报社的,这是加油站多收费的小票
        < 请问您是以媒体身份(如记者、编辑)问询吗?媒体问询由本公司负责部门统一答复;如果您是要投诉,请点「不是,我要投诉」,我们继续为您登记。
          [是,媒体问询]
          [不是,我要投诉]
        > [不是,我要投诉]
        < 您反映的问题属于「价格/费用问题」,对吗?
          [是] [否,换一个]
    """)
