"""Words between Slack and kesu: what a customer wrote, shown in Slack as typed; what staff
typed in Slack, given to the customer as they meant it.

Everything a customer wrote is escaped (``&``, ``<``, ``>``): a complaint reading
``<!channel>`` or ``<@U123>`` or ``<https://evil|bank>`` shows as those characters, it never
pings the channel, mentions anyone or hides a link. Only the desk's own ``{slack:U…}`` tokens
become mentions, and only in the desk's own words.
"""

from __future__ import annotations

import re

CONTENT_SHOWN = 2500  # of the customer's words on the card; Details shows them all
_ACTOR = re.compile(r"\{(slack:[UW][A-Z0-9]+|customer:[^{}]+|[a-z]+:[^{}]*)\}")
_MENTION = re.compile(r"<[@!][^<>]*>\s?")
_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_BARE = re.compile(r"<([^<>]+)>")
_DESK_MENTION = re.compile(r"\{slack:([A-Z0-9]+)\}")


def esc(text: str) -> str:
    """Slack's three control characters, as its docs ask; the rest shows as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def actor_label(actor: str | None) -> str:
    """``slack:U1`` → a mention; customers and programs → words (already escaped)."""
    if not actor:
        return "未认领 unclaimed"
    if actor.startswith("slack:"):
        return f"<@{actor.removeprefix('slack:')}>"
    if actor.startswith("customer:"):
        return "客户 customer"
    return esc(actor)


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
    for ch in text:
        cost = len(esc(ch)) + (1 if ch == "\n" else 0)
        if used + cost > budget:
            break
        used += cost
        kept += 1
    body = text if kept == len(text) else text[:kept] + f"… (+{len(text) - kept} 字)"
    return "\n".join(f">{esc(line)}" if line else ">" for line in body.split("\n"))


def plain_from_slack(text: str) -> str:
    """A Slack message's text as a person typed it, for the customer: mentions of colleagues
    dropped, links to their labels, entities back to characters (no ``&lt;``)."""
    text = _MENTION.sub("", text)  # a colleague's @mention means nothing to the customer
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _BARE.sub(lambda m: m.group(1).lstrip("@#!"), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
