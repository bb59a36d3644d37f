from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlp.text import TextTools


@pytest.fixture(scope="session")
def tools(cache_dir: Path) -> TextTools:
    return TextTools(cache_dir)
