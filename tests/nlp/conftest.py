from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlp.classifier import Classifier
from bot.nlp.text import TextTools


@pytest.fixture(scope="session")
def classifier(cache_dir: Path) -> Classifier:
    """The shipped default taxonomy; loading jieba once per session keeps the suite quick."""
    return Classifier.load("default", cache_dir)


@pytest.fixture(scope="session")
def tools(cache_dir: Path) -> TextTools:
    return TextTools(cache_dir)
