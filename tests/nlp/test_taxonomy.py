"""Taxonomy files: every mistake a desk can make is reported with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlp.taxonomy import (
    PRESETS,
    TaxonomyError,
    dump_taxonomy,
    load_taxonomy,
    locate,
    parse_taxonomy,
)
from bot.nlp.text import Normaliser

norm = Normaliser()

GOOD = """\
[taxonomy]
id = "desk"
name_zh = "测试"
name_en = "Test"

[[category]]
id = "billing"
name_zh = "费用"
name_en = "Billing"
[category.keywords]
"退款" = 2
"扣费" = 3

[[category]]
id = "staff"
name_zh = "态度"
name_en = "Staff"
[category.keywords]
"态度" = 3
[category.negative]
"退款" = 1

[[category]]
id = "other"
name_zh = "其他"
name_en = "Other"
"""


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(TaxonomyError) as info:
        parse_taxonomy(text, "desk.toml", norm)
    return [(p.line, p.message) for p in info.value.problems]


def test_good_file_parses() -> None:
    t = parse_taxonomy(GOOD, "desk.toml", norm)
    assert t.ids == ["billing", "staff", "other"]
    assert t.get("staff").negative == {"退款": 1}
    assert t.taxonomy.fallback == "other"


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_are_valid(preset: str) -> None:
    t = load_taxonomy(preset, norm)
    assert t.taxonomy.fallback in t.ids


def test_unknown_key_names_its_line() -> None:
    text = GOOD.replace('name_en = "Staff"\n', 'name_en = "Staff"\nkeywrods = 1\n')
    [(line, message)] = problems(text)
    assert line == text.splitlines().index("keywrods = 1") + 1
    assert "category.1.keywrods" in message


def test_duplicate_keyword_after_normalisation() -> None:
    text = GOOD.replace('"扣费" = 3\n', '"扣费" = 3\n"退款 " = 1\n')  # trailing space
    [(line, message)] = problems(text)
    assert line == text.splitlines().index('"退款 " = 1') + 1
    assert "duplicate keyword" in message


def test_traditional_duplicate_is_a_duplicate() -> None:
    text = GOOD.replace('"态度" = 3\n', '"态度" = 3\n"態度" = 2\n')
    [(line, message)] = problems(text)
    assert line == text.splitlines().index('"態度" = 2') + 1
    assert "態度" in message


def test_empty_category_and_missing_fallback_all_at_once() -> None:
    text = GOOD.replace('[category.keywords]\n"态度" = 3\n', "").replace(
        'id = "other"', 'id = "misc"'
    )
    found = problems(text)
    messages = " | ".join(m for _, m in found)
    assert "category 'staff' is empty" in messages
    assert "fallback category 'other' is not defined" in messages
    assert all(line is not None for line, _ in found)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('"扣费" = 3', '"扣费" = -3'), "greater than 0"),
        (('"扣费" = 3', '"扣费" = "high"'), "valid number"),
        (('id = "billing"', 'id = " billing"'), "pattern"),
        (('[[category]]\nid = "staff"', '[[category]]\nid = "billing"'), "duplicate category id"),
        (('"扣费" = 3', '"扣费" = 3\n"扣费" = 4'), "not valid TOML"),
        (('name_zh = "测试"\n', ""), "taxonomy.name_zh"),
    ],
)
def test_other_mistakes(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert any(expected in m for _, m in found), found
    assert all(line is not None for line, _ in found), found


def test_locate_finds_keys_tables_and_array_elements() -> None:
    lines = GOOD.splitlines()
    assert locate(GOOD, ("category", 1, "negative", "退款")) == lines.index('"退款" = 1') + 1
    assert locate(GOOD, ("category", 2)) == len(lines) - 3
    assert locate(GOOD, ("taxonomy", "id")) == 2
    assert locate(GOOD, ("nowhere",)) is None


def test_dump_round_trips() -> None:
    t = load_taxonomy("default", norm)
    again = parse_taxonomy(dump_taxonomy(t, "a header\nline two"), "dumped", norm)
    assert again == t


def test_dump_escapes_awkward_keywords() -> None:
    t = parse_taxonomy(GOOD.replace('"扣费" = 3', '"扣\\"费\\\\" = 3'), "x", norm)
    assert parse_taxonomy(dump_taxonomy(t), "x", norm) == t


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(missing, norm)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TaxonomyError, match="not UTF-8"):
        load_taxonomy(binary, norm)
