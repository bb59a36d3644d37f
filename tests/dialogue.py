"""Dialogue tests that read like transcripts, after Zulip's ``verify_dialog``.

A transcript is what the customer sends (``>``) and, after each, every reply of the bot
(``<``) exactly — the whole text, its buttons and keyboards — and nothing else::

    > 快递三天了还没派送
    < 您好,这里是客户投诉服务。……
      已记录。还有要补充的吗?……
      [说完了 ✅]
    > [说完了 ✅]
    < 您反映的问题属于「流程/效率问题」,对吗?
      [是] [否,换一个]

:meth:`Chat.verify` sends the customer's lines through :meth:`Dispatcher.handle` on a real
store, writes down what really happened in the same notation and compares the two whole;
on a difference it fails with a diff of the whole exchange, expected against actual.

What the customer can send:

``> words``                 a text message (``> /new``, ``> /start x``: a command)
``> [label]``               taps the button of that label on the latest message showing it
``> [data=i:cat:yes]``      presses a button with this data, shown or not (stale, forged)
``> (photo)``               a photo, ``> (photo) caption`` with a caption
``> (document name.pdf)``   a file
``> (contact +86 138…)``    shares their own phone number (a contact card of the sender)
``> (contact 139… of 77)``  shares the card of Telegram user 77 (``of nobody``: a card of
                            someone who is no Telegram user)
``> (sticker)``             something kesu cannot use: no words, no file
``> (again)``               the platform delivers the previous update once more

``~ 25 hours later`` lets time pass (the dispatcher's clock must be a :class:`FrozenClock`);
``~ 10 seconds later`` too. What the bot queued for later (a held-back acknowledgement) and
whose time came meanwhile follows that line as the bot's replies: it is what the customer
receives then, unless something superseded it first.
A reply's buttons are one line per row; ``(keyboard: label)`` is a share-my-phone key and
``(keyboard removed)`` a reply that takes the keyboard away. ``Chat(show_data=True)``
writes buttons as ``[label → data]``.
"""

from __future__ import annotations

import difflib
import itertools
import re
import textwrap
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from bot.messages import Attachment, IncomingMessage, OutgoingMessage
from storage.schema import outbox

_update_ids = itertools.count(1)
_LATER = re.compile(r"~ (\d+) (second|minute|hour|day)s? later")


class TranscriptError(AssertionError):
    """The customer's side of a transcript could not be played (no such button …)."""


