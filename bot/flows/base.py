"""The small flow framework: a step gets the message and the dialogue's context and returns the
replies and the next state (``None`` ends the dialogue). No SDK, no I/O of its own beyond the
transaction it is handed, so flows test without any fake."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.sla import Sla
from bot.flows.texts import text
from bot.messages import Button, IncomingMessage, OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.services import CaseService
from storage.repositories import Tx


@dataclass(frozen=True)
class FlowDeps:
    """What flows may use; built once by the composition root."""

    cases: CaseService
    classifier: Classifier
    sla: Sla
    tz: ZoneInfo


@dataclass
class FlowContext:
    msg: IncomingMessage
    lang: str
    data: dict[str, Any]  # persisted with the conversation after every step
    tx: Tx
    deps: FlowDeps
    now: datetime
    customer_id: int | None = None  # known once the dispatcher has seen the customer

    def t(self, key: str, **values: Any) -> str:
        return text(self.lang, key, **values)

    def say(self, key: str, *rows: list[tuple[str, str]], **values: Any) -> OutgoingMessage:
        """A reply in the customer's language, with rows of (label key, button data)."""
        return OutgoingMessage(
            text=self.t(key, **values),
            buttons=tuple(
                tuple(Button(self.t(label), data) for label, data in row) for row in rows
            ),
        )


@dataclass
class Turn:
    replies: list[OutgoingMessage] = field(default_factory=list)
    state: str | None = None  # None: the dialogue is over
