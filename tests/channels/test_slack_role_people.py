"""The people of each role on the Slack desk (KESU_SLACK_ROLES), the older supervisor settings
as role "supervisor", and the people on duty behind the policy's role names."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.roles import Roles
from bot.channels.slack.text import mention
from bot.config import SettingsError, load_policy, settings_from_env
from bot.domain.duty import people_of
from tests.conftest import SHANGHAI
from tests.fakes.slack import FakeSlack

DESK = "CDESK0001"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    for user in ("UAGENT001", "UBOSS0001", "UBOSS0002", "UMGR00001"):
        fake.add_user(user, user.lower())
    fake.add_channel(DESK, "kesu-desk", ["UAGENT001"], private=True)
    fake.usergroups["SLEADS001"] = ["UBOSS0002"]
    yield fake
    await fake.stop()


def roles_of(fake: FakeSlack, **kwargs: object) -> Roles:
    web = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    return Roles(web, DESK, ready=lambda: True, **kwargs)  # type: ignore[arg-type]


def test_roles_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KESU_SLACK_ROLES", " supervisor=U1AB, S0GROUP ; manager=W3XY;")
    assert settings_from_env().slack_roles == {
        "supervisor": ("U1AB", "S0GROUP"),
        "manager": ("W3XY",),
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("supervisor", "'supervisor' is not role=ids"),
        ("Boss=U1AB", "'Boss' is not a role name"),
        ("manager=U1AB;manager=U2AB", "role 'manager' is given twice"),
        ("manager=", "role 'manager' lists nobody"),
        ("manager=CDESK0001", "'CDESK0001' (role manager) is not a Slack user id"),
        ("manager=@zhao", "'@zhao' (role manager) is not a Slack user id"),
        ("manager=U1AB,U1AB", "role 'manager' lists someone twice"),
    ],
)
def test_role_mistakes_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("KESU_SLACK_ROLES", value)
    with pytest.raises(SettingsError, match=re.escape(f"KESU_SLACK_ROLES: {expected}")):
        settings_from_env()


async def test_people_of_a_role_keep_groups_for_slack_to_mention(fake: FakeSlack) -> None:
    roles = roles_of(fake, roles={"manager": ["UMGR00001", "SLEADS001"]})
    assert roles.people("manager") == ("UMGR00001", "SLEADS001")
    assert roles.people("taskforce") == ()  # not configured: nobody to mention
    assert [mention(p) for p in roles.people("manager")] == ["<@UMGR00001>", "<!subteam^SLEADS001>"]


async def test_the_older_supervisor_settings_are_role_supervisor(fake: FakeSlack) -> None:
    roles = roles_of(
        fake,
        supervisors=["UBOSS0001"],
        supervisor_group="SLEADS001",
        roles={"supervisor": ["UBOSS0001", "UMGR00001"]},
    )
    assert roles.people("supervisor") == ("UBOSS0001", "SLEADS001", "UMGR00001")


async def test_supervisors_of_kesu_slack_roles_have_supervisor_rights(fake: FakeSlack) -> None:
    """One meaning of "supervisor": who the chain's 主管 level pings may also act as one,
    users and the members of groups alike."""
    roles = roles_of(fake, roles={"supervisor": ["UBOSS0001", "SLEADS001"]})
    try:
        assert (await roles.of("UBOSS0001")).is_supervisor
        assert (await roles.of("UBOSS0002")).is_supervisor  # through the group
        agent = await roles.of("UAGENT001")
        assert agent.is_staff
        assert not agent.is_supervisor
    finally:
        await roles.close()


async def test_the_people_on_duty_behind_the_policy_s_names(fake: FakeSlack) -> None:
    policy = load_policy(None)
    calendar = policy.calendar.build(SHANGHAI)
    roles = roles_of(fake, roles={"agent": ["UAGENT001"], "supervisor": ["SLEADS001"]})
    night = datetime(2026, 10, 1, 3, 0, tzinfo=SHANGHAI)
    assert people_of(policy.duty.on_duty(calendar, night), roles) == ("UAGENT001",)
    names = ["supervisor", "UMGR00001", "agent", "UAGENT001"]
    assert people_of(names, roles) == ("SLEADS001", "UMGR00001", "UAGENT001")
