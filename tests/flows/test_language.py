"""A dialogue keeps its language (issue 13): the app's language code picks it when the
dialogue begins; an update without one, or with another, changes nothing until the dialogue
ends; the customer's own choice (/language) wins at any time."""

from __future__ import annotations

from bot.dispatcher import Dispatcher
from storage.db import Store
from storage.repositories import Tx
from tests.dialogue import Chat
from tests.queries import queued


async def test_an_update_without_a_language_code_keeps_the_dialogues(
    dispatcher: Dispatcher,
) -> None:
    """Telegram's language_code is optional: an update without it switched a 繁體 customer to
    简体 in the middle of a dialogue."""
    may = Chat(dispatcher, "3001", "zh-hk", "May")
    await may.verify("""
        > 快递三天了还没派送
        < 您好,這裡是客戶投訴服務。請直接描述您遇到的問題,我們會為您登記並儘快處理。
          隱私說明:您提供的信息只用於處理您的投訴,不會透露給無關人員。

          已記錄。還有要補充的嗎?可以繼續發送文字或照片;說完了請點「說完了」。
          [說完了 ✅]
    """)
    may.language = None
    await may.verify("""
        > [說完了 ✅]
        < 您反映的問題屬於「流程/效率問題」,對嗎?
          [是] [否,換一個]
        > /help
        < 直接發消息描述問題即可投訴。
          /new 新的投訴
          /status 查詢進度
          /cancel 取消當前登記
          /language 切換語言
          /help 幫助
        < 您反映的問題屬於「流程/效率問題」,對嗎?
          [是] [否,換一個]
        > [是]
        < 被投訴的網點、門店或人員是?(沒有可跳過)
          [跳過]
    """)


async def test_another_language_code_waits_for_the_dialogue_to_end(
    dispatcher: Dispatcher, store: Store
) -> None:
    may = Chat(dispatcher, "3002", "zh-hk", "May")
    await may.verify("""
        > 快递三天了还没派送
        < 您好,這裡是客戶投訴服務。請直接描述您遇到的問題,我們會為您登記並儘快處理。
          隱私說明:您提供的信息只用於處理您的投訴,不會透露給無關人員。

          已記錄。還有要補充的嗎?可以繼續發送文字或照片;說完了請點「說完了」。
          [說完了 ✅]
    """)
    may.language = "en-US"
    await may.verify("""
        > [說完了 ✅]
        < 您反映的問題屬於「流程/效率問題」,對嗎?
          [是] [否,換一個]
        > /cancel
        < 已取消,本次內容沒有提交。需要時發送 /new 重新開始。
          (keyboard removed)
        > /status
        < You have no complaints on record. Just describe a problem to start one.
    """)
    async with store.read() as tx:
        customer = await tx.customers.find("telegram", "3002")
    assert customer is not None
    assert customer["language"] is None  # a platform's code is no choice of the customer's


async def test_the_customers_own_choice_wins_in_a_dialogue(dispatcher: Dispatcher) -> None:
    may = Chat(dispatcher, "3003", "zh-hk", "May")
    await may.verify("""
        > 快递三天了还没派送
        < 您好,這裡是客戶投訴服務。請直接描述您遇到的問題,我們會為您登記並儘快處理。
          隱私說明:您提供的信息只用於處理您的投訴,不會透露給無關人員。

          已記錄。還有要補充的嗎?可以繼續發送文字或照片;說完了請點「說完了」。
          [說完了 ✅]
        > /language
        < 请选择语言 / 請選擇語言 / Choose a language
          [简体中文] [繁體中文] [English]
        < 已記錄。還有要補充的嗎?可以繼續發送文字或照片;說完了請點「說完了」。
          [說完了 ✅]
        > [English]
        < Switched to English.
        < Noted. Anything to add? Send more text or photos; when you are done, tap “Done”.
          [Done ✅]
    """)
    may.language = None
    await may.verify("""
        > [Done ✅]
        < Is this about “Process / efficiency”?
          [Yes] [No, another]
    """)
    may.language = "zh-hk"
    await may.verify("""
        > [Yes]
        < Which branch, store or person is the complaint about? (you can skip)
          [Skip]
    """)


async def test_a_message_that_could_not_be_processed_is_regretted_in_the_dialogues_language(
    dispatcher: Dispatcher, store: Store
) -> None:
    """The inbox parks a message it cannot process and the customer is told: in the language
    of the dialogue going on, not the desk's default."""
    may = Chat(dispatcher, "3004", "zh-hk", "May")
    await may.send("> 快递三天了还没派送")

    async def told(tx: Tx) -> bool:
        return await dispatcher.unprocessable(tx, "telegram", "3004", "3004", "parked-1")

    assert await store.write(told)
    (*_, (_, recipient, message)) = await queued(store)
    assert recipient == "3004"
    assert message.text.startswith("抱歉,您剛才發送的消息我們未能處理")
