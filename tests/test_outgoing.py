"""Long texts are cut when they are queued, one outbox row per part: at the platform's limit
as the platform counts it, never inside a grapheme cluster, with what acts on the whole
message on its last part. The store's part runs on every backend."""

from __future__ import annotations

import re

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from bot.clock import FrozenClock
from bot.desk import Desk, Staff
from bot.messages import Attachment, Button, FollowUp, OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.outgoing import (
    DEFAULT_LIMIT,
    TextLimit,
    TextLimits,
    enqueue,
    split_message,
    split_text,
)
from bot.services import CaseService, NewComplaint
from storage.db import Store
from storage.repositories import Tx
from storage.schema import Row
from tests.queries import pending

TELEGRAM = TextLimit(4096, "utf16")
SLACK = TextLimit(4000, "chars", escapes=(("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")))
FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one grapheme, 11 UTF-16 code units
FLAG = "🇨🇳"  # one grapheme, two regional indicators: 4 units
ACUTE = "e\u0301"  # e and a combining acute accent: one grapheme, 2 units
PIECES = ["投诉", "a", "😡", FAMILY, FLAG, "\n", ACUTE, " "]


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clusters(text: str) -> list[str]:
    return regex.findall(r"\X", text)


# -- the cut ---------------------------------------------------------------------------------


def test_a_text_of_exactly_the_limit_is_one_part_one_more_unit_makes_two() -> None:
    assert split_text("投" * 4096, TELEGRAM) == ["投" * 4096]
    assert split_text("投" * 4097, TELEGRAM) == ["投" * 4096, "投"]


def test_cjk_counts_one_unit_a_character() -> None:
    parts = split_text("投诉" * 5000, TELEGRAM)  # 10,000 characters of the BMP
    assert [len(p) for p in parts] == [4096, 4096, 1808]
    assert "".join(parts) == "投诉" * 5000


def test_a_surrogate_pair_counts_two_units_exactly_at_the_boundary() -> None:
    assert split_text("a" * 4094 + "😡", TELEGRAM) == ["a" * 4094 + "😡"]  # 4,096 units
    assert split_text("a" * 4095 + "😡", TELEGRAM) == ["a" * 4095, "😡"]  # 4,097: never half
    parts = split_text("😡" * 3000, TELEGRAM)  # 3,000 characters, 6,000 units
    assert parts == ["😡" * 2048, "😡" * 952]


@pytest.mark.parametrize("piece", [FAMILY, FLAG, ACUTE, "é"])
def test_an_emoji_sequence_a_flag_or_a_combining_mark_is_never_cut(piece: str) -> None:
    # The limit falls inside the piece: it moves whole to the next part.
    text = "a" * (4096 - units(piece) + 1) + piece
    assert split_text(text, TELEGRAM) == [text[: -len(piece)], piece]
    for filler in ("投诉" * 2047, "a" * 4093):  # and inside a run of pieces
        text = filler + piece * 40
        parts = split_text(text, TELEGRAM)
        assert "".join(parts) == text
        for part in parts:
            assert units(part) <= 4096
            assert set(clusters(part)) <= {piece, *clusters(filler)}


def test_a_line_end_in_the_second_half_is_where_it_cuts() -> None:
    first, second = "第一段" * 900, "第二段" * 900  # 2,700 + 2,700 units
    assert split_text(f"{first}\n{second}", TELEGRAM) == [first, second]
    assert split_text(f"{first}\r\n{second}", TELEGRAM) == [first, second]
    early = "短" * 1000  # a line end in the first half would waste a message: not used
    parts = split_text(f"{early}\n{'长' * 4000}", TELEGRAM)
    assert parts == [f"{early}\n{'长' * 3095}", "长" * 905]
    # A line break exactly where the part is full is the cut, not the next part's start.
    assert split_text("a" * 4096 + "\nb", TELEGRAM) == ["a" * 4096, "b"]


def test_empty_blank_and_short_texts_stay_as_they_are() -> None:
    assert split_text("", TELEGRAM) == [""]
    assert split_text("  \n", TELEGRAM) == ["  \n"]
    assert split_text("您好", TELEGRAM) == ["您好"]
    assert split_text("a" * 4096 + " " * 30, TELEGRAM) == ["a" * 4096]  # no blank part


def test_one_cluster_longer_than_a_message_goes_by_code_point() -> None:
    limit = TextLimit(5, "utf16")
    monster = "e" + "\u0301" * 11  # one grapheme of 12 units
    parts = split_text("ab" + monster, limit)
    assert parts[0] == "ab"
    assert "".join(parts) == "ab" + monster
    assert all(units(p) <= 5 for p in parts)


