"""The clock against a real `kesu run` in real time (issue 14): a policy of calendar-clock
minute targets, so it passes at any hour. The customer's case reminds the people on duty in
its Slack thread before its first-response deadline and, when that passes unanswered, climbs
one level: the supervisor is pinged and the customer told who handles it — nobody sweeps by
hand, the process's own scheduler does it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.channels.conftest import AGENT, BOSS, STAFF_CHANNEL
from tests.channels.kesu_process import KesuProcess, release_long_poll
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

DEFAULT = (Path(__file__).parents[2] / "bot/policies/default.toml").read_text(encoding="utf-8")
#: Every priority: first response within 1 minute, resolution within 2, around the clock.
MINUTES = re.sub(
    r"^resolution = \{.*\}$",
    'resolution = { minutes = 2, clock = "calendar" }',
    re.sub(
        r"^first_response = \{.*\}$",
        'first_response = { minutes = 1, clock = "calendar" }',
        DEFAULT,
        flags=re.M,
    ),
    flags=re.M,
)


async def test_a_real_kesu_run_reminds_then_escalates_on_its_own_clock(
    tg: FakeTelegram, slack: FakeSlack, tmp_path: Path, cache_dir: Path
) -> None:
    policy = tmp_path / "minutes.toml"
    policy.write_text(MINUTES, encoding="utf-8")
    env = {
        "KESU_POLICY_FILE": str(policy),
        "KESU_SLACK_ROLES": f"agent={AGENT};supervisor={BOSS}",
    }
    url = f"sqlite:///{tmp_path / 'kesu.db'}"
    alice = tg.user(5301, "Alice")
    try:
        async with KesuProcess(tg, url, tmp_path, cache_dir, slack=slack, env=env) as kesu:
            await alice.says("加油站多收了我二十元油费,还不给退")
            assert "还有要补充的吗" in await alice.hears(within=30), kesu.tail()
            for label in ("说完了 ✅", "是", "跳过", "跳过", "通过本对话联系我", "退款"):
                await alice.taps(label)
                await alice.hears(count=2 if label == "通过本对话联系我" else 1)
            await alice.taps("确认提交")
            done = await alice.hears()
            submitted = time.monotonic()
            assert "1 分钟内" in done, done
            number = re.search(r"TS\d{11}", done)
            assert number, done

            def reminder(text: str) -> bool:
                return "首次响应还剩" in text and f"<@{AGENT}>" in text

            await slack.wait_for_message(STAFF_CHANNEL, reminder, within=45)
            assert time.monotonic() - submitted < 45  # the 50% point: 30 s in

            told = await alice.hears(within=60)  # the breach at 60 s: one level up
            assert f"您的投诉 {number.group()} 已升级,由客服主管负责处理" in told, kesu.tail()
            assert 55 < time.monotonic() - submitted < 70

            def pinged(text: str) -> bool:
                return f"<@{BOSS}>" in text

            await slack.wait_for_message(STAFF_CHANNEL, pinged, within=10)
            assert "Traceback" not in kesu.read_log()
    finally:
        await release_long_poll(tg)
