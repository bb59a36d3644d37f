"""One entry point for every inbound message, whatever the channel.

One transaction per message: the update id is recorded (a redelivery stops here), the
conversation state is read, the flow runs, cases change, the new state is written and every
reply is queued in the outbox — all of it commits together or not at all, so a crash or
``kill -9`` at any point either loses nothing or redoes nothing. The outbox is woken only
once that transaction is durable.

Besides that, only what holds in every dialogue: a dialogue idle for a day is dropped, the
language (the customer's choice, else the dialogue's, kept in the row's ``_dispatcher`` part),
the commands answered in every state (:data:`COMMANDS`, declared once) — /new asking first
where answers would be lost — questions about case numbers, and the registry of flows
(:data:`FLOWS`) that the conversation row is routed to. Which states a flow has and what its
buttons carry is the flow's own business (``bot/flows/``). One module past 400 lines: the
routing of the buttons that answer in any state (language, closure, survey, /new) shares its
``_keep``/``_moved`` outcomes with the commands; the next such button moves them out together.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from bot.clock import Clock
from bot.flows import acks, closure, followup, intake, status, survey, texts
from bot.flows.base import Flow, FlowContext, FlowDeps, Flows, Turn
from bot.flows.texts import LANGUAGE_NAMES, LANGUAGES, pick_language
from bot.messages import Button, IncomingMessage, OutgoingMessage
from bot.outgoing import TextLimits, enqueue
from bot.services.notify import CONFIRM_BUTTON
from bot.services.survey import SURVEY_BUTTON
from storage.db import Store
from storage.repositories import Tx
from storage.schema import Row

log = logging.getLogger(__name__)

#: Every dialogue: /new and /start begin an intake; outside a dialogue, the follow-up decides.
FLOWS = Flows((intake.FLOW, followup.FLOW, survey.FLOW), begin=intake.FLOW, idle=followup.FLOW)
CANCEL_WORDS = frozenset({"取消", "cancel", "/cancel"})
LANGUAGE_BUTTON = "lang:"  # + a code of LANGUAGES
RESTART_BUTTON = "r:"  # + yes: or no: + the question's token (see _new)
_LOCKS = 256  # chats hash onto a fixed set of locks: bounded memory, per-chat order
#: A dialogue left this long is abandoned: the next message starts afresh.
CONVERSATION_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class _Here:
    """Where a stored dialogue stands."""

    stored: tuple[str, str]  # (flow, state) as the conversation row names them
    flow: Flow[Any]
    state: StrEnum | None  # None: a state this version does not have
    restart: str | None = None  # the token of the /new question open, if one is


@dataclass(frozen=True)
class _Outcome:
    replies: list[OutgoingMessage]
    after: tuple[str, str] | None  # where the dialogue stands now: (flow, state); None: over
    restart: str | None = None  # the token of the /new question left open


#: The key of a conversation row's data that the dispatcher keeps for itself; the flow's
#: data is everything else (a flow clears its own data freely).
_OWN = "_dispatcher"


@dataclass(frozen=True)
class _Own:
    """What the dispatcher keeps with a dialogue, whatever its flow."""

    lang: str | None = None  # the dialogue's language, held until the dialogue ends
    restart: str | None = None  # the token of the /new question open (see _new)

    @classmethod
    def read(cls, stored: Any) -> _Own:
        """Tolerates a row written before it existed, or by hand: what it cannot use is no
        value."""
        if not isinstance(stored, dict):
            return cls()
        lang, restart = stored.get("lang"), stored.get("restart")
        return cls(
            lang=lang if lang in LANGUAGES else None,
            restart=restart if isinstance(restart, str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {"lang": self.lang, "restart": self.restart}


class Dispatcher:
    def __init__(
        self,
        store: Store,
        deps: FlowDeps,
        clock: Clock,
        *,
        default_language: str = "zh-hans",
        on_enqueued: Callable[[], None] | None = None,
        text_limits: TextLimits | None = None,
    ) -> None:
        self.store = store
        self.deps = deps
        self.clock = clock
        self.default_language = default_language
        self.on_enqueued = on_enqueued or (lambda: None)  # the outbox worker's wake-up
        # Each channel's longest text: a longer reply is queued as several messages.
        self.text_limits = text_limits or TextLimits()
        self._locks = [asyncio.Lock() for _ in range(_LOCKS)]

    async def handle(self, msg: IncomingMessage) -> list[OutgoingMessage] | None:
        """Process one message in a transaction of its own, recognising a redelivery by its
        update id; the replies (already queued) or None for a redelivery. The channels go
        through the inbox (which calls :meth:`turn`); this is for callers without one."""
        lock = self._locks[hash((msg.channel, msg.chat_id)) % _LOCKS]

        async def work(tx: Tx) -> list[OutgoingMessage] | None:
            if not await tx.inbound.first_time(msg.channel, msg.update_id, self.clock.now()):
                log.info("%s update %s seen before: ignored", msg.channel, msg.update_id)
                return None
            return await self.turn(tx, msg)

        async with lock:
            replies = await self.store.write(work)
        if replies:  # durable now: the outbox may look
            self.on_enqueued()
        return replies

    async def unprocessable(
        self, tx: Tx, channel: str, chat_id: str, user_id: str, update_id: str
    ) -> bool:
        """A message of this customer's could not be processed (its inbox row is parked):
        they are told once, in their language, and their open case gets a note, which the
        staff see in the case's thread. True when a message to them was queued."""
        now = self.clock.now()
        customer = await tx.customers.find(channel, user_id)
        conversation = await tx.conversations.get(channel, chat_id)
        dialogue = None
        if conversation is not None and now - conversation["updated_at"] <= CONVERSATION_TTL:
            dialogue = _Own.read(conversation["data"].get(_OWN)).lang
        lang = (customer or {}).get("language") or dialogue or self.default_language
        if customer is not None:
            cases = await self.deps.cases.customer_cases(
                channel, user_id, open_only=True, customer_id=int(customer["id"]), tx=tx
            )
            if cases:
                note = (
                    f"客户的一条消息未能自动处理,已搁置(收件箱 {channel} update {update_id});"
                    "请在服务器上运行 kesu inbox list --failed 查看 "
                    f"(a message from the customer could not be processed: {channel} update "
                    f"{update_id} is parked; see kesu inbox list --failed)"
                )
                await self.deps.cases.add_note(cases[0].number, "kesu", note, tx=tx)
        text = OutgoingMessage(texts.text(lang, "unprocessable"))
        queued = await enqueue(
            tx,
            self.text_limits,
            channel=channel,
            recipient=chat_id,
            message=text,
            now=now,
            dedupe_key=f"{channel}:{update_id}:parked",
        )
        return queued is not None

    async def turn(self, tx: Tx, msg: IncomingMessage) -> list[OutgoingMessage] | None:
        """The message's whole transaction; the store may run it again if a commit fails."""
        now = self.clock.now()
        customer = await tx.customers.ensure_row(
            msg.channel, msg.user_id, now, display_name=msg.display_name
        )
        conversation = await tx.conversations.get(msg.channel, msg.chat_id, for_update=True)
        if conversation is not None and now - conversation["updated_at"] > CONVERSATION_TTL:
            # Abandoned long ago: today's message is not an answer to that old question.
            log.info("%s chat %s: dialogue idle since %s dropped", msg.channel,
                     msg.chat_id, conversation["updated_at"])  # fmt: skip
            conversation = None
        here = _where(conversation, msg)
        data: dict[str, Any] = dict(conversation["data"]) if conversation and here else {}
        own = _Own.read(data.pop(_OWN, None))  # the flow never sees the dispatcher's part
        if here is not None:
            here = replace(here, restart=own.restart)
        # The customer's own choice (/language) first; else the dialogue's, so that an update
        # without a language code, or with another, does not switch language mid-dialogue;
        # else the platform's code of this message, which a dialogue begun now keeps.
        lang = (
            customer["language"] or own.lang or pick_language(msg.language, self.default_language)
        )
        ctx = FlowContext(msg, lang, data, tx, self.deps, now, customer_id=customer["id"])
        outcome = await _route(ctx, here)
        replies = outcome.replies
        if outcome.after is None:
            await tx.conversations.delete(msg.channel, msg.chat_id)
            if conversation is not None:  # a held-back 已记录 must not follow 已取消
                await acks.withdraw(tx, msg.channel, msg.chat_id)
        else:
            flow, state = outcome.after
            ctx.data[_OWN] = _Own(lang=ctx.lang, restart=outcome.restart).to_json()
            await tx.conversations.put(
                msg.channel, msg.chat_id, flow=flow, state=state, data=ctx.data, now=now
            )
        for i, reply in enumerate(replies):
            await enqueue(
                tx,
                self.text_limits,
                channel=msg.channel,
                recipient=msg.chat_id,
                message=reply,
                now=now,
                dedupe_key=f"{msg.channel}:{msg.update_id}:{i}",
            )
        return replies


