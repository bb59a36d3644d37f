"""A policy in minutes (issue 14: a desk tries its policy out quickly): the customer is promised
minutes, in their language, on the target's own clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from bot.domain.policy import parse_policy
from bot.domain.sla import Sla
from bot.flows.base import FlowDeps
from bot.nlp.classifier import Classifier
from bot.services import CaseService
from storage.db import Store
from tests.conftest import SHANGHAI
from tests.dialogue import Chat

DEFAULT = (Path(__file__).parents[2] / "bot/policies/default.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "example",
    [
        ('{ minutes = 15, clock = "calendar" }', "en", "within 15 minutes (by today 14:45)"),
        ('{ minutes = 1, clock = "calendar" }', "en", "within 1 minute (by today 14:31)"),
        ('{ minutes = 15, clock = "calendar" }', None, "我们将在 15 分钟内(今天 14:45前)联系您"),
        ("{ minutes = 45 }", None, "我们将在 45 分钟(工作时间)内(今天 15:15前)联系您"),
    ],
)
async def test_a_first_response_in_minutes_is_promised_in_minutes(
    store: Store,
    clock: FrozenClock,
    classifier: Classifier,
    example: tuple[str, str | None, str],
) -> None:
    target, language, promise = example
    text = DEFAULT.replace("first_response = { working_days = 1 }", f"first_response = {target}")
    policy = parse_policy(text)
    sla = Sla(policy, policy.calendar.build(SHANGHAI))
    service = CaseService(store, sla, clock, SHANGHAI, prefix="TS")
    dispatcher = Dispatcher(store, FlowDeps(service, classifier, sla, SHANGHAI), clock)
    chat = Chat(dispatcher, "6001", language, "Min")
    await chat.file_complaint("快递三天了还没派送")
    assert promise in chat.seen[-1].text
