"""One pass over a complaint: normalise once, then category suggestion and risk signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.nlp.classifier import MAX_CHARS, Classifier, Suggestion
from bot.nlp.signals import Signals, signals


@dataclass(frozen=True, slots=True)
class Analysis:
    suggestion: Suggestion
    signals: Signals
    truncated: bool  # only the first MAX_CHARS characters were read

    def as_json(self) -> dict[str, Any]:
        s = self.suggestion
        return {
            "category": s.category,
            "confidence": s.confidence,
            "confident": s.confident,
            "keywords": [{"word": k.word, "weight": k.weight} for k in s.keywords],
            "alternatives": [
                {
                    "category": a.category,
                    "confidence": a.confidence,
                    "keywords": [{"word": k.word, "weight": k.weight} for k in a.keywords],
                }
                for a in s.alternatives
            ],
            "priority": self.signals.priority.value,
            "severity": self.signals.severity.value,
            "signals": [{"flag": f.name, "words": list(f.words)} for f in self.signals.flags],
            "amounts": list(self.signals.amounts),
            "people": self.signals.people,
            "truncated": self.truncated,
        }


def keywords_of(classifier: Classifier, text: str, category: str) -> list[str]:
    """The words of ``text`` that explain ``category``: stored on a case once, when it is
    submitted or its category corrected, never recomputed while drawing a card."""
    return analyse(classifier, text).suggestion.explaining(category)


def analyse(classifier: Classifier, text: str) -> Analysis:
    normalised = classifier.tools.normalise(text[:MAX_CHARS])
    return Analysis(
        suggestion=classifier.classify_tokens(classifier.tools.tokens(normalised)),
        signals=signals(normalised),
        truncated=len(text) > MAX_CHARS,
    )
