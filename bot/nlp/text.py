"""Text normalisation and jieba tokens, the one place kesu imports jieba and OpenCC.

Normalised text is what every rule and keyword sees: NFKC (full-width letters, digits and
punctuation become half-width), Traditional converted to Simplified by OpenCC (so 繁體
complaints match simplified keywords), and case folded (so "VIP" matches "vip").
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from pathlib import Path

import jieba
import opencc

log = logging.getLogger(__name__)

# jieba announces every dictionary load on its own logger at DEBUG; keep it for -v only.
jieba.setLogLevel(logging.WARNING)

#: A token worth scoring has at least one CJK character, letter or digit.
_WORDLIKE = re.compile(r"[0-9a-z\u3400-\u9fff\uf900-\ufaff]")


def default_cache_dir() -> Path:
    """Where jieba keeps its prefix-dictionary cache: second starts load in a fraction."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kesu"


class Normaliser:
    """Cheap to build (no dictionary load): taxonomy checks use it without starting jieba."""

    def __init__(self) -> None:
        self._t2s = opencc.OpenCC("t2s")

    def __call__(self, text: str) -> str:
        return str(self._t2s.convert(unicodedata.normalize("NFKC", text))).casefold()


#: What 被投诉对象 spellings may differ by and still be one party: spaces and punctuation.
_PARTY_NOISE = re.compile(r"[\W_]+", re.UNICODE)
PARTY_KEY_LENGTH = 256


@cache
def _normaliser() -> Normaliser:
    return Normaliser()


def normalise(text: str) -> str:
    """NFKC, 繁→简, case folded: what a rule over words sees (no jieba needed)."""
    return _normaliser()(text)


def party_key(party: str | None) -> str | None:
    """The party (被投诉对象) as cases are counted together by it: NFKC, 繁→简, case
    folded, without spaces or punctuation — 「三堰 加油站」 and 「三堰加油站 」 are one.
    None for no party (cases without one never count together)."""
    if not party:
        return None
    return _PARTY_NOISE.sub("", _normaliser()(party))[:PARTY_KEY_LENGTH] or None


class TextTools:
    """Normaliser + tokenizer; build one per process (or per taxonomy) and share it.

    Each instance owns its jieba dictionary, so a taxonomy's keywords added as words never
    change how another taxonomy segments text.
    """

    def __init__(self, cache_dir: Path | None = None, extra_words: Iterable[str] = ()) -> None:
        self.normalise = Normaliser()
        self._jieba = jieba.Tokenizer()
        cache = cache_dir or default_cache_dir()
        try:
            cache.mkdir(parents=True, exist_ok=True)
            self._jieba.tmp_dir = str(cache)
        except OSError as exc:  # read-only home: still works, just builds the dict each start
            log.warning("jieba cache dir %s not writable (%s); starts will be slower", cache, exc)
        self._jieba.initialize()
        # An open file, not a path: jieba leaves files it opens itself unclosed.
        with (files("bot.nlp") / "userdict.txt").open("rb") as userdict:
            self._jieba.load_userdict(userdict)
        for word in extra_words:
            self.add_word(word)

    def add_word(self, word: str) -> None:
        """Make ``word`` come out as one token, if jieba would otherwise split it."""
        word = self.normalise(word).strip()
        if word and len(self._jieba.lcut(word, HMM=False)) > 1:
            self._jieba.add_word(word)

    def tokens(self, normalised: str) -> list[str]:
        """jieba tokens of already normalised text, whitespace and punctuation dropped.

        Without jieba's HMM new-word discovery: keywords are dictionary words (or added as
        such), so guessing unknown words only glues characters around them. Measured on the
        dev set: about 30% faster and no worse (macro-F1 0.932 vs 0.922 with HMM).
        """
        return [t for t in self._jieba.lcut(normalised, HMM=False) if _WORDLIKE.search(t)]

    def raw_cut(self, text: str) -> list[str]:
        """Bare ``jieba.lcut`` with this dictionary: the benchmark's baseline."""
        return list(self._jieba.lcut(text))


class Traditional:
    """简体 → 繁體 for the customer-facing texts of zh-hant customers.

    OpenCC s2tw: Taiwan-standard character forms (這裡, 為), which readers in Hong Kong and
    overseas read as naturally; no phrase replacement, so the wording stays ours.
    """

    def __init__(self) -> None:
        self._s2t = opencc.OpenCC("s2tw")

    def __call__(self, text: str) -> str:
        return str(self._s2t.convert(text))
