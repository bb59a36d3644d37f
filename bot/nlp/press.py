"""Press enquiries (媒体问询, DOMAIN.md §5; seed 000 第十二条: 接到媒体投诉、采访时,不能给予任何的
回复,只能承诺及时上报公司主管部门): someone *presenting as* press, not a customer who *threatens*
to go to the press.

The difference is who the speaker says they are. 「我是新京报记者」, 「本报记者」, 「想就此事采访
贵公司」, "I'm a reporter with …" present the speaker as press; 「我要找记者曝光」, 「再不处理我就
找媒体」, 「信不信我让记者来采访你们」 are a customer's threat, which stays a complaint and raises
the ``media`` risk signal (signals.py). So the rules look for a self-introduction ending in a
press title within one clause, with nothing between that makes the press someone else (找,
让, 叫, 联系 …), or an interview asked for by the speaker.

Rules over normalised text (NFKC, 繁→简, case folded), like the signals: 「我是蘋果日報記者」
is found too.
"""

from __future__ import annotations

import re

from bot.nlp.text import normalise

#: A press title a self-introduction ends in.
_TITLE = (
    r"(?:记者|编辑|主编|通讯员|撰稿人|制片人|自媒体|媒体人|媒体|编辑部"
    r"|(?:日|晚|时|周|都市|商|法制|青年)?报社?(?=的|$|[,.;!?:\s])"
    r"|电视台|广播电台|电台|杂志社?|新闻(?:网|社|中心|频道|部|客户端))"
)
#: What may stand between 我是 and the title: a masthead's words, never a verb that makes
#: the press a third party (找记者, 让媒体, 联系电视台, 看了新闻) nor a clause break.
_BETWEEN = r"[^,.;!?:、\s找要让叫请联系去向给跟和对把被看听读在从到通过认识]{0,16}?"
#: …unless the title is someone else's: 我是记者的家属, 我是报社的朋友介绍来的.
_KIN = r"(?!的?(?:朋友|家属|家人|亲戚|亲属|同学|同事|邻居|介绍))"
_SELF = re.compile(r"(?:我|我们|本人)(?:是|系|来自)" + _BETWEEN + _TITLE + _KIN)
_BYLINE = re.compile(r"本报记者|本台记者|本网记者|特约记者|记者证|媒体问询|媒体采访")
#: The speaker asks for an interview (想采访…, 申请采访, 采访一下贵公司).
_INTERVIEW = re.compile(
    r"(?:想|希望|申请|预约|约个|安排|进行|接受|做个?)(?:一(?:个|次|下))?采访"
    r"|采访(?:一下)?(?:贵|您|相关负责人|负责人)"
)
#: Before an interview in the same clause, these make it someone else's (让记者来采访你们).
_OTHERS = re.compile(r"[找让叫请喊]|联系|曝光")
_ENGLISH = re.compile(
    r"\b(?:i am|i'm|im|we are|this is)\b[^.,;!?]{0,40}?\b(?:journalist|reporter|correspondent"
    r"|editor)\b|\b(?:press|media) (?:enquiry|inquiry|request)\b|\binterview request\b"
    r"|\brequest(?:ing)? an interview\b"
)
_CLAUSE = re.compile(r"[^,.;!?:\n]+")


def press_enquiry(text: str) -> str | None:
    """The words by which ``text`` presents its writer as press, or None."""
    normalised = normalise(text)
    for clause in _CLAUSE.findall(normalised):
        for rule in (_SELF, _BYLINE, _ENGLISH):
            found = rule.search(clause)
            if found:
                return found.group(0).strip()
        found = _INTERVIEW.search(clause)
        if found and not _OTHERS.search(clause[: found.start()]):
            return found.group(0)
    return None
