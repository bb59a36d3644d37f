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
        ("我们是南方都市报。请问收费标准是什么", "我们是南方都市报"),  # 。 ends the clause
        ("我们是财经杂志社", "我们是财经杂志社"),
        ("我来自澎湃新闻客户端", "我来自澎湃新闻客户端"),
        ("本报记者就此事向贵公司求证", "本报记者"),
        ("你好,想采访一下贵公司负责人", "想采访"),
        ("申请采访", "申请采访"),
        ("媒体采访:关于加油站事故", "媒体采访"),
        ("我们想采访贵公司", "想采访"),
        ("我是凤凰网的编辑", "我是凤凰网的编辑"),
        ("我这边是澎湃新闻,想了解一下", "我这边是澎湃新闻"),
        ("我是 每日经济新闻 记者", "我是 每日经济新闻 记者"),
        ("This is Jane Doe from Bloomberg News, seeking comment", "seeking comment"),
        ("I'm reaching out from the SCMP", "reaching out from the scmp"),
        ("我是蘋果日報記者", "我是苹果日报记者"),  # 繁體
        ("我是ＸＸ電視臺的記者", "我是xx电视台"),  # full-width letters, 臺
        ("Hi, I'm a reporter with the Daily Star", "i'm a reporter"),
        ("I am a freelance journalist", "i am a freelance journalist"),
        ("This is the editor of the Times", "this is the editor"),
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
        # found by review: a clause runs to 。; a threat's interview; the speaker as reader,
        # relative or neighbour; English with a verb or "not" before the title
        "我是车主。上次电视台说你们的油有问题",
        "我是你们的会员。这事记者早就报道过了",
        "我是老客户。这个问题已经上了新闻频道了",
        "信不信我让媒体采访你们",
        "你们等着接受媒体采访吧",
        "我找了媒体采访",
        "我会让记者证明的",
        "我愿意接受采访,揭露你们",
        "有人想采访我",
        "我是一名编辑,昨天手机坏了",
        "我是晚报的读者",
        "我是你们报社的订户",
        "我是电视台旁边那个加油站的顾客",
        "我是杂志上看到你们的广告",
        "我本人是记者,但这次是以消费者身份投诉",
        "我是记者他妈",
        "我是报名参加活动的",
        "我是媒体专业的学生",
        "我是记者站附近的住户",
        "你以为我是记者?",
        "I'm the editor's wife",
        "我是车主 上次电视台说油不好",
        "I'm so angry I will go to a reporter",
        "We are calling a journalist tomorrow",
        "I am going to tell every journalist",
        "I'm not a reporter",
        "I am a customer and I want to talk to your editor",
        "",
        "\u200b",
        "🙂" * 1000,
    ],
)
def test_a_customer_mentioning_the_press_is_not_press(text: str) -> None:
    assert press_enquiry(text) is None
