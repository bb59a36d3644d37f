"""After intake, over Telegram: a photo and words added to the open case, a document kept
mid-dialogue. The dialogue logic itself (which case?, forged buttons, /status, repeats) is
in tests/flows/ as transcripts."""

from __future__ import annotations

from tests.channels.conftest import Bot
from tests.channels.test_telegram_intake import file_complaint
from tests.fakes.telegram import FakeTelegram


async def test_a_message_after_intake_is_added_to_the_open_case(bot: Bot, tg: FakeTelegram) -> None:
    alice = tg.user(2003, "Alice")
    number = await file_complaint(alice, "快递三天了还没派送")
    await alice.says("刚才快递员打电话说明天送,但我明天不在家")
    assert f"已将您的补充记入投诉 {number}" in await alice.hears()
    await alice.sends_photo()
    assert number in await alice.hears()
    cases = bot.runtime.kesu.cases  # type: ignore[union-attr]
    history = await cases.history(number)
    added = [e for e in history if e.action == "customer_message"]
    assert added[0].note == "刚才快递员打电话说明天送,但我明天不在家"
    assert len(added) == 2
    async with bot.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
        case = await cases.get(number)
        files = await tx.attachments.for_case(case.id)
    assert [f["file_id"] for f in files] == ["big-2003"]  # the largest size of the photo


async def test_evidence_sent_while_answering_another_question_is_kept(
    bot: Bot, tg: FakeTelegram
) -> None:
    alice = tg.user(2010, "Alice")
    await alice.says("加油站员工态度恶劣")
    await alice.hears()
    await alice.taps("说完了 ✅")
    await alice.hears()
    await alice.taps("是")
    await alice.hears()
    await alice.sends_document()
    reply = await alice.hears(2)
    assert "附件已收到" in reply
    assert "被投诉的网点" in reply  # and the same question again
    async with bot.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
        conversation = await tx.conversations.get("telegram", "2010")
    assert conversation is not None
    assert conversation["data"]["attachments"][0]["name"] == "receipt.pdf"
