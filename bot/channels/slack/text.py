"""Words between Slack and kesu: what a customer wrote, shown in Slack as typed; what staff
typed in Slack, given to the customer as they meant it.

Everything a customer wrote is escaped (``&``, ``<``, ``>``): a complaint reading
``<!channel>`` or ``<@U123>`` or ``<https://evil|bank>`` shows as those characters, it never
pings the channel, mentions anyone or hides a link. Only the desk's own ``{slack:U…}`` tokens
become mentions, and only in the desk's own words.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

import regex

CONTENT_SHOWN = 2500  # of the customer's words on the card; Details shows them all
_ACTOR = re.compile(r"\{(slack:[UWS][A-Z0-9]+|customer:[^{}]+|[a-z]+:[^{}]*)\}")
#: One piece of Slack's markup (``<…>``, an entity) or of plain text: what a cut keeps whole.
_MARKUP = re.compile(r"<([^<>]*)>|&(amp|lt|gt);")
_ATOMS = regex.compile(r"<[^<>]*>|&(?:amp|lt|gt);|\X")
_GRAPHEMES = regex.compile(r"\X")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
#: Left where a token meaning nothing outside Slack was; no character Slack delivers.
_GONE = "\x00"
_GAP = re.compile(r"[ \t]*\x00(?:[ \t]*\x00)*[ \t]*")
_DESK_MENTION = re.compile(r"\{slack:([A-Z0-9]+)\}")


def esc(text: str) -> str:
    """Slack's three control characters, as its docs ask; the rest shows as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def actor_label(actor: str | None) -> str:
    """``slack:U1`` → a mention; customers and programs → words (already escaped)."""
    if not actor:
        return "未认领 unclaimed"
    if actor.startswith("slack:S"):  # a user group (on duty, a role): Slack pings its members
        return f"<!subteam^{actor.removeprefix('slack:')}>"
    if actor.startswith("slack:"):
        return f"<@{actor.removeprefix('slack:')}>"
    if actor.startswith("customer:"):
        return "客户 customer"
    return esc(actor)


def is_group(person: str) -> bool:
    """A Slack user group id (S…) rather than a user id (U…, W…)."""
    return person.startswith("S")


def mention(person: str) -> str:
    """How a message names someone the roles list: a user, or a whole user group."""
    return f"<!subteam^{person}>" if is_group(person) else f"<@{person}>"


def desk_text(text: str) -> str:
    """The desk's own words: escaped, then its ``{actor}`` tokens become mentions."""
    return _ACTOR.sub(lambda m: actor_label(m.group(1)), esc(text))


def unmention(text: str) -> str:
    """Slack shows form errors as plain text: ``{slack:U1}`` becomes the id, not a mention."""
    return _DESK_MENTION.sub(r"@\1", text)


def quote(text: str, limit: int = CONTENT_SHOWN) -> str:
    """Customer or staff words as a Slack quote, escaped and cut with a visible mark.

    ``limit`` counts what Slack receives (``&lt;`` is four characters, every line's ``>`` one),
    so a complaint of 3,000 ``<`` still fits its block and still says how much was cut."""
    budget, used, kept = limit - 16, 0, 0  # room for the "… (+N 字)" mark
    for grapheme in _GRAPHEMES.findall(text):  # never half an emoji or a flag
        cost = len(esc(grapheme)) + grapheme.count("\n")
        if used + cost > budget:
            break
        used += cost
        kept += len(grapheme)
    body = text if kept == len(text) else text[:kept] + f"… (+{len(text) - kept} 字)"
    return "\n".join(f">{esc(line)}" if line else ">" for line in body.split("\n"))


def cut(text: str, limit: int, mark: str = "…", *, mrkdwn: bool = False) -> str:
    """``text`` within ``limit`` characters, ``mark`` included when it had to be cut.

    The cut falls between grapheme clusters (never inside an emoji's ZWJ sequence, a flag or a
    character and its accents); in ``mrkdwn`` also never inside ``&amp;`` or a ``<@U…>``
    mention or a ``<url|label>`` link — half of one shows as garbage, or breaks the markup of
    everything after it."""
    if len(text) <= limit:
        return text
    budget, kept = limit - len(mark), 0
    for atom in (_ATOMS if mrkdwn else _GRAPHEMES).finditer(text):
        if atom.end() > budget:
            break
        kept = atom.end()
    return text[:kept] + mark


def plain_from_slack(text: str, tz: tzinfo = UTC) -> str:
    """A Slack message's text as its writer meant it, for a customer outside Slack.

    Following Slack's "Formatting text for app surfaces": a link ``<url|label>`` becomes
    ``label (url)`` — or just the URL when there is no label or it only repeats the URL
    (``mailto:`` links: the address); a date ``<!date^ts^format|fallback>`` its fallback (none:
    the time in ``tz``). What means something only inside Slack — a colleague's ``<@U…>``, a
    ``<#C…|channel>``, ``<!here>``, ``<!channel>``, ``<!subteam^…>`` — is dropped with the
    space it leaves. ``&amp;``, ``&lt;`` and ``&gt;`` become characters exactly once, so
    what staff typed as ``&lt;`` reaches the customer as ``&lt;``."""

    def one(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return _ENTITIES[match.group(2)]
        return _token(match.group(1), tz)

    plain = _MARKUP.sub(one, text.replace(_GONE, ""))
    return _GAP.sub(lambda gap: _close(gap, plain), plain)


def _unescape(text: str) -> str:
    return _MARKUP.sub(lambda m: _ENTITIES.get(m.group(2) or "", m.group(0)), text)


def _token(inner: str, tz: tzinfo) -> str:
    """One ``<…>`` of Slack's markup, for the customer (``_GONE`` when it means nothing)."""
    target, _, label = inner.partition("|")
    if target.startswith("!date^"):
        if label:
            return _unescape(label)
        try:
            return f"{datetime.fromtimestamp(int(target.split('^')[1]), tz):%Y-%m-%d %H:%M}"
        except (ValueError, OverflowError, OSError):  # not a time a computer can show
            return _GONE
    if target[:1] in ("@", "#", "!"):
        return _GONE  # a colleague, a channel, @here/@channel/@everyone, a user group
    url, label = _unescape(target), _unescape(label).strip()
    shown = url.removeprefix("mailto:")
    if not label or label in (url, shown) or url.split("://", 1)[-1] == label:
        return shown
    return f"{label} ({shown})"


def _close(gap: re.Match[str], text: str) -> str:
    """What stays where dropped tokens were: one space between words, nothing at a line's
    start or end."""
    before = gap.start() == 0 or text[gap.start() - 1] == "\n"
    after = gap.end() == len(text) or text[gap.end()] == "\n"
    return "" if before or after else " "
