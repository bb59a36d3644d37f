"""Keywords learned from a desk's own history, and the figures to judge a taxonomy by.

``learn`` fits a multinomial logistic regression (scikit-learn) on the presence of jieba
tokens and writes its strongest weights out as an ordinary keyword table: a person can read and
edit the result, and :class:`~bot.nlp.classifier.Classifier` scores it exactly as it scores a
hand-written file (prior + word weights, softmax).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from bot.domain.cases import DomainError
from bot.nlp.classifier import Classifier
from bot.nlp.taxonomy import CATEGORY_ID, Category, Meta, Taxonomy
from bot.nlp.text import TextTools

log = logging.getLogger(__name__)

_C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str
    line: int


def read_tsv(path: Path) -> tuple[list[Example], list[str]]:
    """``text<TAB>label`` lines; returns the examples and a message per line skipped."""
    examples: list[Example] = []
    skipped: list[str] = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DomainError(f"cannot read {path}: {exc.strerror}") from exc
    for number, raw_line in enumerate(raw.split(b"\n"), start=1):
        line = raw_line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            skipped.append(f"{path}:{number}: not UTF-8 (byte {exc.start})")
            continue
        body, tab, label = text.rpartition("\t")
        label = label.strip()
        if not tab or not body.strip() or not label:
            skipped.append(f"{path}:{number}: expected text<TAB>label")
            continue
        examples.append(Example(body.strip(), label, number))
    return examples, skipped


def learn(
    examples: Sequence[Example],
    tools: TextTools,
    *,
    base: Taxonomy | None = None,
    max_keywords: int = 1000,
    min_count: int = 2,
) -> Taxonomy:
    """A taxonomy whose categories are the labels and whose weights are mined from the data."""
    counts = Counter(e.label for e in examples)
    if len(counts) < 2:
        raise DomainError("learning needs at least two labels in the training data")
    too_small = sorted(label for label, n in counts.items() if n < 2)
    if too_small:
        raise DomainError(f"labels with fewer than 2 examples: {', '.join(too_small)}")
    for label in counts:
        if not re.match(CATEGORY_ID, label):
            raise DomainError(f"label {label!r} cannot name a category (control characters?)")

    docs = [tools.tokens(tools.normalise(e.text)) for e in examples]
    labels = [e.label for e in examples]
    vectorizer = CountVectorizer(
        analyzer=_identity, binary=True, min_df=min(min_count, len(examples))
    )
    x = vectorizer.fit_transform(docs)
    if x.shape[1] == 0:
        raise DomainError("no word occurs often enough to learn from (try --min-count 1)")
    folds = min(5, *counts.values())
    model: LogisticRegression
    if folds >= 2:
        search = GridSearchCV(
            LogisticRegression(max_iter=2000),
            {"C": list(_C_GRID), "class_weight": [None, "balanced"]},
            scoring="f1_macro",
            cv=StratifiedKFold(n_splits=folds),
            n_jobs=-1 if len(examples) > 2000 else None,  # processes pay off on big histories
        )
        search.fit(x, labels)
        model = search.best_estimator_
        log.info("learn: %s (cv macro-F1 %.3f)", search.best_params_, search.best_score_)
    else:
        model = LogisticRegression(max_iter=2000).fit(x, labels)
    classes = [str(c) for c in model.classes_]
    coef = np.asarray(model.coef_, dtype=float)
    intercept = np.asarray(model.intercept_, dtype=float)
    if len(classes) == 2:  # binary: one vector; split it so both sides read naturally
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    vocabulary = vectorizer.get_feature_names_out()
    categories = [
        _category(
            label,
            weights=coef[i],
            prior=float(intercept[i]),
            vocabulary=vocabulary,
            max_keywords=max_keywords,
            base=base,
        )
        for i, label in enumerate(classes)
    ]
    if base is not None and base.taxonomy.fallback in counts:
        meta = base.taxonomy.model_copy(update={"id": "learned"})
    else:
        fallback = "other" if "other" in counts else counts.most_common(1)[0][0]
        meta = Meta(
            id="learned",
            name_zh="学习所得分类",
            name_en="Learned taxonomy",
            description=f"learned from {len(examples)} labelled complaints",
            fallback=fallback,
            # The model's probabilities are its own confidence; always take its best guess.
            min_confidence=0.0,
        )
    return Taxonomy(taxonomy=meta, category=categories)


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _category(
    label: str,
    *,
    weights: np.ndarray,
    prior: float,
    vocabulary: np.ndarray,
    max_keywords: int,
    base: Taxonomy | None,
) -> Category:
    order = np.argsort(-np.abs(weights), kind="stable")[:max_keywords]
    keywords = {str(vocabulary[j]): round(float(weights[j]), 4) for j in order if weights[j] > 1e-4}
    negative = {
        str(vocabulary[j]): round(float(-weights[j]), 4) for j in order if weights[j] < -1e-4
    }
    fields: dict[str, object] = {"id": label, "name_zh": label, "name_en": label}
    if base is not None and label in base.ids:
        known = base.get(label)
        fields.update(
            name_zh=known.name_zh,
            name_en=known.name_en,
            description=known.description,
            owner=known.owner,
        )
        for word, weight in known.keywords.items():  # the desk's own words the data lacked
            if word not in keywords and word not in negative:
                keywords[word] = weight
    return Category.model_validate(
        fields | {"prior": round(prior, 4), "keywords": keywords, "negative": negative}
    )


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    macro_f1: float
    labels: list[str]  # the gold labels, the rows of the matrix
    columns: list[str]  # gold labels then any other category predicted
    confusion: list[list[int]]
    per_class: dict[str, tuple[float, float, float, int]]  # precision, recall, F1, support
    count: int


def evaluate(classifier: Classifier, examples: Iterable[Example]) -> Evaluation:
    """Accuracy and macro-F1 over the gold labels; a prediction outside them (e.g. the
    fallback ``other``) counts as a miss, never as a free pass."""
    gold: list[str] = []
    predicted: list[str] = []
    for e in examples:
        gold.append(e.label)
        predicted.append(classifier.classify(e.text).category)
    if not gold:
        raise DomainError("no examples to evaluate")
    labels = sorted(set(gold))
    columns = labels + sorted(set(predicted) - set(labels))
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    matrix = confusion_matrix(gold, predicted, labels=columns)[: len(labels)]
    return Evaluation(
        accuracy=float(accuracy_score(gold, predicted)),
        macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        labels=labels,
        columns=columns,
        confusion=[[int(v) for v in row] for row in matrix],
        per_class={
            label: (float(p[i]), float(r[i]), float(f[i]), int(s[i]))
            for i, label in enumerate(labels)
        },
        count=len(gold),
    )
