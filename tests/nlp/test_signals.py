"""Risk signals, table-driven: each row a complaint, the flags it must (not) raise."""

from __future__ import annotations

import pytest

from bot.domain.cases import Priority, Severity
from bot.nlp.signals import signals
from bot.nlp.text import Normaliser

norm = Normaliser()

FLAGS = [
    # text, flags that must fire, flags that must not
    ("我要找记者曝光你们", {"media"}, {"legal"}),
    ("我們要找記者曝光", {"media"}, set()),  # 繁體
    ("发到微博上让大家看看", {"media"}, set()),
    ("再不处理我就起诉", {"legal"}, set()),
    ("已经打了12315", {"legal"}, set()),
    ("我要向消协和工信部投诉", {"legal"}, set()),
    ("I will call my lawyer", {"legal"}, set()),
    ("孩子在店里摔倒受伤了", {"safety"}, set()),
    ("加油站漏油,差点着火", {"safety"}, set()),
    ("吃了以后食物中毒住院", {"safety"}, set()),
    ("我们业主集体要求退还物业费", {"collective"}, set()),
    ("有15人被多收了钱", {"collective"}, set()),
    ("请马上处理,非常紧急", {"urgency"}, set()),
    ("太过分了!!!气死我了😡", {"emotion"}, set()),
    ("系统瘫痪了,全部无法下单", {"outage"}, set()),
    # negation: the trigger is there, the incident is not
    ("没有人受伤,只是吓了一跳", set(), {"safety"}),
    ("幸好未造成人员受伤", set(), {"safety"}),
    ("我不会起诉的,只想要个说法", set(), {"legal"}),
    ("不急,慢慢处理就好", set(), {"urgency"}),
    ("無人受傷", set(), {"safety"}),  # 繁體 negation
    # "不然" is "otherwise", not a negation
    ("赶紧赔钱,不然找律师", {"legal", "urgency"}, set()),
    # nothing at all
    ("快递晚到了一天", set(), {"media", "legal", "safety", "collective", "urgency", "emotion"}),
    ("", set(), {"media", "legal", "safety", "money"}),
    ("😀👍", set(), {"emotion"}),
]


@pytest.mark.parametrize(("text", "present", "absent"), FLAGS)
def test_flags(text: str, present: set[str], absent: set[str]) -> None:
    s = signals(norm(text))
    names = {f.name for f in s.flags}
    assert present <= names, s
    assert not (absent & names), s
    for f in s.flags:
        assert f.words, "every flag names the words that fired it"


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("多收了我20元", (20.0,)),
        ("多收了我二十元", (20.0,)),
        ("赔偿两万块", (20000.0,)),
        ("¥1,299 的耳机", (1.0,)),  # a thousands comma reads as two numbers; the first counts
        ("充值 ¥35.5 没到账", (35.5,)),
        ("花了1.5万元", (15000.0,)),
        ("扣了3次,每次50元", (50.0,)),
        ("等了三天", ()),
        ("RMB 300 refund, 300 yuan", (300.0, 300.0)),
    ],
)
def test_amounts_are_extracted(text: str, amounts: tuple[float, ...]) -> None:
    s = signals(norm(text))
    assert s.amounts == amounts
    assert s.has("money") == bool(amounts)


@pytest.mark.parametrize(
    ("text", "priority", "severity"),
    [
        ("孩子受伤了", Priority.A, Severity.GENERAL),
        ("账户被盗刷了两万元", Priority.A, Severity.GENERAL),
        ("APP 大面积宕机", Priority.A, Severity.GENERAL),
        ("不处理我就找媒体曝光", Priority.B, Severity.HOT),
        ("我已经起诉了", Priority.B, Severity.MAJOR),
        ("我们12户业主联名投诉", Priority.B, Severity.MAJOR),
        ("我们3户都被多收了", Priority.B, Severity.HOT),
        ("请尽快处理", Priority.B, Severity.GENERAL),
        ("快递晚到了一天", Priority.C, Severity.GENERAL),
        ("多收了5元", Priority.C, Severity.GENERAL),
    ],
)
def test_priority_and_severity_hints(text: str, priority: Priority, severity: Severity) -> None:
    s = signals(norm(text))
    assert (s.priority, s.severity) == (priority, severity), s


def test_people_count() -> None:
    assert signals(norm("我们三十多户业主")).people == 30
    assert signals(norm("一个人来的")).people == 1
    assert signals(norm("快递晚到")).people is None


def test_long_text_does_not_crash() -> None:
    s = signals(norm("起诉" + "啊" * 100_000 + "没有人受伤"))
    assert s.has("legal")
    assert not s.has("safety")
