"""Who says they are press (bot/nlp/press.py): a journalist introducing themselves, or
asking for an interview, against a customer threatening to go to the press — the words
that tell one from the other, in 简体, 繁體 and English."""

from __future__ import annotations

import pytest

from bot.nlp.press import press_enquiry


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("您好,我是新京报记者,想了解一下加油站多收费的事", "我是新京报记者"),
        ("您好,我们是南方都市报", "我们是南方都市报"),
        ("我是一名记者", "我是一名记者"),
        ("我是XX电视台的编辑", "我是xx电视台"),
        ("我们是财经杂志社", "我们是财经杂志社"),
        ("我来自澎湃新闻客户端", "我来自澎湃新闻客户端"),
        ("本报记者就此事向贵公司求证", "本报记者"),
        ("你好,想采访一下贵公司负责人", "想采访"),
        ("申请采访", "申请采访"),
        ("媒体采访:关于加油站事故", "媒体采访"),
        ("我是蘋果日報記者", "我是苹果日报记者"),  # 繁體
        ("我是ＸＸ電視臺的記者", "我是xx电视台"),  # full-width letters, 臺
        ("Hi, I'm a reporter with the Daily Star", "i'm a reporter"),
        ("Press enquiry about the outage", "press enquiry"),
        ("We are requesting an interview with your CEO", "requesting an interview"),
    ],
)
def test_press_presenting_themselves(text: str, words: str) -> None:
    assert press_enquiry(text) == words


@pytest.mark.parametrize(
    "text",
    [
        "我要找记者曝光",
        "再不处理我就找媒体",
        "信不信我让记者来采访你们",
        "我认识好几个记者",
        "我会联系电视台的",
        "我是消费者,要找记者",
        "我不是记者,但是我要曝光你们",
        "我是看了新闻才知道的",
        "我是老客户了,在你们这加油五年",
        "我要投诉到报社",
        "我是報社的朋友介绍来的",
        "我是记者的家属",
        "发到微博上曝光",
        "I will call a journalist",
        "",
        "\u200b",
        "🙂" * 1000,
    ],
)
def test_a_customer_mentioning_the_press_is_not_press(text: str) -> None:
    assert press_enquiry(text) is None
