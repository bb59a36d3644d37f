"""Keyword classification (关键词分类) that explains itself.

Each category's score is its prior plus the weights of the taxonomy's words present in the
text (each distinct word counted once, negative words subtracted); a softmax turns scores into
confidences. That is a linear model over bag-of-words, so a learned taxonomy is scored exactly
like a hand-written one, and every suggestion carries the words that made it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bot.nlp.taxonomy import Taxonomy, load_taxonomy
from bot.nlp.text import Normaliser, TextTools

#: Characters looked at; Telegram's limit is 4096, a pasted document longer than this adds
#: nothing to the category and would only cost time.
MAX_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class Keyword:
    word: str
    weight: float


@dataclass(frozen=True, slots=True)
class Alternative:
    category: str
    confidence: float
    keywords: tuple[Keyword, ...]


@dataclass(frozen=True, slots=True)
class Suggestion:
    category: str
    confidence: float
    keywords: tuple[Keyword, ...]  # what made it, strongest first
    alternatives: tuple[Alternative, ...]  # ranked, best first; the dialogue's "否,换一个"
    confident: bool  # False: fell back, ask the customer to pick

    def explaining(self, category: str, limit: int = 10) -> list[str]:
        """The words in favour of ``category`` (the customer's or staff's choice, which need not
        be the best guess), strongest first; none when the words say nothing for it."""
        if category == self.category:
            found = self.keywords
        else:
            found = next((a.keywords for a in self.alternatives if a.category == category), ())
        return [k.word for k in found if k.weight > 0][:limit]


class Classifier:
    def __init__(self, taxonomy: Taxonomy, tools: TextTools) -> None:
        self.taxonomy = taxonomy
        self.tools = tools
        self._ids = taxonomy.ids
        self._priors = [c.prior for c in taxonomy.category]
        self._fallback = self._ids.index(taxonomy.taxonomy.fallback)
        self._min_confidence = taxonomy.taxonomy.min_confidence
        # A learned taxonomy's priors already rank the categories when no word matches.
        self._has_priors = any(p != 0.0 for p in self._priors)
        index: dict[str, list[tuple[int, float]]] = {}
        for i, cat in enumerate(taxonomy.category):
            for word, weight in cat.keywords.items():
                index.setdefault(tools.normalise(word).strip(), []).append((i, weight))
            for word, weight in cat.negative.items():
                index.setdefault(tools.normalise(word).strip(), []).append((i, -weight))
        self._index = index

    @classmethod
    def load(cls, name_or_path: str | Path, cache_dir: Path | None = None) -> Classifier:
        """Load a taxonomy (preset name or file) and a tokenizer that knows its words."""
        taxonomy = load_taxonomy(name_or_path, Normaliser())
        words = [w for c in taxonomy.category for w in (*c.keywords, *c.negative)]
        return cls(taxonomy, TextTools(cache_dir, extra_words=words))

    def classify(self, text: str) -> Suggestion:
        normalised = self.tools.normalise(text[:MAX_CHARS])
        return self.classify_tokens(self.tools.tokens(normalised))

    def classify_tokens(self, tokens: list[str]) -> Suggestion:
        scores = list(self._priors)
        hits: list[list[Keyword]] = [[] for _ in self._ids]
        for token in set(tokens):
            for i, weight in self._index.get(token, ()):
                scores[i] += weight
                hits[i].append(Keyword(token, weight))
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        probs = [e / total for e in exps]
        ranked = sorted(range(len(self._ids)), key=lambda i: (-probs[i], self._ids[i]))
        best = ranked[0]
        matched = any(hits) or self._has_priors
        tied = len(ranked) > 1 and probs[ranked[1]] == probs[best]  # a coin flip: ask instead
        confident = matched and not tied and probs[best] >= self._min_confidence
        chosen = best if confident else self._fallback
        alternatives = tuple(
            Alternative(self._ids[i], round(probs[i], 4), _strongest(hits[i]))
            for i in ranked
            if i != chosen and (hits[i] or self._priors[i] != 0.0)
        )
        return Suggestion(
            category=self._ids[chosen],
            confidence=round(probs[chosen], 4),
            keywords=_strongest(hits[chosen]),
            alternatives=alternatives,
            confident=confident,
        )


def _strongest(keywords: list[Keyword]) -> tuple[Keyword, ...]:
    return tuple(sorted(keywords, key=lambda k: (-abs(k.weight), k.word)))
