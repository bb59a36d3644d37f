"""Text that shows nothing counts as nothing (issue 13: invisible-only text opened cases)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.words import blank

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u3000",  # ideographic space
    "\ufeff",  # byte-order mark
    "\u200d",  # zero-width joiner
    "\u200e\u202e",  # bidi marks
    "\u2060",  # word joiner
    "\u3164",  # Hangul filler
    "\u2800",  # blank Braille pattern
    "\u00ad",  # soft hyphen
    "\ufe0f",  # variation selector
    " \t\n\r\u00a0",
]


def test_invisible_only_text_is_blank() -> None:
    assert blank(None)
    assert blank("")
    for text in INVISIBLE:
        assert blank(text), repr(text)
    assert blank("".join(INVISIBLE))


def test_anything_that_shows_is_not_blank() -> None:
    for text in ("乱", "a", "1", "😀", "。", "\u200b乱收费\u200b", "❤\ufe0f", "ㄅ"):
        assert not blank(text), repr(text)


@given(st.lists(st.sampled_from(INVISIBLE)), st.text(min_size=1, alphabet="加油站多收钱abc123😡!"))
def test_one_visible_character_among_invisible_ones_is_words(
    padding: list[str], words: str
) -> None:
    assert blank("".join(padding))
    assert not blank("".join(padding) + words + "".join(padding))
