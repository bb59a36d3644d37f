"""The intake dialogue as transcripts: every reply exactly, in 简体, 繁體 and English."""

from __future__ import annotations

from bot.dispatcher import Dispatcher
from bot.services import CaseService
from storage.db import Store
from tests.dialogue import Chat
from tests.queries import case_count


async def test_a_whole_intake_in_simplified_chinese(
    dispatcher: Dispatcher, service: CaseService, store: Store
) -> None:
    alice = Chat(dispatcher, "1001", "zh-hans", "Alice")
    await alice.verify("""
        > /start
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          请用文字描述您遇到的问题(可以分几条发送,也可以发送照片或文件)。
        > 昨天在你们加油站加油,员工态度恶劣,还骂人
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > (photo) 这是当时的小票
        ~ 10 seconds later
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「人员态度问题」,对吗?
          [是] [否,换一个]
        > [是]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > 第三加油站
        < 有订单号、运单号或单据号吗?(没有可跳过)
          [跳过]
        > [跳过]
        < 请留下联系电话,方便我们与您联系:可以点下方按钮分享手机号,也可以直接输入。
          [通过本对话联系我]
          (keyboard: 📱 分享我的手机号)
        > 12345
        < 这个号码好像不对。请输入手机号(如 13800138000)或带国家/地区区号的号码(如 +852 9123 4567)。
        < 请留下联系电话,方便我们与您联系:可以点下方按钮分享手机号,也可以直接输入。
          [通过本对话联系我]
          (keyboard: 📱 分享我的手机号)
        > (contact +86 138 0013 8000)
        < 好的,联系方式已记录。
          (keyboard removed)
        < 您希望得到怎样的处理?
          [退款]
          [维修/更换]
          [道歉]
          [给个说法/解释]
          [其他]
          (keyboard removed)
        > [道歉]
        < 请核对您的投诉:

          问题描述:昨天在你们加油站加油,员工态度恶劣,还骂人
          这是当时的小票
          附件:1 个
          问题类型:人员态度问题
          被投诉对象:第三加油站
          单号:未提供
          联系方式:+8613800138000
          期望处理:道歉

          确认无误请点「确认提交」,需要更改请点「修改」。
          [确认提交] [修改]
        > [确认提交]
        < 已受理。您的投诉编号是 TS20261117001。
          我们将在 1 个工作日内(明天 14:30前)联系您。
          可随时发送 /status 查询进度;有新的情况也可以直接发消息补充。
          (keyboard removed)
    """)
    case = await service.get("TS20261117001")
    assert case.category == "staff"
    assert case.party == "第三加油站"
    assert case.contact == "+8613800138000"
    assert case.desired_outcome == "apology"
    assert case.content == "昨天在你们加油站加油,员工态度恶劣,还骂人\n这是当时的小票"
    async with store.read() as tx:
        assert len(await tx.attachments.for_case(case.id)) == 1
        assert await tx.conversations.get("telegram", "1001") is None


async def test_traditional_chinese_customer(dispatcher: Dispatcher) -> None:
    # moved from tests/channels/test_telegram_intake.py::test_traditional_chinese_customer
    bob = Chat(dispatcher, "1002", "zh-hk", "陳大文")  # 繁體 from the first word
    await bob.verify("""
        > 物業費亂收費,每個月都多收我們二十元
        < 您好,這裡是客戶投訴服務。請直接描述您遇到的問題,我們會為您登記並儘快處理。
          隱私說明:您提供的信息只用於處理您的投訴,不會透露給無關人員。

          已記錄。還有要補充的嗎?可以繼續發送文字或照片;說完了請點「說完了」。
          [說完了 ✅]
        > [說完了 ✅]
        < 您反映的問題屬於「價格/費用問題」,對嗎?
          [是] [否,換一個]
        > [是]
        < 被投訴的網點、門店或人員是?(沒有可跳過)
          [跳過]
        > [跳過]
        < 有訂單號、運單號或單據號嗎?(沒有可跳過)
          [跳過]
        > [跳過]
        < 請留下聯繫電話,方便我們與您聯繫:可以點下方按鈕分享手機號,也可以直接輸入。
          [通過本對話聯繫我]
          (keyboard: 📱 分享我的手機號)
        > +852 9123 4567
        < 好的,聯繫方式已記錄。
          (keyboard removed)
        < 您希望得到怎樣的處理?
          [退款]
          [維修/更換]
          [道歉]
          [給個說法/解釋]
          [其他]
          (keyboard removed)
        > [退款]
        < 請核對您的投訴:

          問題描述:物業費亂收費,每個月都多收我們二十元
          附件:未提供
          問題類型:價格/費用問題
          被投訴對象:未提供
          單號:未提供
          聯繫方式:+85291234567
          期望處理:退款

          確認無誤請點「確認提交」,需要更改請點「修改」。
          [確認提交] [修改]
        > [確認提交]
        < 已受理。您的投訴編號是 TS20261117001。
          我們將在 1 個工作日內(明天 14:30前)聯繫您。
          可隨時發送 /status 查詢進度;有新的情況也可以直接發消息補充。
          (keyboard removed)
    """)


