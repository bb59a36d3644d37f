"""The flow framework, after python-telegram-bot's ``ConversationHandler`` and aiogram's
``StatesGroup``: a dialogue is a declared table, so what it can do is read in one place.

A :class:`Flow` names its states with a ``StrEnum`` whose values are what a conversation row
stores (a row written by an earlier version must still resume: a value is never renamed),
begins at an entry, runs one async step per state — a step replies and returns the next
state, of its own flow or another's, or ``None`` to end the dialogue — and may declare the
question a state asks again after a fallback (/help, /start, a language switch). Commands
that work in every state are the dispatcher's, declared once there.

A step gets the message and the dialogue's context: no SDK, no I/O beyond the transaction it
is handed, so flows test without any fake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar
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

    @property
    def sent_at(self) -> datetime:
        """When the customer sent this: the platform's time where the update carries one, else
        when kesu first stored it (the inbox fills that in), else now."""
        return self.msg.received_at or self.now

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
    # Where the dialogue goes: a state of any registered flow (its enum says which flow);
    # None ends the dialogue.
    state: StrEnum | None = None


Step = Callable[[FlowContext], Awaitable[Turn]]
Question = Callable[[FlowContext], OutgoingMessage]
S = TypeVar("S", bound=StrEnum)


def _nothing_to_lose(data: Mapping[str, Any]) -> bool:
    return False


@dataclass(frozen=True)
class Flow(Generic[S]):
    """One dialogue as a table; see the module docstring and the diagram beside each flow."""

    name: str  # stored in every conversation row of this flow: never renamed
    states: type[S]
    entry: Step  # how the dialogue begins, and where a state this version lacks restarts
    steps: Mapping[S, Step]
    questions: Mapping[S, Question] = field(default_factory=dict)
    # Whether the dialogue's data holds answers the customer gave, which /new would throw
    # away: then /new asks first. By default a flow has nothing to lose.
    holds_answers: Callable[[Mapping[str, Any]], bool] = _nothing_to_lose
    # What /new means in the middle of this flow when it is not "begin afresh": the which-case
    # question takes it as "this is a new complaint" and keeps the words waiting there.
    renew: Step | None = None

    def __post_init__(self) -> None:
        """A state without a step would strand the customers stored in it: refuse at import."""
        missing = [s.value for s in self.states if s not in self.steps]
        if missing:
            raise ValueError(f"flow {self.name!r} has no step for {missing}")

    def state(self, stored: str) -> S | None:
        """The state a conversation row names; None for one this version does not have."""
        try:
            return self.states(stored)
        except ValueError:
            return None

    async def step(self, state: S, ctx: FlowContext) -> Turn:
        return await self.steps[state](ctx)

    def question(self, state: S, ctx: FlowContext) -> list[OutgoingMessage]:
        """The state's question again, or nothing where the earlier one still stands."""
        ask = self.questions.get(state)
        return [ask(ctx)] if ask is not None else []


@dataclass(frozen=True)
class Flows:
    """The registry the dispatcher routes with."""

    flows: tuple[Flow[Any], ...]
    begin: Flow[Any]  # what /new and /start begin
    idle: Flow[Any]  # its entry takes a message when no dialogue is going on

    def __post_init__(self) -> None:
        names = [f.name for f in self.flows]
        kinds = {f.states for f in self.flows}
        if len(set(names)) != len(names) or len(kinds) != len(names):
            raise ValueError(f"flows need names and state enums of their own: {names}")
        if self.begin not in self.flows or self.idle not in self.flows:
            raise ValueError("the flows begun by /new and outside a dialogue must be registered")

    def named(self, name: str) -> Flow[Any] | None:
        return next((f for f in self.flows if f.name == name), None)

    def owning(self, state: StrEnum) -> Flow[Any]:
        """The flow that declares ``state``: a step moves to another flow by naming its state."""
        for flow in self.flows:
            if isinstance(state, flow.states):
                return flow
        raise LookupError(f"no registered flow has the state {state!r}")
