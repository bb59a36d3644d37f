"""Press enquiries (媒体问询, DOMAIN.md §5; seed 000 第十二条: 接到媒体投诉、采访时,不能给予任何的
回复,只能承诺及时上报公司主管部门): someone *presenting as* press, not a customer who *threatens*
to go to the press.

The difference is who the speaker says they are. 「我是新京报记者」, 「本报记者」, 「想采访一下贵
公司负责人」, "I'm a reporter with …" present the speaker as press; 「我要找记者曝光」, 「再不处理
我就找媒体」, 「信不信我让记者来采访你们」 are a customer's threat, which stays a complaint and
raises the ``media`` risk signal (signals.py). So the rules look for a self-introduction ending
in a press title within one clause, with nothing between that makes the press someone else
(找, 让, 你们 …) and nothing after that makes the speaker its reader, relative or neighbour
(晚报的读者, 记者的家属, 电视台旁边); or an interview the speaker asks of the company. A writer
who says they write as a consumer (以消费者身份) is a customer, whatever their job.

A match is a guess, never the last word: intake asks the writer to confirm before treating the
words as a press enquiry (bot/flows/intake.py), because a customer taken for press would lose
the complaint's whole intake. Rules over normalised text (NFKC, 繁→简, case folded), like the
signals: 「我是蘋果日報記者」 is found too.
"""

from __future__ import annotations

import re

from bot.nlp.text import normalise

#: Clause breaks: NFKC makes ，！？；： half-width, but leaves 。、… as they are.
_BREAKS = ",.;!?:\n。、…"
#: A press title a self-introduction ends in.
_TITLE = (
    r"(?:记者|通讯员|媒体人|媒体|编辑部|的编辑|的主编"
    rf"|(?:日|晚|时|周|都市|商|法制|青年)?报社?(?=的|$|[{_BREAKS}\s])"
    r"|电视台|广播电台|电台|杂志社?|新闻(?:网|社|中心|频道|部|客户端)"
    rf"|新闻(?=的|$|[{_BREAKS}]))"
)
#: What may stand between 我是 and the title: a masthead's words, never a clause break nor a
#: word that makes the press a third party (找记者, 让媒体, 联系电视台, 看了新闻, 你们报社).
_BETWEEN = rf"[^{_BREAKS}\s找要让叫请联系去向给跟和对把被看听读在从到通过认识你]{{0,16}}?"
#: …nor, after the title, one that makes the speaker someone else: its reader or relative,
#: a place beside it (我是晚报的读者, 我是记者的家属, 我是记者他妈, 我是电视台旁边…的顾客).
_NOT_THEM = (
    r"(?!的?(?:朋友|家属|家人|亲戚|亲属|同学|同事|邻居|介绍|读者|订户|观众|听众|粉丝|用户|顾客"
    r"|客户|旁边|附近|对面|楼下|楼上|上|里|他|她|妈|爸|老婆|老公|儿子|女儿|专业|站|学生))"
)
#: 我是… / 我们是… / 我这边是… / 这里是…, a space allowed around the masthead
#: (我是 每日经济新闻 记者); not 以为我是 (你以为我是记者?).
_SELF = re.compile(
    r"(?<!以为)(?:我|我们|本人|我这边|这里|这边)(?:是|系|来自)\s?"
    + _BETWEEN
    + r"\s?"
    + _TITLE
    + _NOT_THEM
)
_BYLINE = re.compile(r"本报记者|本台记者|本网记者|特约记者|^媒体(?:采访|问询)")
#: An interview the speaker asks of the company (想采访一下贵公司, 申请采访, 采访贵公司).
_INTERVIEW = re.compile(
    r"(?:想|希望|申请|预约|约个|安排)(?:一下|一次|个)?采访(?!我)"
    r"|采访(?:一下)?(?:贵|您|相关负责人|负责人)"
)
#: Before an interview in the same clause, these make it someone else's (让记者来采访你们).
_OTHERS = re.compile(r"[找让叫请喊]|联系|曝光|有人")
#: The writer writes as a customer, whatever their job (我本人是记者,但这次以消费者身份投诉).
_AS_CUSTOMER = re.compile(
    r"以(?:消费者|个人|客户|顾客|车主|用户|业主)的?身份|作为(?:消费者|个人|客户|顾客|用户|业主)"
    r"|不是(?:来)?采访|i am (?:writing|complaining) as a (?:customer|consumer)"
)
#: "I'm a reporter with …", "we are journalists from …", "this is the editor of …": up to
#: two describing words between, none a verb's -ing form nor "not" (I'm not a reporter; we
#: are calling a journalist; I am going to tell every journalist).
_ENGLISH = re.compile(
    r"\b(?:i am|i'm|im|we are|we're|this is)\s+(?:(?:a|an|the)\s+)?"
    r"(?:(?!not\b|no\b|\w+ing\b)[a-z-]+\s+){0,2}?"
    r"(?:journalists?|reporters?|correspondents?|editors?)\b(?!'s|\s+(?:friend|relative))"
    r"|\b(?:press|media) (?:enquiry|inquiry|request)\b|\binterview request\b"
    r"|\brequest(?:ing)? an interview\b|\b(?:seeking|request(?:ing)?|asking for)(?: a)? comment\b"
    r"|\bi (?:write|report) for\b|\breaching out from (?:the )?[a-z ]{0,30}?"
    r"\b(?:news|times|post|journal|daily|herald|tribune|reuters|bloomberg|scmp|bbc|cnn)\b"
)
_CLAUSE = re.compile(rf"[^{_BREAKS}]+")


def press_enquiry(text: str) -> str | None:
    """The words by which ``text`` presents its writer as press, or None."""
    normalised = normalise(text)
    if _AS_CUSTOMER.search(normalised):
        return None
    for clause in (c.strip() for c in _CLAUSE.findall(normalised)):
        for rule in (_SELF, _BYLINE, _ENGLISH):
            found = rule.search(clause)
            if found:
                return found.group(0).strip()
        found = _INTERVIEW.search(clause)
        if found and not _OTHERS.search(clause[: found.start()]):
            return found.group(0)
    return None
