"""Risk signals in a complaint (风险信号): what should raise its priority or severity.

Rules over normalised text (so 繁體 and full-width input match), each flag carrying the words
that fired it. A trigger preceded by a negation in the same clause does not fire: "没有人受伤"
is not a safety incident, "不会起诉" is not a legal threat. The customer never sees these
flags; they guide the staff and the priority suggestion.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import cn2an

from bot.domain.cases import Priority, Severity

# -- vocabulary -------------------------------------------------------------------------------

_TRIGGERS: dict[str, tuple[str, ...]] = {
    "media": (
        "媒体",
        "记者",
        "曝光",
        "微博",
        "抖音",
        "小红书",
        "头条",
        "新闻",
        "电视台",
        "热搜",
        "网上发",
        "发到网上",
        "朋友圈",
        "黑猫投诉",
        "media",
        "journalist",
        "reporter",
    ),
    "legal": (
        "起诉",
        "律师",
        "法院",
        "诉讼",
        "仲裁",
        "报警",
        "警察",
        "派出所",
        "12315",
        "12345",
        "消协",
        "消费者协会",
        "工信部",
        "市场监管",
        "工商局",
        "银保监",
        "金融监管",
        "监管部门",
        "维权",
        "lawyer",
        "sue",
        "court",
        "police",
    ),
    "safety": (
        "受伤",
        "伤到",
        "流血",
        "骨折",
        "住院",
        "火灾",
        "着火",
        "起火",
        "中毒",
        "食物中毒",
        "爆炸",
        "漏油",
        "漏气",
        "燃气泄漏",
        "触电",
        "安全隐患",
        "摔倒",
        "死亡",
        "injured",
        "fire",
        "poison",
    ),
    "urgency": ("马上", "紧急", "立刻", "立即", "尽快", "赶紧", "急", "十万火急", "urgent", "asap"),
    "emotion": (
        "气死",
        "太过分",
        "过分",
        "欺人太甚",
        "忍无可忍",
        "愤怒",
        "恶心",
        "垃圾",
        "骗子",
        "无耻",
        "坑人",
        "黑心",
        "受够了",
        "崩溃",
        "😡",
        "🤬",
        "💢",
        "!!!",
        "angry",
        "furious",
        "scam",
    ),
    "outage": (
        "全部无法",
        "都用不了",
        "瘫痪",
        "宕机",
        "大面积",
        "全面停",
        "停止服务",
        "服务中断",
        "outage",
    ),
}
_COLLECTIVE_WORDS = ("我们业主", "业主们", "全体", "集体", "联名", "大家都", "大家一起", "我们小区")
# 不然 (otherwise) and 不管 (no matter) are not negations of what follows.
_NEGATORS = r"(?:没有|没|无|未|不(?![然管])|别|并未|并没有|不会|不用|不想|不必|无需|不需要|不至于)"
# A negator right before the trigger (at most three characters between), in the same clause.
_NEGATED = re.compile(_NEGATORS + r"[^,.;!?,。;!?、\s]{0,3}$")
_NEGATED_RESULT = re.compile(r"(?:没有|没|未|并未)(?:造成|导致|发生|出现|引起)[^,.;!?,。;!?]{0,5}$")
_CLAUSE_BREAK = re.compile(r"[,.;!?,。;!?\n]")

_AMOUNT = re.compile(
    r"(?:(?:¥|¥|rmb|人民币)\s*(?P<pre>\d+(?:\.\d+)?)\s*(?P<pre_unit>万|千|k|w)?)"
    r"|(?:(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>万|千|k|w)?\s*(?:元|块|rmb|yuan))"
)
_UNITS = {"万": 10_000, "w": 10_000, "千": 1_000, "k": 1_000}
_PEOPLE = re.compile(r"(?P<n>\d+)\s*(?:多)?\s*(?:个|名|位|户)?\s*(?:人|业主|客户|居民|户|用户)")
_CN_NUMERAL = re.compile("[一二两三四五六七八九十百千万]")
_MANY_PEOPLE = re.compile(r"多名|多位|多户|多人|好几个人|很多人")

LARGE_AMOUNT = 10_000  # yuan: a "large financial dispute" (DOMAIN.md §3, priority A)


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # media, legal, safety, collective, money, urgency, emotion, outage
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Signals:
    priority: Priority
    severity: Severity
    flags: tuple[Flag, ...]
    amounts: tuple[float, ...]  # in yuan, as written
    people: int | None  # size of a collective complaint, when stated

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.flags)


def _negated(text: str, start: int) -> bool:
    before = _CLAUSE_BREAK.split(text[max(0, start - 20) : start])[-1]
    return bool(_NEGATED.search(before) or _NEGATED_RESULT.search(before))


def _find(text: str, words: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []
    for word in words:
        start = text.find(word)
        while start != -1:
            if not _negated(text, start):
                found.append(word)
                break
            start = text.find(word, start + 1)
    # "紧急" already says what "急" would: keep the longest words only.
    return tuple(w for w in found if not any(w != o and w in o for o in found))


def _with_digits(text: str) -> str:
    """Chinese numerals as digits (二十元 → 20元), only for finding amounts and head counts."""
    if not _CN_NUMERAL.search(text):
        return text
    with warnings.catch_warnings():
        # cn2an warns about every unit it cannot attach to a number ("1.5万"); not our concern.
        warnings.simplefilter("ignore", UserWarning)
        return str(cn2an.transform(text, "cn2an"))


def _amounts(text: str) -> tuple[float, ...]:
    values: list[float] = []
    for m in _AMOUNT.finditer(text):
        number = m["pre"] or m["num"]
        unit = m["pre_unit"] or m["unit"]
        values.append(float(number) * _UNITS.get(unit or "", 1))
    return tuple(values)


def _people(text: str) -> int | None:
    counts = [int(m["n"]) for m in _PEOPLE.finditer(text)]
    return max(counts) if counts else None


def signals(normalised: str) -> Signals:
    """Flags, amounts and the suggested priority/severity of already normalised text."""
    flags: list[Flag] = []
    for name, words in _TRIGGERS.items():
        hit = _find(normalised, words)
        if hit:
            flags.append(Flag(name, hit))

    numeric = _with_digits(normalised)
    people = _people(numeric)
    collective = list(_find(normalised, _COLLECTIVE_WORDS))
    many = _MANY_PEOPLE.search(normalised) if people is None else None
    if many:
        collective.append(many[0])
    if people is not None and people >= 3:
        collective.append(f"{people}人")
    if collective:
        flags.append(Flag("collective", tuple(collective)))

    amounts = _amounts(numeric)
    if amounts:
        flags.append(Flag("money", tuple(f"{a:g}元" for a in amounts)))

    names = {f.name for f in flags}
    return Signals(
        priority=_priority(names, amounts),
        severity=_severity(names, normalised, people),
        flags=tuple(flags),
        amounts=amounts,
        people=people,
    )


def _priority(names: set[str], amounts: tuple[float, ...]) -> Priority:
    """A: safety, outage, a large sum. B: serious impact — media, legal, collective, urgent."""
    if names & {"safety", "outage"} or any(a >= LARGE_AMOUNT for a in amounts):
        return Priority.A
    if names & {"media", "legal", "collective", "urgency", "emotion"}:
        return Priority.B
    return Priority.C


def _severity(names: set[str], text: str, people: int | None) -> Severity:
    """通报级别 hints (DOMAIN.md §5): a filed lawsuit or ≥10 people is 重大; media or legal
    threats and ≥3 people are 热点. Staff confirm; repeats and closures are judged later."""
    filed = re.search(r"(?:已经|已)(?:起诉|立案|上诉|报道|曝光)", text)
    if filed or (people is not None and people >= 10):
        return Severity.MAJOR
    if names & {"media", "legal"} or "collective" in names:
        return Severity.HOT
    return Severity.GENERAL