def _where(conversation: Row | None, msg: IncomingMessage) -> _Here | None:
    if conversation is None:
        return None
    stored = (str(conversation["flow"]), str(conversation["state"]))
    flow = FLOWS.named(stored[0])
    if flow is None:  # a flow retired since the row was written: as if no dialogue
        log.warning("%s chat %s: unknown flow %r dropped", msg.channel, msg.chat_id, stored[0])
        return None
    return _Here(stored, flow, flow.state(stored[1]))


async def _route(ctx: FlowContext, here: _Here | None) -> _Outcome:
    """A language button, a command (or words meaning one), else the dialogue's step."""
    msg = ctx.msg
    if msg.callback and msg.callback.startswith(LANGUAGE_BUTTON):
        return await _set_language(ctx, msg.callback.removeprefix(LANGUAGE_BUTTON), here)
    if msg.callback and msg.callback.startswith(CONFIRM_BUTTON):  # 已解决 / 未解决
        return _keep(ctx, here, await closure.pressed(ctx))
    if msg.callback and msg.callback.startswith(SURVEY_BUTTON):  # 回访
        return await _survey(ctx, here)
    if msg.callback and msg.callback.startswith(RESTART_BUTTON):
        answered = await _restart_answered(ctx, here)
        if answered is not None:
            return answered  # else a stale one: the step at hand treats it as any old button
    # Words meaning a command, unless they are a photo's caption (取消 under a photo of a
    # cancelled order is part of the complaint).
    said = "" if msg.attachments else msg.text.strip().lower()
    command = (msg.command or "").lower() or WORDS.get(said, "")
    if command:
        return await COMMANDS.get(command, _help)(ctx, here)
    asked = _asked_about(ctx, here)
    if asked:
        return _keep(ctx, here, [await status.about(ctx, asked)])
    if here is None:
        turn = await FLOWS.idle.entry(ctx)
    elif here.state is None:
        log.warning("%s chat %s: %s state %r unknown, starting again", msg.channel,
                    msg.chat_id, *here.stored)  # fmt: skip
        turn = await here.flow.entry(ctx)
    else:
        turn = await here.flow.step(here.state, ctx)
    return _moved(turn)


