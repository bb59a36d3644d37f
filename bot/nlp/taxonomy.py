"""Taxonomy files (投诉分类表): categories with weighted keywords, edited by a person.

A file is TOML::

    [taxonomy]
    id = "default"
    name_zh = "通用投诉分类"
    name_en = "General complaints"
    fallback = "other"        # what a low-confidence suggestion falls back to
    min_confidence = 0.5      # below this the customer is asked to pick

    [[category]]
    id = "billing"
    name_zh = "价格/费用问题"
    name_en = "Price / charges"
    owner = "财务部"
    [category.keywords]       # word = weight; the more telling, the higher
    "退款" = 2.5
    [category.negative]       # words that point away from this category
    "建议" = 1.0

Every problem found is reported with the line it stands on, all at once, so a desk can fix a
file in one go.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain.cases import DomainError

PRESETS = ("default", "real_estate", "internet_platform")

Weight = Annotated[float, Field(gt=0, le=1000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: A category id is what a desk's history calls the category: ``billing``, ``退款问题``, ``3``.
#: Anything printable without leading/trailing space, up to 64 characters.
CATEGORY_ID = r"^[^\s\x00-\x1f](?:[^\x00-\x1f]{0,62}[^\s\x00-\x1f])?$"


class Category(_Strict):
    id: Annotated[str, Field(pattern=CATEGORY_ID)]
    name_zh: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    description: str = ""
    owner: str = ""  # default owner team (默认处理部门)
    prior: float = 0.0  # score before any word is seen; learned taxonomies set it
    keywords: dict[str, Weight] = {}
    negative: dict[str, Weight] = {}


class Meta(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    name_zh: str
    name_en: str
    description: str = ""
    fallback: str = "other"
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.5


class Taxonomy(_Strict):
    taxonomy: Meta
    category: Annotated[list[Category], Field(min_length=2)]

    def get(self, category_id: str) -> Category:
        for c in self.category:
            if c.id == category_id:
                return c
        raise KeyError(category_id)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.category]


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    message: str


class TaxonomyError(DomainError):
    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}:{p.line or '?'}: {p.message}" for p in problems]
        super().__init__("\n".join(lines))


def preset_path(name: str) -> Path:
    return Path(str(files("bot.nlp") / "taxonomies" / f"{name}.toml"))


def resolve(name_or_path: str | Path) -> Path:
    """A preset name (``default``, ``real_estate`` …) or a path to a file."""
    if isinstance(name_or_path, str) and name_or_path in PRESETS:
        return preset_path(name_or_path)
    return Path(name_or_path)


def load_taxonomy(name_or_path: str | Path, normalise: Callable[[str], str]) -> Taxonomy:
    path = resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaxonomyError(str(path), [Problem(None, f"cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise TaxonomyError(str(path), [Problem(None, f"not UTF-8: {exc}")]) from exc
    return parse_taxonomy(text, str(path), normalise)


def parse_taxonomy(text: str, source: str, normalise: Callable[[str], str]) -> Taxonomy:
    """Parse and check; raises TaxonomyError listing every problem with its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        raise TaxonomyError(source, [Problem(line, f"not valid TOML: {exc}")]) from exc
    try:
        taxonomy = Taxonomy.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(locate(text, tuple(err["loc"])), f"{_dotted(err['loc'])}: {err['msg']}")
            for err in exc.errors()
        ]
        raise TaxonomyError(source, problems) from exc
    problems = _semantic_problems(taxonomy, text, normalise)
    if problems:
        raise TaxonomyError(source, problems)
    return taxonomy


