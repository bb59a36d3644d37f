"""Who is staff on the Slack desk, and who is a supervisor, without asking Slack at each click.

Staff are the staff channel's members and the configured staff; supervisors are the
configured ones (KESU_SLACK_SUPERVISORS, and the users of role ``supervisor`` in
KESU_SLACK_ROLES) and the members of the supervisors' user groups, and are staff too. The lists
are kept here and read on every request (bolt's 3 seconds leave no room for a Web API call
per click); they are asked again in the background once ``ttl`` has passed, and at once when
someone joins or leaves the staff channel. When Slack cannot say, the last known lists stay
(nobody at first) and Slack is asked again in 10 s, not at every click.

Two lookups wait for Slack instead of answering from the lists, at most ``WAIT`` seconds so a
request is still acknowledged in time: right after someone joined or left (a member who just
left must not act on a case), and for someone the lists do not know while they are stale (a
new colleague is not refused because the lists are a minute old).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.sender import NETWORK_ERRORS
from bot.channels.slack.text import is_group
from bot.desk import Staff

log = logging.getLogger(__name__)

WAIT = 2.0  # seconds a lookup waits for Slack: under Slack's 3 s to acknowledge
RETRY_SOON = 10.0  # seconds before asking again when Slack could not answer
SUPERVISOR = "supervisor"  # the role KESU_SLACK_SUPERVISORS / _SUPERVISOR_GROUP fill


def configured(
    roles: Mapping[str, Iterable[str]] | None,
    supervisors: Iterable[str] = (),
    supervisor_group: str | None = None,
) -> dict[str, tuple[str, ...]]:
    """Role → the people configured for it; the older supervisor settings are role
    "supervisor" too, so the chain's 主管 level and the desk's rights agree."""
    listed = {role: tuple(people) for role, people in (roles or {}).items()}
    compat = (*supervisors, *([supervisor_group] if supervisor_group else []))
    listed[SUPERVISOR] = tuple(dict.fromkeys((*compat, *listed.get(SUPERVISOR, ()))))
    return {role: people for role, people in listed.items() if people}


class Configured:
    """The configured people of each role, nothing asked of Slack: what a command run by
    cron (``kesu sweep --once``) mentions in reminders, reports and alerts."""

    def __init__(self, roles: Mapping[str, tuple[str, ...]]) -> None:
        self.roles = dict(roles)

    def people(self, role: str) -> tuple[str, ...]:
        return self.roles.get(role, ())


class Roles:
    def __init__(
        self,
        web: AsyncWebClient,
        staff_channel: str,
        *,
        ready: Callable[[], bool],
        staff_users: Iterable[str] = (),
        supervisors: Iterable[str] = (),
        supervisor_group: str | None = None,
        roles: Mapping[str, Iterable[str]] | None = None,
        ttl: float = 60.0,
    ) -> None:
        # The outbox's client, which never retries: no sleeping out a 429 while clicks queue.
        self.web = web
        self.staff_channel = staff_channel
        self.ready = ready
        self.staff_users = frozenset(staff_users)
        self.roles = configured(roles, supervisors, supervisor_group)
        supervising = self.roles.get(SUPERVISOR, ())
        self.supervisors = frozenset(p for p in supervising if not is_group(p))
        self.supervisor_groups = tuple(p for p in supervising if is_group(p))
        self.ttl = ttl
        self._members: frozenset[str] = frozenset()
        self._group: frozenset[str] = frozenset()
        self._asked_at = float("-inf")  # monotonic: when the lists were last current
        self._changes = 0  # joins and leaves heard of
        self._seen = 0  # of which the lists reflect this many
        self._refresh: asyncio.Task[None] | None = None

    async def of(self, user_id: str, *, wait: bool = True) -> Staff:
        """The person's role (staff act on cases; supervisors also reassign and act on any),
        from the lists; with ``wait``, the two uncertain cases above wait for Slack first."""
        if not self.ready():  # the staff channel has not passed the checks: nobody is staff
            return Staff("slack", user_id, is_staff=False)
        if time.monotonic() - self._asked_at >= self.ttl:
            refresh = self.refresh()
            if wait and (self._seen < self._changes or not self._known(user_id)):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(refresh), WAIT)
        supervisor = user_id in self.supervisors or user_id in self._group
        member = user_id in self._members or user_id in self.staff_users
        return Staff("slack", user_id, member or supervisor, supervisor)

    def people(self, role: str) -> tuple[str, ...]:
        """The user and user group ids configured for ``role`` (none: nobody to mention).

        Groups are kept as groups, not expanded: Slack notifies a group's members itself
        when a message mentions it (``<!subteam^S…>``), with the membership of the moment,
        and a digest then reaches the group once."""
        return self.roles.get(role, ())

    def _known(self, user_id: str) -> bool:
        return user_id in self._members or user_id in self._group or user_id in self.staff_users

    def refresh(self) -> asyncio.Task[None]:
        """Ask Slack again in the background (one question for any number of clicks)."""
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._ask())
        return self._refresh

    def forget(self) -> None:
        """Somebody joined or left the staff channel: the lists are asked for at once, and
        the lookups meanwhile wait for them."""
        self._asked_at = float("-inf")
        self._changes += 1
        if self.ready():
            self.refresh()

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh
            self._refresh = None

    async def _ask(self) -> None:
        while True:  # someone joined or left while Slack was asked: ask again
            changes = self._changes
            try:
                current = await self._read()
            except Exception:  # a bug, not Slack: the lists stay, and it is on record
                log.exception("reading the desk's members failed")
                current = False
            if changes == self._changes:
                break
        self._seen = changes  # tried: even when Slack could not say, nobody waits on it now
        if current:
            self._asked_at = time.monotonic()
        else:  # the last known lists stay; Slack is asked again shortly
            self._asked_at = time.monotonic() - max(self.ttl - RETRY_SOON, 0.0)

    async def _read(self) -> bool:
        try:
            members: set[str] = set()
            pages = await self.web.conversations_members(channel=self.staff_channel, limit=200)
            async for page in pages:
                members.update(page.get("members", []))
            self._members = frozenset(members)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.warning("cannot read the staff channel's members: %s", exc)
            return False
        group: set[str] = set()
        for usergroup in self.supervisor_groups:
            try:
                users = await self.web.usergroups_users_list(usergroup=usergroup)
                group.update(users.get("users", []))
            except (SlackApiError, *NETWORK_ERRORS) as exc:
                log.warning("cannot read the supervisors' group %s (scope usergroups:read?): %s",
                            usergroup, exc)  # fmt: skip
                return False
        self._group = frozenset(group)
        return True
