"""The default taxonomy on complaints a desk sees every day, in 简体, 繁體 and English."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlp.classifier import MAX_CHARS, Classifier

CASES = [
    ("加油站员工态度恶劣,还骂人", "staff"),
    ("快递三天了还没派送,客服电话一直打不通", "process"),
    ("多扣了我20元话费,要求退款", "billing"),
    ("买的手机屏幕有质量问题,刚用两天就坏了", "product"),
    ("加的油有问题,车子打不着火了", "product"),
    ("物业费乱收费,每个月都多收", "billing"),
    ("建议你们增加夜间营业时间", "suggestion"),
    ("我們的快遞員態度惡劣,還罵人", "staff"),  # 繁體
    ("退款申請兩個星期了還沒處理", "process"),  # 繁體
    ("I was overcharged and want a refund", "billing"),
    ("The staff at the counter was rude", "staff"),
    ("我的 order 一直没到货,delay 太久了", "process"),  # mixed
]


@pytest.mark.parametrize(("text", "category"), CASES)
def test_categories(classifier: Classifier, text: str, category: str) -> None:
    s = classifier.classify(text)
    assert s.category == category, s
    assert s.confident
    assert s.keywords, "a suggestion explains itself"
    assert all(k.weight != 0 for k in s.keywords)


def test_keywords_say_why(classifier: Classifier) -> None:
    s = classifier.classify("加油站员工态度恶劣,还骂人")
    words = {k.word: k.weight for k in s.keywords}
    assert words["态度恶劣"] == 3.0
    assert words["骂人"] == 3.0
    assert list(words.values()) == sorted(words.values(), key=abs, reverse=True)


@pytest.mark.parametrize("text", ["你好", "在吗", "😡😡😡", "", "123456", "!!!"])
def test_nothing_to_go_on_falls_back_to_other(classifier: Classifier, text: str) -> None:
    s = classifier.classify(text)
    assert s.category == "other"
    assert not s.confident
    assert s.keywords == ()


def test_low_confidence_offers_alternatives(classifier: Classifier) -> None:
    # One weak word for billing, one for staff: too close to call, so the customer picks.
    s = classifier.classify("100元的事找客服")
    assert s.category == "other"
    assert not s.confident
    assert {a.category for a in s.alternatives} >= {"billing", "staff"}
    assert [a.confidence for a in s.alternatives] == sorted(
        (a.confidence for a in s.alternatives), reverse=True
    )


def test_mixed_complaint_ranks_the_runner_up(classifier: Classifier) -> None:
    s = classifier.classify("物業費太貴了,而且保安態度很差")
    assert s.category in {"billing", "staff"}
    assert s.alternatives[0].category in {"billing", "staff"} - {s.category}


def test_deterministic(classifier: Classifier) -> None:
    text = "快递员态度恶劣,还多收了我二十元运费"
    assert len({classifier.classify(text) for _ in range(5)}) == 1


def test_huge_input_reads_only_the_head(classifier: Classifier) -> None:
    head = "快递员态度恶劣" + "。" * (MAX_CHARS - 7)
    s = classifier.classify(head + "退款" * 50_000)
    assert s.category == "staff"


def test_a_tie_is_not_confident(classifier: Classifier) -> None:
    s = classifier.classify("元 客服")  # billing 1 and staff 1, nothing else
    assert not s.confident
    assert s.category == "other"


@pytest.mark.parametrize("preset", ["default", "real_estate", "internet_platform"])
def test_presets_load_and_classify(preset: str, cache_dir: Path) -> None:
    c = Classifier.load(preset, cache_dir)
    assert c.classify("漏水很严重,物业也不管").category in c.taxonomy.ids


def test_real_estate_preset(cache_dir: Path) -> None:
    c = Classifier.load("real_estate", cache_dir)
    assert c.classify("卫生间漏水,墙面开裂").category == "construction"
    assert c.classify("物业费太贵,电梯经常坏").category == "property_management"
    assert c.classify("置业顾问虚假宣传,说好的学区没有了").category == "sales"
