"""Text made only of invisible characters (U+200B, U+3000, U+FEFF …) is no text, wherever the
customer or staff send it (issue 13): it opens no case, answers no question and reaches
nobody; the same characters inside words are kept verbatim."""

from __future__ import annotations

import pytest

from bot.desk import Desk, Staff
from bot.dispatcher import Dispatcher
from bot.domain.cases import DomainError
from bot.nlp.classifier import Classifier
from bot.services import CaseService, NewComplaint
from storage.db import Store
from tests.dialogue import Chat
from tests.queries import case_count

NOTHING = "\u200b\u3000\ufeff\u200b"  # ends in characters str.strip() keeps


async def test_invisible_text_opens_no_case_and_answers_no_question(
    dispatcher: Dispatcher, store: Store
) -> None:
    alice = Chat(dispatcher, "3001", None, "Alice")
    replies = await alice.send(f"> {NOTHING}")
    assert [r.text for r in replies or []] == ["暂时无法处理这类消息,请发送文字、照片或文件。"]
    await alice.send("> /new")
    replies = await alice.send(f"> {NOTHING}")  # as the description
    assert [r.text for r in replies or []] == ["请用文字描述您的问题,也可以发送照片或文件。"]
    await alice.send("> 加油站多收了我五十元")
    await alice.send("> [data=i:done]")
    await alice.send("> [data=i:cat:yes]")
    replies = await alice.send(f"> {NOTHING}")  # as the party: the question again
    assert [r.text for r in replies or []] == ["被投诉的网点、门店或人员是?(没有可跳过)"]
    async with store.read() as tx:
        assert await case_count(tx) == 0


async def test_invisible_words_are_refused_by_the_use_cases_and_the_desk(
    service: CaseService, classifier: Classifier
) -> None:
    with pytest.raises(DomainError, match="content is empty"):
        await service.open_case(NewComplaint("telegram", "42", NOTHING))
    case = await service.open_case(NewComplaint("telegram", "42", f"{NOTHING}乱收费{NOTHING}"))
    assert case.content == f"{NOTHING}乱收费{NOTHING}"  # visible words keep every character
    with pytest.raises(DomainError, match="nothing to add"):
        await service.add_customer_message(case.number, "customer:telegram:42", NOTHING)
    desk = Desk(service, classifier, channel="slack", staff_channel="CDESK0001")
    agent = Staff("slack", "UAGENT001", True)
    assert (await desk.actions.claim(case.number, agent)).ok
    refused = await desk.actions.reply(case.number, agent, NOTHING)
    assert (refused.ok, refused.message) == (False, "回复内容不能为空 (the reply is empty)")
    assert (await desk.actions.note(case.number, agent, NOTHING)).ok  # nothing to record
    with pytest.raises(DomainError, match="resolution note"):
        await service.resolve(case.number, "slack:UAGENT001", NOTHING)
    history = [e.action for e in await service.history(case.number)]
    assert history == ["open", "claim"]
