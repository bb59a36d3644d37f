"""The keywords that explain a case's category: computed once, at submission, for the
category the customer confirmed; stored on the case; the card and the subject agree."""

from __future__ import annotations

import functools

import pytest

from bot.desk import Desk
from bot.dispatcher import Dispatcher
from bot.nlp.analyse import keywords_of
from bot.nlp.classifier import Classifier
from bot.services import CaseService, NewComplaint
from tests.dialogue import Chat


async def test_submission_stores_the_keywords_and_the_subject_is_made_of_them(
    dispatcher: Dispatcher, service: CaseService
) -> None:
    number = await Chat(dispatcher, "4001").file_complaint("物业费乱收费,多收了我两百元")
    case = await service.get(number)
    assert case.category == "billing"
    assert case.keywords
    assert "乱收费" in case.keywords
    assert case.subject == "、".join(case.keywords[:3])


async def test_the_card_reads_the_stored_keywords_and_never_segments_again(
    service: CaseService, classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await service.open_case(
        NewComplaint("telegram", "7", "加油站员工态度恶劣", category="staff", keywords=["态度恶劣"])
    )
    desk = Desk(service, classifier, channel="slack", staff_channel="C1")

    def no_jieba(*_: object) -> None:
        raise AssertionError("the card segmented the complaint again")

    monkeypatch.setattr(classifier.tools, "tokens", no_jieba)
    async with service.store.read() as tx:
        card = await desk.projection.card(tx, case)
    assert card["keywords"] == ["态度恶劣"]


async def test_a_corrected_category_gets_its_own_keywords(
    service: CaseService, classifier: Classifier
) -> None:
    service.explain = functools.partial(keywords_of, classifier)
    case = await service.open_case(
        NewComplaint(
            "telegram", "8", "物业费乱收费,保安态度也很差", category="staff", keywords=["态度"]
        )
    )
    fixed = await service.correct(case.number, "slack:U1", "category", "billing", "主要是收费")
    assert "乱收费" in (fixed.keywords or [])
    assert "态度" not in (fixed.keywords or [])