async def _survey(ctx: FlowContext, here: _Here | None) -> _Outcome:
    """A survey answer; in the middle of another dialogue (a new complaint) it stays there,
    thanked instead of asked for a comment its next words would be mistaken for."""
    turn = await survey.pressed(ctx)
    if here is None or here.flow is survey.FLOW:  # 跳过 or a last answer ends the wait
        return _moved(turn)
    return _keep(ctx, here, turn.replies if turn.state is None else survey.aside(ctx))


def _moved(turn: Turn) -> _Outcome:
    if turn.state is None:
        return _Outcome(turn.replies, None)
    return _Outcome(turn.replies, (FLOWS.owning(turn.state).name, turn.state.value))


def _keep(ctx: FlowContext, here: _Here | None, replies: list[OutgoingMessage]) -> _Outcome:
    """Answer without leaving the dialogue; the current question follows the answer. Nothing
    moved on, so a /new question open stays open: its buttons above still answer it."""
    if here is None:
        return _Outcome(replies, None)
    question = here.flow.question(here.state, ctx) if here.state is not None else []
    return _Outcome([*replies, *question], here.stored, here.restart)


# -- commands: the same in every state --------------------------------------------------------


async def _cancel(ctx: FlowContext, here: _Here | None) -> _Outcome:
    """Drop the dialogue, its data unsaved; the phone keyboard goes too."""
    key = "cancelled" if here is not None else "nothing_to_cancel"
    return _Outcome([replace(ctx.say(key), remove_keyboard=True)], None)


async def _help(ctx: FlowContext, here: _Here | None) -> _Outcome:
    """Also the answer to a command kesu does not have."""
    return _keep(ctx, here, [ctx.say("help")])


async def _ask_language(ctx: FlowContext, here: _Here | None) -> _Outcome:
    return _keep(ctx, here, [_language_question(ctx)])


