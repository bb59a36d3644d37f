"""When a customer's or a staff member's text says nothing.

``str.strip()`` leaves zero-width spaces (U+200B), byte-order marks (U+FEFF), bidi marks, the
Hangul filler (U+3164) and the blank Braille pattern (U+2800): a message of only those looks
empty to a person yet passed every ``if not text.strip()`` and opened a case with no words.
Every emptiness check in kesu asks :func:`blank` instead. The words themselves are never
changed: a visible message keeps its invisible characters, verbatim.
"""

from __future__ import annotations

import regex

#: White space, format and control characters, what Unicode says to ignore when drawing
#: (Default_Ignorable_Code_Point: zero-width joiners, variation selectors, fillers), and the
#: blank Braille pattern, which draws as a space but is a symbol.
_INVISIBLE = regex.compile(r"[\s\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}\p{Z}\u2800]*")


def blank(text: str | None) -> bool:
    """True when nothing in ``text`` would show: None, empty, or only invisible characters."""
    return text is None or _INVISIBLE.fullmatch(text) is not None
