"""Queueing a message for a chat: a text longer than the recipient's platform takes becomes
several outbox rows, cut when it is queued — never when it is sent.

One row is one platform message, so a retry after a failure resends only the part that
failed: had the cut been made at send time, a row whose third part failed would send its
first two again on every retry. The parts are queued in order, in the caller's transaction
(all or none), and each is sent once the one before it is (the outbox sends each chat's
oldest pending row first).

Cuts fall at a line end when one lies in the second half of a part, otherwise between two
grapheme clusters: never inside an emoji's ZWJ sequence, a flag, a surrogate pair or a
character and its combining marks. Lengths are counted the way the platform counts them
(:class:`TextLimit`): Telegram counts UTF-16 code units, so an emoji outside the BMP is two.

Channel-neutral: each channel's sender declares its ``text_limit``; :class:`TextLimits`
collects them by channel name for the code that queues (dispatcher, the case service's
notices, desk, outbox follow-ups).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import regex

from bot.messages import OutgoingMessage
from storage.repositories import Tx

Unit = Literal["utf16", "chars"]


@dataclass(frozen=True, slots=True)
class TextLimit:
    """The longest text one message of a platform may carry, counted as the platform counts.

    ``unit``: ``"utf16"`` counts UTF-16 code units (Telegram: an emoji outside the BMP is
    two), ``"chars"`` counts code points. ``escapes`` are characters the sender replaces
    before sending, with what it sends instead (Slack: ``&`` goes as ``&amp;``): the platform
    counts what it receives."""

    size: int
    unit: Unit = "chars"
    escapes: tuple[tuple[str, str], ...] = ()

    def measure(self, text: str) -> int:
        n = _count(text, self.unit)
        for char, escaped in self.escapes:
            n += text.count(char) * (_count(escaped, self.unit) - _count(char, self.unit))
        return n


def _count(text: str, unit: Unit) -> int:
    return len(text.encode("utf-16-le")) // 2 if unit == "utf16" else len(text)


#: For a channel no sender in this process declared (another instance sends it, or a test's
#: own channel): 4,000 UTF-16 code units, within every platform kesu knows — Telegram takes
#: 4,096 such units, Slack 4,000 characters, and 4,000 units are never more than 4,000
#: characters. Cutting too early costs one more message; cutting too late, a refused one.
DEFAULT_LIMIT = TextLimit(4_000, "utf16")


class TextLimits:
    """Each channel's :class:`TextLimit` by channel name, as its sender declares it.

    The composition root creates one before the channels exist (the dispatcher is built
    first), hands it to whoever queues, and fills it with :meth:`learn` once the channels
    are built; nothing is queued before then. An unknown channel gets ``default``."""

    def __init__(
        self,
        limits: Mapping[str, TextLimit] | None = None,
        *,
        default: TextLimit = DEFAULT_LIMIT,
    ) -> None:
        self._limits = dict(limits or {})
        self.default = default

    def declare(self, channel: str, limit: TextLimit) -> None:
        self._limits[channel] = limit

    def learn(self, senders: Iterable[object]) -> TextLimits:
        """Declare the ``text_limit`` of each sender under its ``channel`` name; a sender
        that declares none (a test's fake) keeps the default. Returns itself."""
        for sender in senders:
            limit = getattr(sender, "text_limit", None)
            channel = getattr(sender, "channel", None)
            if isinstance(limit, TextLimit) and isinstance(channel, str):
                self.declare(channel, limit)
        return self

    def get(self, channel: str) -> TextLimit:
        return self._limits.get(channel, self.default)


async def enqueue(
    tx: Tx,
    limits: TextLimits,
    *,
    channel: str,
    recipient: str,
    message: OutgoingMessage,
    now: datetime,
    dedupe_key: str | None,
) -> int | None:
    """Queue ``message`` for ``recipient`` as one outbox row, or one row per part when its
    text is longer than ``channel`` takes (see :func:`split_message` for what goes on which
    part). The last part's row id, or None when the message was queued before.

    Dedupe keys: the last part keeps ``dedupe_key`` exactly (other code finds rows by it:
    follow-ups, ``LIKE`` patterns over card keys); the parts before it get
    ``f"{dedupe_key}#{n}"``, n from 1. A message's parts are queued in one transaction, so
    finding its first part already queued means the whole message was; should the last
    part's key alone be taken (the message was queued whole by a kesu that did not cut when
    queueing), the parts just queued are undone and None returned. A key of None stays None
    for every part (nothing is de-duplicated)."""
    parts = split_message(message, limits.get(channel))
    if len(parts) == 1:
        return await tx.outbox.enqueue(
            channel=channel,
            recipient=recipient,
            payload=parts[0].to_payload(),
            now=now,
            dedupe_key=dedupe_key,
        )
    try:
        async with tx.savepoint():
            queued: int | None = None
            for n, part in enumerate(parts, 1):
                last = n == len(parts)
                queued = await tx.outbox.enqueue(
                    channel=channel,
                    recipient=recipient,
                    payload=part.to_payload(),
                    now=now,
                    dedupe_key=dedupe_key if dedupe_key is None or last else f"{dedupe_key}#{n}",
                )
                if queued is None:
                    if n == 1:
                        return None  # queued before, whole: nothing was written here
                    raise _QueuedWhole
            return queued
    except _QueuedWhole:
        return None


class _QueuedWhole(Exception):
    """The message's own key is taken but its first part's was not: undo the parts."""


def split_message(message: OutgoingMessage, limit: TextLimit) -> list[OutgoingMessage]:
    """The messages that carry ``message``'s text within ``limit``, in order.

    What acts on or after the whole message goes on the last part only: its buttons, contact
    request or keyboard removal (they answer what the customer just read), its ``ref`` (a
    later edit or thread names the message it ends with), its files and its ``on_sent`` /
    ``on_failed`` follow-ups (so "delivered" means the whole text arrived; a part before the
    last that fails for good does not call ``on_failed``). ``thread`` goes on every part:
    they all answer in the same thread.

    A message that ``edit``s another (it replaces one platform message, so it cannot become
    two) or draws a ``card`` (the channel renders it, within its own limits: Slack cuts the
    quoted words of cards and thread lines to fit its blocks) is never cut: if its text is
    still too long, the sender's own handling applies (Telegram's sender cuts at send time
    as a last resort)."""
    if message.edit or message.card is not None:
        return [message]
    texts = split_text(message.text, limit)
    if texts == [message.text]:
        return [message]
    *first, last = texts
    parts = [OutgoingMessage(text, thread=message.thread) for text in first]
    return [*parts, replace(message, text=last)]


def split_text(text: str, limit: TextLimit) -> list[str]:
    """``text`` in parts of at most ``limit``: cut at a line end where one falls in the
    second half of a part (the line break itself is the cut and is dropped), otherwise
    between two grapheme clusters. A part that would be only white space is dropped
    (Telegram refuses one). A text that fits (an empty one too) comes back as it is."""
    if limit.measure(text) <= limit.size:
        return [text]
    size = limit.size
    parts: list[str] = []
    current: list[str] = []  # the clusters of the part being filled
    widths: list[int] = []
    used = 0
    for cluster in _GRAPHEME.findall(text):
        width = limit.measure(cluster)
        if used + width > size and current and cluster in _LINE_ENDS:
            parts.append("".join(current))  # the line break that would not fit is the cut
            current, widths, used = [], [], 0
            continue
        while used + width > size and current:
            cut = _line_end(current, widths, size // 2)
            if cut is not None:
                parts.append("".join(current[:cut]))
                current, widths = current[cut + 1 :], widths[cut + 1 :]
            else:
                parts.append("".join(current))
                current, widths = [], []
            used = sum(widths)
        if width > size:  # one cluster longer than a message (absurd, but possible)
            parts.extend(_by_code_point(cluster, limit))
            continue
        current.append(cluster)
        widths.append(width)
        used += width
    if current:
        parts.append("".join(current))
    return [part for part in parts if part.strip()] or parts[:1]


_GRAPHEME = regex.compile(r"\X", regex.DOTALL)
_LINE_ENDS = frozenset({"\n", "\r\n", "\r"})


def _line_end(clusters: list[str], widths: list[int], beyond: int) -> int | None:
    """The index of the last line end whose text before it is longer than ``beyond``."""
    before = sum(widths)
    for i in range(len(clusters) - 1, 0, -1):
        before -= widths[i]
        if before <= beyond:
            return None
        if clusters[i] in _LINE_ENDS:
            return i
    return None


def _by_code_point(text: str, limit: TextLimit) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        width = limit.measure(char)
        if current and used + width > limit.size:
            pieces.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += width
    return [*pieces, "".join(current)] if current else pieces