def test_limits_count_as_the_platform_counts() -> None:
    assert TELEGRAM.measure("😡" + FAMILY + "投") == 2 + 11 + 1
    assert TextLimit(10).measure("😡" + FAMILY + "投") == 1 + 7 + 1  # code points
    # Slack receives & < > escaped: & is five characters there.
    assert SLACK.measure("a&<>") == 1 + 5 + 4 + 4
    assert split_text("&" * 800, SLACK) == ["&" * 800]  # 4,000 as sent
    parts = split_text("&" * 801, SLACK)
    assert [len(p) for p in parts] == [800, 1]
    assert split_text("😡" * 4000, SLACK) == ["😡" * 4000]  # characters, not units


@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=3000))
def test_any_text_fits_keeps_its_order_and_loses_only_white_space_at_cuts(
    pieces: list[str],
) -> None:
    text = "".join(pieces)
    limit = TextLimit(300, "utf16")
    parts = split_text(text, limit)
    assert all(units(p) <= 300 for p in parts)
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)
    whole = {g for piece in PIECES for g in clusters(piece)}
    for part in parts:  # every cluster of every part is one of the text's, never a piece
        assert set(clusters(part)) <= whole
        assert part.strip() or len(parts) == 1


# -- what goes on which part -----------------------------------------------------------------


def follow(text: str) -> FollowUp:
    return FollowUp("slack", "CDESK0001", OutgoingMessage(text, edit="sent:1:2"))


LONG = ("😡" * 1500 + "\n") * 3  # 9,003 units: three parts for Telegram


def test_buttons_ref_files_and_follow_ups_go_on_the_last_part_thread_on_every_part() -> None:
    photo = Attachment("photo", "file-1")
    message = OutgoingMessage(
        LONG,
        buttons=((Button("是", "y"), Button("否", "n")),),
        request_contact="分享手机号",
        remove_keyboard=True,
        ref="card:7",
        thread="card:6",
        files=(photo,),
        files_from="telegram",
        on_sent=follow("{at}"),
        on_failed=follow("{error}"),
    )
    parts = split_message(message, TELEGRAM)
    assert len(parts) == 3
    assert "\n".join(p.text for p in parts) == LONG  # cut at the line ends
    *first, last = parts
    for part in first:
        assert part == OutgoingMessage(part.text, thread="card:6")
    assert (last.buttons, last.request_contact, last.remove_keyboard) == (
        message.buttons,
        "分享手机号",
        True,
    )
    assert (last.ref, last.thread, last.files, last.files_from) == (
        "card:7",
        "card:6",
        (photo,),
        "telegram",
    )
    assert (last.on_sent, last.on_failed) == (message.on_sent, message.on_failed)


def test_an_edit_or_a_card_is_never_cut_and_a_short_message_is_itself() -> None:
    edit = OutgoingMessage(LONG, edit="card:7")
    card = OutgoingMessage(LONG, thread="card:7", card={"kind": "line"})
    short = OutgoingMessage("您好", buttons=((Button("是", "y"),),))
    for message in (edit, card, short):
        assert split_message(message, TELEGRAM) == [message]


def test_unknown_channels_get_the_conservative_default() -> None:
    class Sender:
        channel = "telegram"
        text_limit = TELEGRAM

    class Fake:  # a test's sender declaring no limit
        channel = "fake"

    limits = TextLimits().learn([Sender(), Fake()])
    assert limits.get("telegram") == TELEGRAM
    assert limits.get("fake") == DEFAULT_LIMIT
    assert limits.get("webchat") == DEFAULT_LIMIT
    assert DEFAULT_LIMIT.size <= min(TELEGRAM.size, SLACK.size)
    assert DEFAULT_LIMIT.unit == "utf16"  # never more code points than units
    assert TextLimits(default=TextLimit(10)).get("x") == TextLimit(10)


# -- queueing: one row per part ----------------------------------------------------------------

LIMITS = TextLimits({"telegram": TELEGRAM})


async def queue(
    store: Store, clock: FrozenClock, message: OutgoingMessage, key: str | None
) -> int | None:
    async def work(tx: Tx) -> int | None:
        return await enqueue(
            tx,
            LIMITS,
            channel="telegram",
            recipient="42",
            message=message,
            now=clock.now(),
            dedupe_key=key,
        )

    result: int | None = await store.write(work)
    return result