async def test_english_customer_and_contact_by_chat(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    carol = Chat(dispatcher, "1003", "en-US", "Carol")
    # "Contact me in this chat" is typed: on Telegram it is a key of the reply keyboard.
    await carol.verify("""
        > /new
        < Hello, this is the customer complaints service. Tell us what happened and we will record it and get back to you.
          Privacy: what you tell us is used only to handle your complaint and is not shared with anyone not involved.

          Please describe the problem in your own words (several messages are fine; photos and files too).
        > The courier was rude and threw my parcel
        < Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
        > [Done ✅]
        < Is this about “Staff attitude”?
          [Yes] [No, another]
        > [Yes]
        < Which branch, store or person is the complaint about? (you can skip)
          [Skip]
        > Station 5
        < Do you have an order, waybill or receipt number? (you can skip)
          [Skip]
        > SF1234567890
        < Please leave a phone number so we can reach you: tap the button below to share yours, or type it.
          [Contact me in this chat]
          (keyboard: 📱 Share my phone number)
        > Contact me in this chat
        < Thank you, noted.
          (keyboard removed)
        < What would you like us to do?
          [Refund]
          [Repair / replace]
          [An apology]
          [An explanation]
          [Something else]
          (keyboard removed)
        > [An explanation]
        < Please check your complaint:

          Problem: The courier was rude and threw my parcel
          Attachments: not given
          Type: Staff attitude
          About: Station 5
          Reference: SF1234567890
          Contact: this chat
          You would like: An explanation

          Tap “Submit” if this is right, or “Change” to correct it.
          [Submit] [Change]
        > [Submit]
        < Received. Your case number is TS20261117001.
          We will contact you within 1 working day (by tomorrow 14:30).
          Send /status any time to see progress; you can also just write to add information.
          (keyboard removed)
    """)
    case = await service.get("TS20261117001")
    assert (case.reference, case.contact, case.language) == ("SF1234567890", None, "en")


async def test_the_buttons_carry_the_data_the_steps_expect(dispatcher: Dispatcher) -> None:
    """Button data is what a stored conversation and an old message's buttons answer with:
    it must not change between versions."""
    ann = Chat(dispatcher, "1007", None, "Ann", show_data=True)
    await ann.verify("""
        > 加油站员工态度恶劣
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅ → i:done]
        > [说完了 ✅]
        < 您反映的问题属于「人员态度问题」,对吗?
          [是 → i:cat:yes] [否,换一个 → i:cat:no]
        > [否,换一个]
        < 请选择最接近的问题类型:
          [产品/服务问题 → i:cat:product]
          [流程/效率问题 → i:cat:process]
          [价格/费用问题 → i:cat:billing]
          [人员态度问题 → i:cat:staff]
          [建议与反馈 → i:cat:suggestion]
          [其他 → i:cat:other]
        > [人员态度问题]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过 → i:skip]
        > [跳过]
        < 有订单号、运单号或单据号吗?(没有可跳过)
          [跳过 → i:skip]
        > [跳过]
        < 请留下联系电话,方便我们与您联系:可以点下方按钮分享手机号,也可以直接输入。
          [通过本对话联系我 → i:chat]
          (keyboard: 📱 分享我的手机号)
        > [通过本对话联系我]
        < 好的,联系方式已记录。
          (keyboard removed)
        < 您希望得到怎样的处理?
          [退款 → i:out:refund]
          [维修/更换 → i:out:repair]
          [道歉 → i:out:apology]
          [给个说法/解释 → i:out:explanation]
          [其他 → i:out:other]
          (keyboard removed)
        > [其他]
        < 请核对您的投诉:

          问题描述:加油站员工态度恶劣
          附件:未提供
          问题类型:人员态度问题
          被投诉对象:未提供
          单号:未提供
          联系方式:通过本对话
          期望处理:其他

          确认无误请点「确认提交」,需要更改请点「修改」。
          [确认提交 → i:submit] [修改 → i:edit]
        > [修改]
        < 要修改哪一项?
          [问题描述 → i:edit:content]
          [问题类型 → i:edit:category]
          [被投诉对象 → i:edit:party]
          [单号 → i:edit:reference]
          [联系方式 → i:edit:contact]
          [期望处理 → i:edit:outcome]
    """)


async def test_no_suggestion_means_a_list_to_pick_from(dispatcher: Dispatcher) -> None:
    # moved from tests/channels/test_telegram_intake.py::test_no_suggestion_means_a_list_to_pick_from
    dan = Chat(dispatcher, "1004", None, "Dan")
    await dan.verify("""
        > 你好,我有个问题想反映一下
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 请选择最接近的问题类型:
          [产品/服务问题]
          [流程/效率问题]
          [价格/费用问题]
          [人员态度问题]
          [建议与反馈]
          [其他]
        > 随便打的字
        < 请点击下面的按钮选择问题类型。
        < 请选择最接近的问题类型:
          [产品/服务问题]
          [流程/效率问题]
          [价格/费用问题]
          [人员态度问题]
          [建议与反馈]
          [其他]
        > [流程/效率问题]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
    """)


async def test_correcting_one_field_returns_to_the_restatement(dispatcher: Dispatcher) -> None:
    # moved from tests/channels/test_telegram_intake.py::test_correcting_one_field_returns_to_the_restatement
    # (and extended: the description and the category corrected too)
    eve = Chat(dispatcher, "1005", None, "Eve")
    await eve.verify("""
        > 快递三天了还没派送
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
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
        > [跳过]
        < 请留下联系电话,方便我们与您联系:可以点下方按钮分享手机号,也可以直接输入。
          [通过本对话联系我]
          (keyboard: 📱 分享我的手机号)
        > (contact 13800138000)
        < 好的,联系方式已记录。
          (keyboard removed)
        < 您希望得到怎样的处理?
          [退款]
          [维修/更换]
          [道歉]
          [给个说法/解释]
          [其他]
          (keyboard removed)
        > [退款]
        < 请核对您的投诉:

          问题描述:快递三天了还没派送
          附件:未提供
          问题类型:流程/效率问题
          被投诉对象:未提供
          单号:未提供
          联系方式:+8613800138000
          期望处理:退款

          确认无误请点「确认提交」,需要更改请点「修改」。
          [确认提交] [修改]
        > [修改]
        < 要修改哪一项?
          [问题描述]
          [问题类型]
          [被投诉对象]
          [单号]
          [联系方式]
          [期望处理]
        > [被投诉对象]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > 朝阳区驿站
        < 请核对您的投诉:

          问题描述:快递三天了还没派送
          附件:未提供
          问题类型:流程/效率问题
          被投诉对象:朝阳区驿站
          单号:未提供
          联系方式:+8613800138000
          期望处理:退款

          确认无误请点「确认提交」,需要更改请点「修改」。
          [确认提交] [修改]
        > [修改]
        < 要修改哪一项?
          [问题描述]
          [问题类型]
          [被投诉对象]
          [单号]
          [联系方式]
          [期望处理]
        > [问题描述]
        < 请重新描述您的问题(之前的描述和附件将被替换)。
        > 快递五天了还没派送
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > (photo)
        > [说完了 ✅]
        < 请核对您的投诉:

          问题描述:快递五天了还没派送
          附件:1 个
          问题类型:流程/效率问题
          被投诉对象:朝阳区驿站
          单号:未提供
          联系方式:+8613800138000
          期望处理:退款

          确认无误请点「确认提交」,需要更改请点「修改」。
          [确认提交] [修改]
        > [修改]
        < 要修改哪一项?
          [问题描述]
          [问题类型]
          [被投诉对象]
          [单号]
          [联系方式]
          [期望处理]
        > [问题类型]
        < 请选择最接近的问题类型:
          [产品/服务问题]
          [流程/效率问题]
          [价格/费用问题]
          [人员态度问题]
          [建议与反馈]
          [其他]
        > [价格/费用问题]
        < 请核对您的投诉:

          问题描述:快递五天了还没派送
          附件:1 个
          问题类型:价格/费用问题
          被投诉对象:朝阳区驿站
          单号:未提供
          联系方式:+8613800138000
          期望处理:退款

          确认无误请点「确认提交」,需要更改请点「修改」。
          [确认提交] [修改]
        > [确认提交]
        < 已受理。您的投诉编号是 TS20261117001。
          我们将在 1 个工作日内(明天 14:30前)联系您。
          可随时发送 /status 查询进度;有新的情况也可以直接发消息补充。
          (keyboard removed)
    """)


async def test_input_a_step_cannot_use_gets_a_hint_and_the_question_again(
    dispatcher: Dispatcher,
) -> None:
    ann = Chat(dispatcher, "1008", None, "Ann")
    await ann.verify("""
        > /new
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          请用文字描述您遇到的问题(可以分几条发送,也可以发送照片或文件)。
        > [data=i:done]
        < 请用文字描述您的问题,也可以发送照片或文件。
        > (sticker)
        < 请用文字描述您的问题,也可以发送照片或文件。
        > 太贵了
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [data=i:cat:yes]
        < 这个按钮已经失效了。
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「价格/费用问题」,对吗?
          [是] [否,换一个]
        > [data=i:out:refund]
        < 请点击下面的按钮选择问题类型。
        < 您反映的问题属于「价格/费用问题」,对吗?
          [是] [否,换一个]
        > [是]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > 第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站第三加油站
        < 内容太长了,请精简到 200 字以内。
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > (sticker)
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > [data=i:nonsense]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > 第三加油站
        < 有订单号、运单号或单据号吗?(没有可跳过)
          [跳过]
    """)


async def test_evidence_sent_while_answering_another_question_is_kept(
    dispatcher: Dispatcher, store: Store
) -> None:
    # the dialogue of tests/channels/test_telegram_after_intake.py::test_evidence_sent_while_answering_another_question_is_kept,
    # which stays for the document as Telegram sends it
    alice = Chat(dispatcher, "2010", None, "Alice")
    await alice.verify("""
        > 加油站员工态度恶劣
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「人员态度问题」,对吗?
          [是] [否,换一个]
        > [是]
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
        > (document receipt.pdf)
        < 附件已收到,会附在您的投诉里。
        < 被投诉的网点、门店或人员是?(没有可跳过)
          [跳过]
    """)
    async with store.read() as tx:
        conversation = await tx.conversations.get("telegram", "2010")
    assert conversation is not None
    assert conversation["data"]["attachments"][0]["name"] == "receipt.pdf"


async def test_a_conversation_stored_by_an_earlier_version_resumes(
    dispatcher: Dispatcher, store: Store
) -> None:
    """Flow and state names are stored: the strings of earlier versions must still resume."""
    data = {
        "started_at": "2026-11-17T06:00:00+00:00",
        "parts": ["加油站员工态度恶劣"],
        "attachments": [],
        "suggested": "staff",
        "alternatives": [],
        "category": "staff",
        "party": None,
    }
    await store.write(
        lambda tx: tx.conversations.put(
            "telegram", "1009", flow="intake", state="reference", data=data,
            now=dispatcher.clock.now(),
        )
    )  # fmt: skip
    ann = Chat(dispatcher, "1009", None, "Ann")
    await ann.verify("""
        > /start
        < 我们继续刚才的登记:
        < 有订单号、运单号或单据号吗?(没有可跳过)
          [跳过]
        > A-1
        < 请留下联系电话,方便我们与您联系:可以点下方按钮分享手机号,也可以直接输入。
          [通过本对话联系我]
          (keyboard: 📱 分享我的手机号)
        > [通过本对话联系我]
        < 好的,联系方式已记录。
          (keyboard removed)
        < 您希望得到怎样的处理?
          [退款]
          [维修/更换]
          [道歉]
          [给个说法/解释]
          [其他]
          (keyboard removed)
        > [道歉]
        < 请核对您的投诉:

          问题描述:加油站员工态度恶劣
          附件:未提供
          问题类型:人员态度问题
          被投诉对象:未提供
          单号:A-1
          联系方式:通过本对话
          期望处理:道歉

          确认无误请点「确认提交」,需要更改请点「修改」。
          [确认提交] [修改]
    """)
    async with store.read() as tx:
        conversation = await tx.conversations.get("telegram", "1009")
    assert conversation is not None
    assert (conversation["flow"], conversation["state"]) == ("intake", "confirm")


async def test_a_restatement_stored_by_an_earlier_version_submits(
    dispatcher: Dispatcher, store: Store
) -> None:
    data = {
        "started_at": "2026-11-17T06:00:00+00:00",
        "parts": ["快递三天了还没派送"],
        "attachments": [],
        "category": "process",
        "party": None,
        "reference": None,
        "contact": None,
        "outcome": "refund",
    }
    await store.write(
        lambda tx: tx.conversations.put(
            "telegram", "1010", flow="intake", state="confirm", data=data,
            now=dispatcher.clock.now(),
        )
    )  # fmt: skip
    ann = Chat(dispatcher, "1010", None, "Ann")
    # The promise runs from the submission (14:30: the SLA clock's start); the receipt time
    # of a row stored before first_at was kept is when its dialogue began (14:00).
    await ann.verify("""
        > [data=i:submit]
        < 已受理。您的投诉编号是 TS20261117001。
          我们将在 1 个工作日内(明天 14:30前)联系您。
          可随时发送 /status 查询进度;有新的情况也可以直接发消息补充。
          (keyboard removed)
    """)
    async with store.read() as tx:
        assert await case_count(tx) == 1
        assert await tx.conversations.get("telegram", "1010") is None
        case = await tx.cases.by_number("TS20261117001")
    assert case is not None
    assert case["received_at"].isoformat() == "2026-11-17T06:00:00+00:00"
