"""The customer's words are never dropped (issue 13): a caption, a short first message, a
complaint of photos only, and whose phone number a shared contact card carries."""

from __future__ import annotations

from bot.dispatcher import Dispatcher
from bot.services import CaseService
from storage.db import Store
from tests.dialogue import Chat


async def test_a_caption_answers_a_text_question_and_its_photo_is_kept(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    ann = Chat(dispatcher, "4001", None, "Ann")
    await ann.verify("""
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
        > (photo) 第三加油站
        < 附件已收到,会附在您的投诉里。
        < 有订单号、运单号或单据号吗?(没有可跳过)
          [跳过]
        > (photo) A-1
        < 附件已收到,会附在您的投诉里。
        < 请留下联系电话,方便我们与您联系:可以点下方按钮分享手机号,也可以直接输入。
          [通过本对话联系我]
          (keyboard: 📱 分享我的手机号)
        > (photo) 13800138000
        < 附件已收到,会附在您的投诉里。
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
          附件:3 个
          问题类型:人员态度问题
          被投诉对象:第三加油站
          单号:A-1
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
    assert (case.party, case.reference, case.contact) == ("第三加油站", "A-1", "+8613800138000")


async def test_a_caption_at_a_button_question_joins_the_description(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    """A button question takes no words, so the caption goes into the description the
    restatement shows, and the photo with the complaint."""
    bob = Chat(dispatcher, "4002", None, "Bob")
    await bob.verify("""
        > 加油站员工态度恶劣
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「人员态度问题」,对吗?
          [是] [否,换一个]
        > (photo) 就是照片里这个人
        < 附件和文字已收到,都会附在您的投诉里。
        < 您反映的问题属于「人员态度问题」,对吗?
          [是] [否,换一个]
    """)
    await bob.send("> [data=i:cat:yes]")
    await bob.send("> [data=i:skip]")
    await bob.send("> [data=i:skip]")
    await bob.send("> [data=i:chat]")
    await bob.verify("""
        > [道歉]
        < 请核对您的投诉:

          问题描述:加油站员工态度恶劣
          就是照片里这个人
          附件:1 个
          问题类型:人员态度问题
          被投诉对象:未提供
          单号:未提供
          联系方式:通过本对话
          期望处理:道歉

          确认无误请点「确认提交」,需要更改请点「修改」。
          [确认提交] [修改]
        > (photo) 还有这张
        < 附件和文字已收到,都会附在您的投诉里。
        < 请核对您的投诉:

          问题描述:加油站员工态度恶劣
          就是照片里这个人
          还有这张
          附件:2 个
          问题类型:人员态度问题
          被投诉对象:未提供
          单号:未提供
          联系方式:通过本对话
          期望处理:道歉

          确认无误请点「确认提交」,需要更改请点「修改」。
          [确认提交] [修改]
    """)
    await bob.send("> [data=i:submit]")
    case = await service.get("TS20261117001")
    assert case.content == "加油站员工态度恶劣\n就是照片里这个人\n还有这张"


async def test_a_short_first_message_is_the_start_of_the_complaint(
    dispatcher: Dispatcher, store: Store
) -> None:
    cat = Chat(dispatcher, "4003", None, "Cat")
    await cat.verify("""
        > 乱收费
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 您反映的问题属于「价格/费用问题」,对吗?
          [是] [否,换一个]
    """)
    async with store.read() as tx:
        conversation = await tx.conversations.get("telegram", "4003")
    assert conversation is not None
    assert conversation["data"]["parts"] == ["乱收费"]


async def test_a_greeting_alone_is_kept_too_and_shown_before_anything_is_filed(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    """你好 is kept like any words: dropping greetings would need a list of them, and drop
    whatever words it missed; the restatement shows the customer what will be filed."""
    dan = Chat(dispatcher, "4004", "en-US", "Dan")
    await dan.verify("""
        > hi
        < Hello, this is the customer complaints service. Tell us what happened and we will record it and get back to you.
          Privacy: what you tell us is used only to handle your complaint and is not shared with anyone not involved.

          Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
        ~ 1 minute later
        > The parcel never came
        < Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
    """)
    await dan.send("> [data=i:done]")
    await dan.send("> [data=i:cat:process]")
    await dan.send("> [data=i:skip]")
    await dan.send("> [data=i:skip]")
    await dan.send("> [data=i:chat]")
    summary = await dan.send("> [data=i:out:refund]")
    assert summary is not None
    assert "Problem: hi\nThe parcel never came\n" in summary[-1].text
    await dan.send("> [data=i:submit]")
    assert (await service.get("TS20261117001")).content == "hi\nThe parcel never came"


async def test_a_complaint_of_photos_only_asks_for_one_sentence_about_them(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    eve = Chat(dispatcher, "4005", None, "Eve")
    await eve.verify("""
        > (photo)
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        ~ 1 minute later
        > (document receipt.pdf)
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        > [说完了 ✅]
        < 请再用一句话说明照片或文件反映的问题,这句话会作为您的问题描述。
        > [说完了 ✅]
        < 请再用一句话说明照片或文件反映的问题,这句话会作为您的问题描述。
        > (sticker)
        < 请再用一句话说明照片或文件反映的问题,这句话会作为您的问题描述。
        > /help
        < 直接发消息描述问题即可投诉。
          /new 新的投诉
          /status 查询进度
          /cancel 取消当前登记
          /language 切换语言
          /help 帮助
        < 请再用一句话说明照片或文件反映的问题,这句话会作为您的问题描述。
        > (photo)
        < 附件已收到,会附在您的投诉里。
        < 请再用一句话说明照片或文件反映的问题,这句话会作为您的问题描述。
        > 照片里的员工态度恶劣
        < 您反映的问题属于「人员态度问题」,对吗?
          [是] [否,换一个]
    """)
    await eve.send("> [data=i:cat:yes]")
    await eve.send("> [data=i:skip]")
    await eve.send("> [data=i:skip]")
    await eve.send("> [data=i:chat]")
    summary = await eve.send("> [data=i:out:repair]")
    assert summary is not None
    assert "问题描述:照片里的员工态度恶劣\n附件:3 个\n" in summary[-1].text
    await eve.send("> [data=i:submit]")
    case = await service.get("TS20261117001")
    assert case.content == "照片里的员工态度恶劣"


async def test_a_caption_is_the_sentence_about_the_photos(dispatcher: Dispatcher) -> None:
    fay = Chat(dispatcher, "4006", "en", "Fay")
    await fay.verify("""
        > (photo)
        < Hello, this is the customer complaints service. Tell us what happened and we will record it and get back to you.
          Privacy: what you tell us is used only to handle your complaint and is not shared with anyone not involved.

          Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
        > [Done ✅]
        < Please add one sentence saying what problem the photos or files show; it becomes the description of your complaint.
        > (photo) The courier was rude and threw my parcel
        < Is this about “Staff attitude”?
          [Yes] [No, another]
    """)


async def test_only_the_customers_own_contact_card_is_their_number(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    """A card of another Telegram user, or a phone-book entry that is no Telegram user,
    is someone else's; the number can still be typed if that is what the customer wants."""
    gus = Chat(dispatcher, "4007", None, "Gus")
    await gus.send("> 加油站员工态度恶劣")
    await gus.send("> [data=i:done]")
    await gus.send("> [data=i:cat:yes]")
    await gus.send("> [data=i:skip]")
    await gus.send("> [data=i:skip]")
    await gus.verify("""
        > (contact 13900139000 of 777)
        < 这是别人的名片,不是您本人的号码。要留这个号码请直接输入;要分享您自己的手机号请点下方按钮。
        < 请留下联系电话,方便我们与您联系:可以点下方按钮分享手机号,也可以直接输入。
          [通过本对话联系我]
          (keyboard: 📱 分享我的手机号)
        > (contact 13700137000 of nobody)
        < 这是别人的名片,不是您本人的号码。要留这个号码请直接输入;要分享您自己的手机号请点下方按钮。
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
    """)
    await gus.send("> [data=i:out:apology]")
    await gus.send("> [data=i:submit]")
    assert (await service.get("TS20261117001")).contact == "+8613800138000"


async def test_someone_elses_card_is_refused_in_english_and_traditional_chinese(
    dispatcher: Dispatcher,
) -> None:
    for chat, language, refusal in (
        ("4008", "en", "That contact card is someone else's, not your own number. To leave "
         "that number, type it; to share your own, tap the button below."),
        ("4009", "zh-hk", "這是別人的名片,不是您本人的號碼。要留這個號碼請直接輸入;要分享您"
         "自己的手機號請點下方按鈕。"),
    ):  # fmt: skip
        customer = Chat(dispatcher, chat, language, "Hal")
        for line in ("> 员工态度恶劣", "> [data=i:done]", "> [data=i:cat:yes]"):
            await customer.send(line)
        await customer.send("> [data=i:skip]")
        await customer.send("> [data=i:skip]")
        replies = await customer.send("> (contact 13900139000 of 777)")
        assert replies is not None
        assert replies[0].text == refusal
        assert replies[1].request_contact is not None  # the question again, with its key


async def test_a_caption_that_reads_like_a_command_is_words(
    dispatcher: Dispatcher, store: Store
) -> None:
    """取消 under a photo of a cancelled order is part of the complaint, not /cancel."""
    cai = Chat(dispatcher, "4031", None, "Cai")
    await cai.verify("""
        > 订单被商家无故取消了
        < 您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。
          隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。

          已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
        ~ 1 minute later
        > (photo) 取消
        < 已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。
          [说完了 ✅]
    """)
    async with store.read() as tx:
        row = await tx.conversations.get("telegram", "4031")
    assert row is not None
    assert row["data"]["parts"] == ["订单被商家无故取消了", "取消"]
    assert len(row["data"]["attachments"]) == 1