async def rows(store: Store) -> list[Row]:
    async with store.read() as tx:
        return await pending(tx)


async def test_a_long_message_is_queued_as_one_row_per_part_in_order(
    store: Store, clock: FrozenClock
) -> None:
    message = OutgoingMessage(LONG, buttons=((Button("是", "y"),),), on_sent=follow("{at}"))
    last_id = await queue(store, clock, message, "telegram:9:0")
    queued = await rows(store)
    assert [r["dedupe_key"] for r in queued] == ["telegram:9:0#1", "telegram:9:0#2", "telegram:9:0"]
    assert queued[-1]["id"] == last_id
    assert [r["id"] for r in queued] == sorted(r["id"] for r in queued)
    parts = [OutgoingMessage.from_payload(r["payload"]) for r in queued]
    assert parts == split_message(message, TELEGRAM)
    assert parts[-1].buttons
    assert parts[-1].on_sent is not None
    assert all(units(p.text) <= 4096 for p in parts)


async def test_queued_again_under_its_key_it_is_not_queued_twice(
    store: Store, clock: FrozenClock
) -> None:
    long, short = OutgoingMessage(LONG), OutgoingMessage("您好")
    assert await queue(store, clock, long, "k:long") is not None
    assert await queue(store, clock, short, "k:short") is not None
    before = await rows(store)
    assert await queue(store, clock, long, "k:long") is None
    assert await queue(store, clock, short, "k:short") is None
    assert await rows(store) == before

    # Twice in one transaction (two desks listening to one change): queued once.
    async def twice(tx: Tx) -> list[int | None]:
        return [
            await enqueue(tx, LIMITS, channel="telegram", recipient="43", message=long,
                          now=clock.now(), dedupe_key="k:twice")
            for _ in range(2)
        ]  # fmt: skip

    first, second = await store.write(twice)
    assert first is not None
    assert second is None
    assert len(await rows(store)) == len(before) + 3


async def test_a_message_queued_whole_before_is_not_queued_again_in_parts(
    store: Store, clock: FrozenClock
) -> None:
    """A kesu that cut only when sending queued it whole under the same key."""

    async def whole(tx: Tx) -> int | None:
        return await tx.outbox.enqueue(
            channel="telegram",
            recipient="42",
            payload=OutgoingMessage(LONG).to_payload(),
            now=clock.now(),
            dedupe_key="k:old",
        )

    await store.write(whole)
    assert await queue(store, clock, OutgoingMessage(LONG), "k:old") is None
    assert [r["dedupe_key"] for r in await rows(store)] == ["k:old"]  # the parts were undone


async def test_without_a_key_every_part_has_none(store: Store, clock: FrozenClock) -> None:
    assert await queue(store, clock, OutgoingMessage(LONG), None) is not None
    assert [r["dedupe_key"] for r in await rows(store)] == [None, None, None]


# -- where messages are queued: the desk's reply to the customer -------------------------------


async def test_a_long_staff_reply_reaches_the_outbox_in_parts_the_receipt_on_the_last(
    service: CaseService, classifier: Classifier, store: Store
) -> None:
    limits = TextLimits({"telegram": TELEGRAM})
    # The customer's message is the use case's own (services/notify.py), the thread's the desk's.
    service.notices.text_limits = limits
    desk = Desk(service, classifier, channel="slack", staff_channel="CDESK0001", text_limits=limits)
    service.listeners.append(desk.projection.on_change)
    complaint = NewComplaint(
        channel="telegram",
        channel_user_id="42",
        content="加油站员工态度恶劣,还骂人",
        category="staff_attitude",
        contact="+8613800138000",
    )
    number = (await service.open_case(complaint)).number
    agent = Staff("slack", "UAGENT001", True)
    assert (await desk.actions.claim(number, agent)).ok
    words = "😡" * 3000  # within the reply form's 3,000 characters, 6,000 units
    assert (await desk.actions.reply(number, agent, words)).ok
    to_customer = [r for r in await rows(store) if r["channel"] == "telegram"]
    parts = [OutgoingMessage.from_payload(r["payload"]) for r in to_customer]
    assert len(parts) == 2
    assert "".join(p.text for p in parts).endswith(words)
    assert parts[0].on_sent is None
    assert parts[0].on_failed is None
    assert parts[1].on_sent is not None
    assert parts[1].on_failed is not None
    keys = [r["dedupe_key"] for r in to_customer]
    assert keys[1].endswith(":customer")
    assert keys[0] == f"{keys[1]}#1"
