from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlp.text import Normaliser, TextTools


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３，退款！", "abc123,退款!"),  # full-width folded, case folded
        ("我們的快遞員態度惡劣", "我们的快递员态度恶劣"),  # 繁體 → 简体
        ("物業費太貴", "物业费太贵"),
        ("VIP Refund", "vip refund"),
        ("😡😡", "😡😡"),
        ("", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert Normaliser()(raw) == expected


def test_tokens_drop_punctuation_and_space_but_keep_words(tools: TextTools) -> None:
    tokens = tools.tokens(tools.normalise("快递员态度恶劣!!! 乱扣费, refund please 😡"))
    assert "态度恶劣" in tokens  # from the project's user dictionary
    assert "乱扣费" in tokens
    assert "refund" in tokens
    assert "!" not in tokens
    assert " " not in tokens
    assert "😡" not in tokens


@pytest.mark.parametrize("text", ["", "   ", "😡😡😡", "!!!???", "a" * 5000, "\x00\x01"])
def test_tokens_never_crash(tools: TextTools, text: str) -> None:
    assert isinstance(tools.tokens(tools.normalise(text)), list)


def test_extra_words_become_tokens_only_for_their_own_tools(cache_dir: Path) -> None:
    plain = TextTools(cache_dir)
    custom = TextTools(cache_dir, extra_words=["打不着火了"])
    text = "车子打不着火了"
    assert "打不着火了" in custom.tokens(text)
    assert "打不着火了" not in plain.tokens(text)


def test_jieba_cache_goes_to_the_cache_dir(tmp_path: Path) -> None:
    TextTools(tmp_path / "cache")
    assert any(p.name.endswith(".cache") for p in (tmp_path / "cache").iterdir())
