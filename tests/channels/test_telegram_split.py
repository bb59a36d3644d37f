"""Long texts to Telegram: at most 4096 UTF-16 code units a message, as Telegram counts them,
cut at a line end or between grapheme clusters — never inside an emoji."""

from __future__ import annotations

import regex
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.telegram import split_text

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one grapheme, 11 UTF-16 code units
FLAG = "🇨🇳"  # one grapheme, two regional indicators
PIECES = ["投诉", "a", "😡", FAMILY, FLAG, "\n", "e\u0301", " "]


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_emoji_count_double_as_telegram_counts_them() -> None:
    text = "😡" * 3000  # 3,000 characters, 6,000 code units: too long for one message
    chunks = split_text(text)
    assert len(chunks) == 2
    assert all(units(c) <= 4096 for c in chunks)
    assert "".join(chunks) == text


def test_an_emoji_sequence_or_a_flag_is_never_cut() -> None:
    for piece in (FAMILY, FLAG, "é", "e\u0301"):
        text = "投诉" * 2047 + piece * 40  # the limit falls inside the run of pieces
        chunks = split_text(text)
        assert "".join(chunks) == text
        for chunk in chunks:
            assert units(chunk) <= 4096
            assert regex.findall(r"\X", chunk)[-1] in (piece, "诉")  # whole clusters only


def test_a_line_end_in_the_second_half_is_where_it_cuts() -> None:
    first, second = "第一段" * 900, "第二段" * 900  # 2,700 + 2,700 units
    chunks = split_text(f"{first}\n{second}")
    assert chunks == [first, second]  # the line break is the cut


def test_short_and_empty_texts() -> None:
    assert split_text("您好") == ["您好"]
    assert split_text("") == ["…"]  # Telegram refuses an empty message


@given(
    st.lists(
        st.sampled_from(PIECES),
        min_size=1,
        max_size=3000,
    )
)
def test_any_text_fits_and_loses_only_the_cut_line_breaks(pieces: list[str]) -> None:
    text = "".join(pieces)
    chunks = split_text(text, limit=300)
    assert all(units(c) <= 300 for c in chunks)
    assert "".join(chunks).replace("\n", "") == text.replace("\n", "")
    whole = {g for piece in PIECES for g in regex.findall(r"\X", piece)}
    for chunk in chunks:  # every cluster of every chunk is one of the text's, never a part
        assert set(regex.findall(r"\X", chunk)) <= whole