def _semantic_problems(
    taxonomy: Taxonomy, text: str, normalise: Callable[[str], str]
) -> list[Problem]:
    problems: list[Problem] = []
    seen_ids: set[str] = set()
    for i, cat in enumerate(taxonomy.category):
        here = ("category", i)
        if cat.id in seen_ids:
            problems.append(
                Problem(locate(text, (*here, "id")), f"duplicate category id {cat.id!r}")
            )
        seen_ids.add(cat.id)
        if not cat.keywords and cat.id != taxonomy.taxonomy.fallback:
            problems.append(
                Problem(locate(text, here), f"category {cat.id!r} is empty: it has no keywords")
            )
        words: dict[str, str] = {}
        for table in ("keywords", "negative"):
            for word in getattr(cat, table):
                key = normalise(word).strip()
                if not key:
                    where = locate(text, (*here, table, word))  # only when needed: it scans
                    problems.append(Problem(where, f"empty keyword in {cat.id}.{table}"))
                elif key in words:
                    problems.append(
                        Problem(
                            locate(text, (*here, table, word)),
                            f"duplicate keyword {word!r} in category {cat.id!r} "
                            f"(same as {words[key]!r} after normalisation)",
                        )
                    )
                else:
                    words[key] = f"{table}.{word}"
    if taxonomy.taxonomy.fallback not in seen_ids:
        problems.append(
            Problem(
                locate(text, ("taxonomy", "fallback")),
                f"fallback category {taxonomy.taxonomy.fallback!r} is not defined",
            )
        )
    return problems


# -- finding the line of a key ----------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[(\[)?([^\[\]]+)\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


def _unquote(key: str) -> str:
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        inner = key[1:-1]
        return inner.encode().decode("unicode_escape") if key[0] == '"' and "\\" in inner else inner
    return key


def locate(source: str, loc: tuple[Any, ...]) -> int | None:
    """Line number of the most specific table or key on the path ``loc`` (pydantic style).

    Understands what taxonomy files use: ``[table]``, ``[[array]]``, ``[array.sub]`` and
    ``key = value`` lines (bare or quoted keys). Enough to point a person at the right line.
    """
    counts: dict[tuple[Any, ...], int] = {}
    path: tuple[Any, ...] = ()
    best: tuple[int, int] | None = None  # (depth matched, line)

    def consider(candidate: tuple[Any, ...], lineno: int) -> None:
        nonlocal best
        matches = bool(candidate) and loc[: len(candidate)] == candidate
        if matches and (best is None or len(candidate) > best[0]):
            best = (len(candidate), lineno)

    for lineno, line in enumerate(source.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            names = tuple(_unquote(p) for p in header[2].split("."))
            if header[1]:  # [[array]]: the next element
                counts[names] = counts.get(names, -1) + 1
                path = (*names, counts[names])
            elif len(names) > 1 and (names[0],) in counts:
                path = (names[0], counts[(names[0],)], *names[1:])  # [array.sub] of last element
            else:
                path = names
            consider(path, lineno)
            continue
        key = _KEY.match(line)
        if key:
            consider((*path, _unquote(key[1])), lineno)
    return None if best is None else best[1]


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top)"


def _line_from_message(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m[1]) if m else None


def dump_taxonomy(taxonomy: Taxonomy, header: str = "") -> str:
    """Write a taxonomy as a readable TOML file: one keyword a line, strongest first."""
    out: list[str] = []
    if header:
        out.extend(f"# {line}".rstrip() for line in header.splitlines())
        out.append("")
    meta = taxonomy.taxonomy
    out.append("[taxonomy]")
    out.extend(_kv(k, getattr(meta, k)) for k in type(meta).model_fields)
    for cat in taxonomy.category:
        out.extend(["", "[[category]]"])
        out.extend(
            _kv(k, getattr(cat, k))
            for k in ("id", "name_zh", "name_en", "description", "owner", "prior")
        )
        for table in ("keywords", "negative"):
            words: dict[str, float] = getattr(cat, table)
            if words:
                out.append(f"[category.{table}]")
                for word, weight in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])):
                    out.append(f"{_quote(word)} = {weight:.4g}")
    return "\n".join(out) + "\n"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def _kv(key: str, value: Any) -> str:
    if isinstance(value, str):
        return f"{key} = {_quote(value)}"
    if isinstance(value, float):
        return f"{key} = {value:.6g}" if value != int(value) else f"{key} = {value:.1f}"
    return f"{key} = {value}"
