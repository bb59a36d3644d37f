"""The Slack desk's parts on their own: escaping, mentions, masking, countdowns, settings and
the app manifest a new desk pastes into Slack."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bot.channels.slack import SlackChannel, plain_from_slack
from bot.channels.slack import blocks as kit
from bot.channels.slack import text as words
from bot.config import Settings
from bot.desk import mask_contact
from tests.conftest import SHANGHAI

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI)


def card_with(**values: object) -> dict[str, object]:
    """A card as the desk draws it, with ``values`` changed."""
    due = NOW + timedelta(hours=4)
    card: dict[str, object] = {
        "kind": "card", "number": "TS20261117001", "status": "new", "status_zh": "新建",
        "priority": "C", "priority_zh": "普通", "severity": "general", "severity_zh": "一般",
        "risk": "none", "headcount": None, "category": "other", "category_zh": "其他",
        "category_en": "Other", "keywords": [], "subject": "", "content": "",
        "party": None, "reference": None, "desired_outcome": None, "channel": "telegram",
        "customer_name": None, "contact": None, "assignee": None, "escalation_level": 0,
        "escalation_zh": "一线客服", "escalation_en": "front line",
        "received_at": NOW.isoformat(), "first_response_due": due.isoformat(),
        "resolution_due": due.isoformat(), "first_responded_at": None, "resolved_at": None,
        "paused": False, "repeat_of": None, "reopen_count": 0, "resolution": None,
        "outcome": None, "outcome_zh": None, "actions": ["claim", "reply"],
    }  # fmt: skip
    card.update(values)
    return card


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("<!channel> 快来", "&lt;!channel&gt; 快来"),
        ("<@U123ABC>", "&lt;@U123ABC&gt;"),
        ("<https://evil.example|工商银行>", "&lt;https://evil.example|工商银行&gt;"),
        ("A&B", "A&amp;B"),
        ("&lt;", "&amp;lt;"),  # already-escaped text stays what the customer typed
        ("😡 物業費", "😡 物業費"),
    ],
)
def test_customer_words_never_become_slack_markup(typed: str, shown: str) -> None:
    assert words.esc(typed) == shown
    assert words.quote(typed) == ">" + shown


def test_only_the_desks_own_tokens_become_mentions() -> None:
    text = words.desk_text("TS1 已由 {slack:UAGENT001} 认领 <!here>")
    assert text == "TS1 已由 <@UAGENT001> 认领 &lt;!here&gt;"
    assert words.actor_label("customer:telegram:42") == "客户 customer"
    assert words.actor_label(None) == "未认领 unclaimed"
    assert words.actor_label("cli:<b>") == "cli:&lt;b&gt;"


def test_long_words_are_cut_visibly_and_lines_stay_quoted() -> None:
    quoted = words.quote("第一行\n\n" + "长" * 3000, limit=100)
    lines = quoted.split("\n")
    assert lines[:2] == [">第一行", ">"]
    assert re.search(r"… \(\+29\d\d 字\)$", lines[-1])
    assert len(quoted) <= 100


def test_the_cut_counts_what_escaping_adds() -> None:
    """3,000 ``<`` become 12,000 characters of ``&lt;``: the cut keeps within Slack's block
    limit, never splits an entity, and still says how much is left out."""
    quoted = words.quote("<" * 3000, limit=3000)
    assert len(quoted) <= 3000
    assert quoted.endswith(" 字)")
    assert "&lt;&lt;…" in quoted
    block = kit.card_blocks(card_with(content="<" * 20_000), NOW, SHANGHAI)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in block)


@pytest.mark.parametrize(
    ("contact", "masked"),
    [
        ("+8613800138000", "138****8000"),
        ("13912345678", "139****5678"),
        ("+85291234567", "91****67"),
        ("12345", "*****"),
        (None, None),
        ("", None),
    ],
)
def test_contacts_are_masked_on_cards(contact: str | None, masked: str | None) -> None:
    assert mask_contact(contact) == masked


def test_countdown_in_both_languages() -> None:
    now = datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI)
    assert kit.countdown(now + timedelta(hours=3, minutes=20), now) == "还剩 3小时20分 (3h20m left)"
    late = kit.countdown(now - timedelta(days=1, minutes=5), now)
    assert late == "⚠️ 已超时 1天5分 (1d5m overdue)"


def test_what_staff_type_in_slack_reaches_the_customer_as_typed() -> None:
    assert plain_from_slack("&lt;20 元&gt; &amp; <https://a.example|链接> <@U1> <#C1|desk>") == (
        "<20 元> & 链接 (https://a.example)"  # a colleague's @mention means nothing to them
    )
    assert plain_from_slack("<https://a.example>") == "https://a.example"


@pytest.mark.parametrize(
    ("typed", "received"),
    [
        # A link keeps its URL: the label alone is a dead word in a Telegram chat.
        (
            "请在 <http://x.example/track?id=1&amp;v=2|查看> 查询",
            "请在 查看 (http://x.example/track?id=1&v=2) 查询",
        ),
        ("<https://a.example|https://a.example>", "https://a.example"),
        ("<http://a.example|a.example>", "http://a.example"),  # Slack's own auto-link
        ("<https://a.example|>", "https://a.example"),
        ("<mailto:kf@a.example|kf@a.example>", "kf@a.example"),
        ("<mailto:kf@a.example|写信给我们>", "写信给我们 (kf@a.example)"),
        ("<mailto:kf@a.example>", "kf@a.example"),
        # A date shows its fallback, as a client that cannot format it would.
        (
            "预计 <!date^1795312800^{date_short} {time}|11月22日 10:00> 送达",
            "预计 11月22日 10:00 送达",
        ),
        ("<!date^1795312800^{date_num}^https://a.example|2026-11-22>", "2026-11-22"),
        ("<!date^1795312800^{date_num} {time}>", "2026-11-22 10:00"),  # none: the desk's time
        ("约 <!date^99999999999999999999^{date}> 前", "约 前"),
        # What only means something inside Slack is dropped, with the space it leaves.
        ("<#C123|general> 已转给物流", "已转给物流"),
        ("已转 <#C123> 处理", "已转 处理"),
        ("<@U1> <@U2|wang> 您好", "您好"),
        ("<!here> <!channel> <!everyone|everyone> 您好", "您好"),
        ("<!subteam^S1|@logistics> 您好", "您好"),
        ("您好 <@U1>\n第二行", "您好\n第二行"),
        # Entities come back once: what staff typed as ``&lt;`` stays ``&lt;``.
        ("&amp;lt; &amp;amp; &lt;b&gt; A&amp;B", "&lt; &amp; <b> A&B"),
        ("&lt;@U1&gt; &lt;https://a.example|x&gt;", "<@U1> <https://a.example|x>"),
        ("😡 物業費 *加急*", "😡 物業費 *加急*"),
    ],
)
def test_slack_markup_reaches_the_customer_as_staff_meant_it(typed: str, received: str) -> None:
    assert plain_from_slack(typed, SHANGHAI) == received


FAMILY = "👨\u200d👩\u200d👧"  # one grapheme of five code points
FLAG = "🇨🇳"  # one grapheme of two regional indicators


@pytest.mark.parametrize("tail", [FAMILY, FLAG, "e\u0301", "&amp;", "&lt;", "<@UAGENT001>",
                                  "<https://a.example/x|查看>"])  # fmt: skip
def test_a_cut_never_splits_an_entity_a_mention_or_a_character(tail: str) -> None:
    """mrkdwn()'s last guard cuts a section's text: at each possible length of what precedes
    ``tail``, ``tail`` is either whole or gone."""
    for pad in range(kit.SECTION_LIMIT - 39, kit.SECTION_LIMIT + 1):
        text = kit.mrkdwn("长" * pad + tail + "尾" * 40)["text"]
        assert len(text) <= kit.SECTION_LIMIT
        assert text.endswith("…")
        kept = text.removesuffix("…").lstrip("长")
        assert kept in ("", tail) or kept.startswith(tail), (pad, kept)


@pytest.mark.parametrize("tail", [FAMILY, FLAG, "e\u0301"])
def test_plain_texts_and_quotes_are_cut_between_characters(tail: str) -> None:
    for pad in range(60, 76):
        shown = kit.plain("长" * pad + tail + "尾" * 80)["text"]
        assert len(shown) <= 75
        assert shown.lstrip("长") in ("", tail) or shown.lstrip("长").startswith(tail), pad
    for pad in range(60, 100):
        quoted = words.quote("长" * pad + tail + "尾" * 200, limit=100)
        body = quoted.removeprefix(">").lstrip("长")
        assert body.startswith(("… (", tail)), (pad, body)


def slack_settings(**values: object) -> Settings:
    base: dict[str, object] = {
        "slack_bot_token": "xoxb-1-abc",
        "slack_app_token": "xapp-1-abc",
        "slack_staff_channel": "C0DESK01",
    }
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


def test_slack_settings_say_what_is_missing() -> None:
    assert slack_settings().slack_mode == "socket"
    with pytest.raises(ValidationError, match="channel id"):
        slack_settings(slack_staff_channel="#kesu-desk")
    with pytest.raises(ValidationError, match="KESU_SLACK_APP_TOKEN"):
        slack_settings(slack_app_token=None)
    with pytest.raises(ValidationError, match="SIGNING_SECRET"):
        slack_settings(slack_mode="http")
    with pytest.raises(ValidationError, match="bot token"):
        slack_settings(slack_bot_token="xoxp-user-token")
    with pytest.raises(ValidationError, match="not a Slack user id"):
        slack_settings(slack_supervisors="UBOSS01, zhao")
    ok = slack_settings(slack_supervisors="UBOSS01; WBOSS02", slack_mode="http",
                        slack_signing_secret="s3cret")  # fmt: skip
    assert ok.slack_supervisors == ["UBOSS01", "WBOSS02"]


def test_the_manifest_asks_for_what_the_code_uses() -> None:
    manifest = yaml.safe_load((ROOT / "slack-app-manifest.yml").read_text(encoding="utf-8"))
    source = (ROOT / "bot" / "channels" / "slack" / "handlers.py").read_text(encoding="utf-8")
    events = set(re.findall(r'app\.event\("([a-z_]+)"\)', source))
    subscribed = {e.removesuffix(".channels").removesuffix(".groups")
                  for e in manifest["settings"]["event_subscriptions"]["bot_events"]}  # fmt: skip
    assert events == subscribed
    shortcuts = set(re.findall(r'app\.shortcut\("([a-z_]+)"\)', source))
    assert shortcuts == {s["callback_id"] for s in manifest["features"]["shortcuts"]}
    commands = set(re.findall(r'app\.command\("(/[a-z]+)"\)', source))
    assert commands == {c["command"] for c in manifest["features"]["slash_commands"]}
    assert manifest["settings"]["socket_mode_enabled"] is True  # the default mode
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "channels:read", "channels:history", "files:write"} <= scopes
    assert SlackChannel.channel == "slack"


def test_resolved_cases_are_shown_apart_as_awaiting_the_customer() -> None:
    now = datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI)
    card = {
        "number": "TS20261117001",
        "status": "resolved",
        "status_zh": "已解决",
        "priority": "C",
        "category_zh": "其他",
        "assignee": "slack:UAGENT001",
        "first_responded_at": now.isoformat(),
        "first_response_due": now.isoformat(),
        "resolution_due": (now - timedelta(days=1)).isoformat(),  # no overdue alarm
        "received_at": now.isoformat(),
    }
    line = kit.case_line(card, now, SHANGHAI)
    assert "待客户确认 awaiting the customer" in line
    assert "超时" not in line
    view = kit.home_view([], [], now, SHANGHAI, [card])
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers[-1] == "待审核/待客户确认 Awaiting review or the customer"
    assert kit.awaiting_text([], now, SHANGHAI) == ""
    assert "TS20261117001" in kit.awaiting_text([card], now, SHANGHAI)


def test_the_card_shows_the_survey_and_its_answers_escaped() -> None:
    now = datetime(2026, 11, 17, 8, 0, tzinfo=SHANGHAI)
    card = card_with(
        status="closed", status_zh="已结案", survey="answered",
        survey_answers={"solved": "y", "solution": "4", "service": "5",
                        "comment": "很好 <!channel> *谢谢*"},
    )  # fmt: skip
    blocks = kit.card_blocks(card, now, SHANGHAI)
    line = blocks[-2]["elements"][0]["text"]
    assert line == (
        "📋 回访 survey: 已完成 answered\n问题是否解决 solved: 是 yes · 方案满意度 solution: 4 · "
        "服务体验 service: 5 · 意见 comment: 很好 &lt;!channel&gt; *谢谢*"
    )  # escaped as every customer word on the card: never a ping
    unreachable = kit.survey_line(card_with(survey="unreachable", survey_answers={}))
    assert unreachable == (
        "📋 回访 survey: 无法联系客户,未发送 "
        "unreachable: not sent (not counted in the response rate)"
    )
    plain_card = kit.card_blocks(card_with(), now, SHANGHAI)
    assert "回访" not in str(plain_card)  # no survey: no line