@dataclass
class Chat:
    """One customer's private chat with the bot."""

    dispatcher: Dispatcher
    user: str = "42"
    language: str | None = None  # the platform's language code (zh-hk, en-US …)
    name: str = "Customer"
    channel: str = "telegram"
    show_data: bool = False
    sent_at: datetime | None = None  # the platform's time of what is sent (None: none given)
    seen: list[OutgoingMessage] = field(default_factory=list)  # every reply, oldest first
    _last: IncomingMessage | None = None

    async def verify(self, transcript: str) -> None:
        """Play the customer's lines of ``transcript`` and check the whole exchange."""
        __tracebackhide__ = True
        expected = _normalise(transcript)
        actual: list[str] = []
        for line in expected:
            if line.startswith("> "):
                actual.append(line)
                try:
                    replies = await self.send(line)
                except TranscriptError as exc:
                    actual.append(f"!! {exc}")
                    break
                actual.extend(self._render(replies))
            elif line.startswith("~ "):
                actual.append(line)
                actual.extend(self._render(await self._let_time_pass(line)))
        if actual != expected:
            raise AssertionError(_diff(expected, actual))

    async def send(self, line: str) -> list[OutgoingMessage] | None:
        """One customer line (``> …``, without checking the replies); the replies, or None
        for a redelivery the dispatcher recognised."""
        msg = self._message(line.removeprefix("> ").strip())
        self._last = msg
        replies = await self.dispatcher.handle(msg)
        self.seen.extend(replies or ())
        return replies

    async def file_complaint(self, words: str, sent_at: datetime | None = None) -> str:
        """A whole intake with the usual answers; the case number the bot gave. ``sent_at``:
        the platform's time of the message with the words (a backlog processed late)."""
        await self.send("> /new")
        self.sent_at = sent_at
        await self.send(f"> {words}")
        self.sent_at = None
        await self.send("> [data=i:done]")
        question = self.seen[-1]
        if question.buttons[0][0].data == "i:cat:yes":
            await self.send("> [data=i:cat:yes]")
        else:
            await self.send(f"> [data={question.buttons[0][0].data}]")
        for line in ("[data=i:skip]", "[data=i:skip]", "(contact 13800138000)"):
            await self.send(f"> {line}")
        await self.send("> [data=i:out:refund]")
        replies = await self.send("> [data=i:submit]")
        assert replies, "no answer to the submission"
        found = re.search(r"[A-Z]{2}\d{11}", replies[-1].text)
        assert found, replies[-1].text
        return found.group()

    def _message(self, said: str) -> IncomingMessage:
        base = IncomingMessage(
            self.channel,
            self.user,
            self.user,
            str(next(_update_ids)),
            language=self.language,
            display_name=self.name,
            received_at=self.sent_at,
        )
        if said == "(again)":
            if self._last is None:
                raise TranscriptError("nothing was sent before (again)")
            return self._last
        if said.startswith("[data=") and said.endswith("]"):
            return replace(base, callback=said[len("[data=") : -1])
        if said.startswith("[") and said.endswith("]"):
            return replace(base, callback=self._button(said[1:-1]))
        if said.startswith("("):
            return _media(base, said)
        if said.startswith("/"):
            head, _, rest = said[1:].partition(" ")
            return replace(base, command=head.lower(), text=rest)
        return replace(base, text=said)

    def _button(self, label: str) -> str:
        for reply in reversed(self.seen):
            for row in reply.buttons:
                for button in row:
                    if button.label == label:
                        return button.data
        raise TranscriptError(f"no button [{label}] in the bot's messages to {self.name}")

    async def _let_time_pass(self, line: str) -> list[OutgoingMessage]:
        """Move the clock; the messages queued for later that fell due meanwhile."""
        later = _LATER.fullmatch(line)
        if later is None:
            raise ValueError(f"not a narration kesu's transcripts know: {line!r}")
        clock = self.dispatcher.clock
        assert isinstance(clock, FrozenClock), "time passes only on a FrozenClock"
        amount, unit = int(later.group(1)), later.group(2)
        before = clock.now()
        after = clock.advance(timedelta(**{f"{unit}s": amount}))
        stmt = (
            select(outbox)
            .where(
                outbox.c.channel == self.channel,
                outbox.c.recipient == self.user,
                outbox.c.status == "pending",
                outbox.c.not_before > outbox.c.created_at,  # queued for later
                outbox.c.not_before > before,
                outbox.c.not_before <= after,
            )
            .order_by(outbox.c.not_before, outbox.c.id)
        )
        async with self.dispatcher.store.read() as tx:
            rows = (await tx.session.execute(stmt)).rows
        due = [OutgoingMessage.from_payload(r["payload"]) for r in rows]
        self.seen.extend(due)
        return due

    def _render(self, replies: list[OutgoingMessage] | None) -> list[str]:
        if replies is None:
            return ["< (ignored: seen before)"]
        lines: list[str] = []
        for reply in replies:
            first, *rest = reply.text.split("\n")
            lines.append(f"< {first}")
            lines.extend(f"  {line}" for line in rest)
            for row in reply.buttons:
                labels = (f"{b.label} → {b.data}" if self.show_data else b.label for b in row)
                lines.append("  " + " ".join(f"[{label}]" for label in labels))
            if reply.request_contact:
                lines.append(f"  (keyboard: {reply.request_contact})")
            if reply.remove_keyboard:
                lines.append("  (keyboard removed)")
            # Never in a customer's reply today; shown so that one appearing fails the diff.
            named = {"ref": reply.ref, "edit": reply.edit, "thread": reply.thread}
            lines.extend(f"  ({key}: {value})" for key, value in named.items() if value)
            lines.extend(f"  (file: {f.kind} {f.name or f.file_id})" for f in reply.files)
            if reply.card is not None or reply.on_sent or reply.on_failed:
                lines.append("  (card or follow-up attached)")
        return [line.rstrip() for line in lines]


def _media(base: IncomingMessage, said: str) -> IncomingMessage:
    kind, _, rest = said[1:].partition(")")
    kind, _, argument = kind.partition(" ")
    caption = rest.strip()
    n = base.update_id
    match kind:
        case "photo":
            photo = Attachment("photo", f"photo-{n}", 204_800, "image/jpeg")
            return replace(base, attachments=(photo,), text=caption)
        case "document":
            doc = Attachment("document", f"doc-{n}", 52_000, "application/pdf", argument or None)
            return replace(base, attachments=(doc,), text=caption)
        case "contact":
            number, _, owner = argument.partition(" of ")
            if not owner:
                owner = base.user_id
            holder = None if owner == "nobody" else owner
            return replace(base, contact_phone=number, contact_user_id=holder)
        case "sticker":
            return base
    raise TranscriptError(f"the customer cannot send ({kind})")


def _normalise(transcript: str) -> list[str]:
    return [line.rstrip() for line in textwrap.dedent(transcript).strip("\n").split("\n")]


def _diff(expected: list[str], actual: list[str]) -> str:
    whole = max(len(expected), len(actual))
    diff = difflib.unified_diff(expected, actual, "expected", "actual", n=whole, lineterm="")
    return "the dialogue went otherwise (- expected, + actual):\n" + "\n".join(diff)
