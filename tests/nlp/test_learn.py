"""learn → classify on a small labelled set written for the tests, and the evaluation maths."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.cases import DomainError
from bot.nlp.classifier import Classifier
from bot.nlp.learn import Example, evaluate, learn, read_tsv
from bot.nlp.taxonomy import dump_taxonomy, load_taxonomy, parse_taxonomy
from bot.nlp.text import Normaliser, TextTools

# Written for the tests: three small desks' worth of history.
TRAIN = {
    "delivery": [
        "快递三天没到",
        "包裹一直没有派送",
        "物流信息不更新",
        "快递延误一周",
        "派送太慢了",
        "包裹还没到",
        "快递员不送货上门",
        "物流停滞好几天",
        "快递一直显示运输中",
        "包裹迟迟不到",
    ],
    "refund": [
        "申请退款没到账",
        "退款一直不退",
        "要求退款被拒绝",
        "退款金额不对",
        "多扣的钱要退回",
        "退款流程太久没到账",
        "钱退到哪里去了",
        "退款申请被驳回",
        "要求全额退款",
        "退款少退了钱",
    ],
    "app": [
        "app登录不了",
        "app一直闪退",
        "app页面打不开",
        "app更新后崩溃",
        "验证码收不到登录不了",
        "app卡顿严重",
        "app白屏打不开",
        "app报错无法下单",
        "app登录后闪退",
        "app页面一直转圈",
    ],
}


def examples(data: dict[str, list[str]]) -> list[Example]:
    return [Example(t, label, i) for label, texts in data.items() for i, t in enumerate(texts)]


@pytest.fixture(scope="module")
def learned(tools: TextTools) -> Classifier:
    taxonomy = learn(examples(TRAIN), tools, min_count=1)
    return Classifier(taxonomy, tools)


def test_learned_categories_are_the_labels(learned: Classifier) -> None:
    assert sorted(learned.taxonomy.ids) == ["app", "delivery", "refund"]
    assert learned.taxonomy.taxonomy.min_confidence == 0.0


@pytest.mark.parametrize(
    ("text", "label"),
    [("我的快递五天了还没到", "delivery"), ("退款还没到账", "refund"), ("app又闪退了", "app")],
)
def test_learned_taxonomy_classifies_unseen_text(
    learned: Classifier, text: str, label: str
) -> None:
    s = learned.classify(text)
    assert s.category == label
    assert s.keywords, "learned suggestions explain themselves too"


def test_learned_file_is_an_ordinary_editable_taxonomy(learned: Classifier) -> None:
    text = dump_taxonomy(learned.taxonomy, "learned in a test")
    assert text.startswith("# learned in a test")
    again = parse_taxonomy(text, "learned.toml", Normaliser())
    assert again.ids == learned.taxonomy.ids
    refund = again.get("refund").keywords
    assert "退款" in refund
    assert refund["退款"] == max(refund.values())  # the telling word leads the table


def test_learning_is_deterministic(tools: TextTools) -> None:
    a = learn(examples(TRAIN), tools, min_count=1)
    b = learn(examples(TRAIN), tools, min_count=1)
    assert a == b


def test_two_labels_and_base_metadata(tools: TextTools) -> None:
    two = {"process": TRAIN["delivery"], "billing": TRAIN["refund"]}
    base = load_taxonomy("default", Normaliser())
    t = learn(examples(two), tools, base=base, min_count=1)
    billing = t.get("billing")
    assert billing.name_zh == "价格/费用问题"  # names and owners come from the base
    assert billing.owner == base.get("billing").owner
    assert "扣费" in billing.keywords  # the desk's own words the data lacked are kept
    assert Classifier(t, tools).classify("退款没到账").category == "billing"


def test_any_label_a_desk_uses_becomes_a_category(tools: TextTools) -> None:
    data = {"退款问题": TRAIN["refund"], "3": TRAIN["delivery"], "App issue": TRAIN["app"]}
    t = learn(examples(data), tools, min_count=1)
    assert sorted(t.ids) == sorted(data)
    again = parse_taxonomy(dump_taxonomy(t), "learned.toml", Normaliser())
    assert Classifier(again, tools).classify("退款还没到账").category == "退款问题"


def test_max_keywords_caps_each_category(tools: TextTools) -> None:
    t = learn(examples(TRAIN), tools, min_count=1, max_keywords=3)
    assert all(len(c.keywords) + len(c.negative) <= 3 for c in t.category)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"only": ["a b", "c d"]}, "at least two labels"),
        ({"a": ["退款"], "b": ["快递", "物流"]}, "fewer than 2"),
        ({"bad\x01label": ["退款", "退钱"], "b": ["快递", "物流"]}, "cannot name a category"),
    ],
)
def test_unlearnable_data_is_refused(
    tools: TextTools, data: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(DomainError, match=message):
        learn(examples(data), tools)


def test_read_tsv_skips_bad_lines_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_bytes(
        "快递没到\tdelivery\r\n\n没有标签的一行\n".encode()
        + b"\xff\xfe\tx\n"
        + "退款\t refund \n\tapp\n".encode()
    )
    got, skipped = read_tsv(path)
    assert [(e.text, e.label, e.line) for e in got] == [
        ("快递没到", "delivery", 1),
        ("退款", "refund", 5),
    ]
    assert [s.split(":")[1] for s in skipped] == ["3", "4", "6"]
    assert "not UTF-8" in skipped[1]


def test_evaluate_counts_fallback_as_a_miss(classifier: Classifier) -> None:
    data = [
        Example("快递员态度恶劣", "staff", 1),
        Example("多扣了我话费", "billing", 2),
        Example("你好", "billing", 3),  # falls back to "other": a miss, not a free pass
    ]
    e = evaluate(classifier, data)
    assert e.count == 3
    assert e.accuracy == pytest.approx(2 / 3)
    assert e.labels == ["billing", "staff"]
    assert e.columns == ["billing", "staff", "other"]
    assert e.confusion == [[1, 0, 1], [0, 1, 0]]
    assert e.per_class["billing"] == (1.0, 0.5, pytest.approx(2 / 3), 2)
    assert e.macro_f1 == pytest.approx((2 / 3 + 1.0) / 2)


DATA = Path(__file__).resolve().parent.parent / "data"


def test_default_taxonomy_zero_shot_on_real_complaints(classifier: Classifier) -> None:
    """Quality floor on the held-out real complaints (tests/data/README.md): the target is
    macro-F1 >= 0.75. A regression in the taxonomy or the tokenizer shows up here."""
    test_set, skipped = read_tsv(DATA / "complaints_4class_test.tsv")
    assert not skipped
    assert evaluate(classifier, test_set).macro_f1 >= 0.75


def test_learned_from_dev_generalises_to_test(tools: TextTools) -> None:
    dev, _ = read_tsv(DATA / "complaints_4class_dev.tsv")
    test_set, _ = read_tsv(DATA / "complaints_4class_test.tsv")
    learned = Classifier(learn(dev, tools), tools)
    assert evaluate(learned, test_set).macro_f1 >= 0.8