async def _status(ctx: FlowContext, here: _Here | None) -> _Outcome:
    """/status alone lists the customer's cases; /status with numbers answers for those."""
    asked = status.query(ctx.msg.text) if ctx.msg.command else None
    if asked is not None:
        return _keep(ctx, here, [await status.about(ctx, asked.numbers)])
    return _keep(ctx, here, [await status.answer(ctx)])


def _asked_about(ctx: FlowContext, here: _Here | None) -> tuple[str, ...]:
    """The case numbers a message asks about (「查询进度 TS…」), in any state. A bare number
    is a question only outside a dialogue and only in this desk's form: inside one it is the
    answer to the question asked (an earlier case as the reference), and another company's
    number alone (a waybill) is words for the follow-up."""
    msg = ctx.msg
    if msg.callback is not None or msg.attachments:
        return ()  # a photo's caption is part of the evidence
    asked = status.query(msg.text)
    if asked is None:
        return ()
    if asked.explicit:
        return asked.numbers
    prefix = ctx.deps.cases.prefix
    if here is None and all(status.is_ours(n, prefix) for n in asked.numbers):
        return asked.numbers
    return ()


async def _new(ctx: FlowContext, here: _Here | None) -> _Outcome:
    """A new complaint: the customer said so. Answers already given are not thrown away on
    one word, though (a /new typed by habit, a menu tapped by mistake): 放弃当前填写的投诉,
    重新开始? first. Its buttons carry a token of this question, so only they answer it, and
    only while the dialogue has not moved on; a later /new asks afresh."""
    if here is not None and here.state is not None and here.flow.renew is not None:
        return _moved(await here.flow.renew(ctx))
    if here is None or here.state is None or not here.flow.holds_answers(ctx.data):
        return _moved(await FLOWS.begin.entry(ctx))
    token = hashlib.blake2s(ctx.msg.update_id.encode(), digest_size=6).hexdigest()
    question = ctx.say(
        "restart_ask",
        [
            ("btn_restart", f"{RESTART_BUTTON}yes:{token}"),
            ("btn_go_on", f"{RESTART_BUTTON}no:{token}"),
        ],
    )
    return _Outcome([question], here.stored, token)


async def _restart_answered(ctx: FlowContext, here: _Here | None) -> _Outcome | None:
    """A button of the /new question, while it is open: yes begins again, no asks the
    dialogue's question again. None for a stale one."""
    answer, _, token = (ctx.msg.callback or "").removeprefix(RESTART_BUTTON).partition(":")
    if here is None or here.state is None or here.restart is None or token != here.restart:
        return None
    if answer == "yes":
        return _moved(await FLOWS.begin.entry(ctx))
    return _Outcome([ctx.say("resume"), *here.flow.question(here.state, ctx)], here.stored)


async def _start(ctx: FlowContext, here: _Here | None) -> _Outcome:
    """Telegram sends /start when a customer reopens the chat: resume the dialogue going on,
    with its question; else begin one."""
    if here is not None and here.state is not None:
        question = here.flow.question(here.state, ctx)
        if question:
            return _Outcome([ctx.say("resume"), *question], here.stored, here.restart)
    return _moved(await FLOWS.begin.entry(ctx))


Command = Callable[[FlowContext, _Here | None], Awaitable[_Outcome]]
COMMANDS: Mapping[str, Command] = {
    "cancel": _cancel,
    "help": _help,
    "language": _ask_language,
    "status": _status,
    "new": _new,
    "start": _start,
}
#: Typed words that mean a command, compared lower-cased and trimmed.
WORDS: Mapping[str, str] = {
    **dict.fromkeys(CANCEL_WORDS, "cancel"),
    **dict.fromkeys(status.WORDS, "status"),
}


def _language_question(ctx: FlowContext) -> OutgoingMessage:
    row = tuple(Button(LANGUAGE_NAMES[c], f"{LANGUAGE_BUTTON}{c}") for c in LANGUAGES)
    return OutgoingMessage(ctx.t("language_pick"), buttons=(row,))


async def _set_language(ctx: FlowContext, code: str, here: _Here | None) -> _Outcome:
    """The customer's choice, kept for every later message; the question again in it."""
    if code not in LANGUAGES:
        return _keep(ctx, here, [_language_question(ctx)])
    if ctx.customer_id is not None:
        await ctx.tx.customers.update(ctx.customer_id, ctx.now, language=code)
    ctx.lang = code
    return _keep(ctx, here, [ctx.say("language_set")])
