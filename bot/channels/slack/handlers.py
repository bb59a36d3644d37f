"""The listeners: a click, a form, /kesu or a thread message, each to one call of the desk.

Every listener gets the acting person as ``staff`` from the context (``app.py`` looked them
up and turned away anyone outside the desk), asks the desk, and says what came of it. Clicks,
shortcuts and /kesu reach their listener acknowledged already (``app.py``); a form
acknowledges with its answer (a refusal shows under its field). Errors are not caught here:
``app.py``'s error handler logs them and tells the person.

The desk's wording, rules and authorization are the desk's; this module only translates.
Every call of the desk from Slack is in this module (the inbox's processor replays stored
requests through ``claim``, ``more`` and ``thread_message``).
"""

from __future__ import annotations

import logging
from datetime import tzinfo
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack import blocks as kit
from bot.channels.slack import forms
from bot.channels.slack.roles import Roles
from bot.channels.slack.sender import NETWORK_ERRORS
from bot.channels.slack.tell import Teller
from bot.channels.slack.text import esc, plain_from_slack, unmention
from bot.clock import Clock
from bot.desk import REPLY_LIMIT, Desk, Outcome, Staff

log = logging.getLogger(__name__)

#: Set on a payload processed from the inbox: the desk records this id with the change, so a
#: row processed again after a crash changes nothing twice.
INBOX_ID = "kesu_inbox_update"
Body = dict[str, Any]


class Handlers:
    def __init__(
        self,
        desk: Desk,
        teller: Teller,
        roles: Roles,
        client: AsyncWebClient,
        *,
        clock: Clock,
        tz: tzinfo,
        staff_channel: str,
        reply_prefix: str | None,
    ) -> None:
        self.desk = desk
        self.teller = teller
        self.roles = roles
        self.client = client
        self.clock = clock
        self.tz = tz
        self.staff_channel = staff_channel
        self.reply_prefix = reply_prefix

    def register(self, app: AsyncApp) -> None:
        app.action(kit.CLAIM)(self.claim)
        app.action(kit.REPLY)(self.reply_button)
        app.action(kit.DETAILS)(self.details)
        app.action(kit.MORE)(self.more)
        app.shortcut("kesu_reply_message")(self.reply_shortcut)
        app.view("kesu_reply")(self.reply_submitted)
        for kind in (
            "escalate", "resolve", "invalid", "priority", "category", "severity", "approve",
            "send_back",
        ):  # fmt: skip
            app.view(f"kesu_{kind}")(self.form_submitted)
        app.view("kesu_assign")(self.assign_submitted)
        app.command("/kesu")(self.command)
        app.event("message")(self.thread_message)
        app.event("app_home_opened")(self.home)
        app.event("member_joined_channel")(self.membership)
        app.event("member_left_channel")(self.membership)

    # -- buttons and the menu on a card ----------------------------------------------------

    async def claim(
        self, body: Body, action: Body, staff: Staff, respond: AsyncRespond | None
    ) -> None:
        """A live click, or a stored one from the inbox (``INBOX_ID``: applied once)."""
        outcome = await self.desk.actions.claim(action["value"], staff, body.get(INBOX_ID))
        await self.teller.answer(staff.user_id, outcome, respond)

    async def reply_button(
        self, body: Body, action: Body, staff: Staff, respond: AsyncRespond
    ) -> None:
        await self._open_reply(body, action["value"], None, staff, respond)

    async def details(self, body: Body, action: Body, staff: Staff, respond: AsyncRespond) -> None:
        details = await self.desk.queries.details(action["value"])
        if details is None:
            await self._say(staff, f"没有案件 {action['value']}", respond)
            return
        history = [
            (e.at, e.actor, forms.event_words(e.action, e.changes), e.note) for e in details.history
        ]
        now = self.clock.now()
        view = forms.details_modal(details.card, history, details.attachments, now, self.tz)
        await self._open(body, view, staff, respond)

    async def more(
        self, body: Body, action: Body, staff: Staff, respond: AsyncRespond | None
    ) -> None:
        """A 更多操作 entry: release acts at once (live, or stored in the inbox like a claim),
        every other entry opens its form."""
        kind, _, number = action["selected_option"]["value"].partition("|")
        if kind == "release":
            outcome = await self.desk.actions.release(number, staff, body.get(INBOX_ID))
            await self.teller.answer(staff.user_id, outcome, respond)
            return
        if kind not in forms.FORMS:
            await self._say(staff, f"不认识的操作 (unknown action {kind!r})", respond)
            return
        details = await self.desk.queries.details(number)
        if details is None:
            await self._say(staff, f"没有案件 {number}", respond)
            return
        view = forms.action_modal(kind, details.card, self.desk.queries.categories())
        await self._open(body, view, staff, respond)

    async def reply_shortcut(self, shortcut: Body, staff: Staff, respond: AsyncRespond) -> None:
        """A message in a case's thread, as the draft of a reply to the customer."""
        message = shortcut.get("message") or {}
        channel = (shortcut.get("channel") or {}).get("id", "")
        thread_ts = message.get("thread_ts") or message.get("ts", "")
        number = await self.desk.queries.case_of_thread(f"{channel}:{thread_ts}")
        if number is None:
            await self._say(staff, "这条消息不在案件串里 (this message is not in a case's thread)",
                            respond)  # fmt: skip
            return
        draft = plain_from_slack(message.get("text", ""), self.tz)
        await self._open_reply(shortcut, number, draft, staff, respond)

    async def _open_reply(
        self, body: Body, number: str, draft: str | None, staff: Staff, respond: AsyncRespond
    ) -> None:
        details = await self.desk.queries.details(number)
        if details is None:
            await self._say(staff, f"没有案件 {number} (no such case)", respond)
            return
        await self._open(body, forms.reply_modal(details.card, draft, REPLY_LIMIT), staff, respond)

    async def _open(
        self, body: Body, view: Body, staff: Staff, respond: AsyncRespond | None
    ) -> None:
        try:
            await self.client.views_open(trigger_id=body["trigger_id"], view=view)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.warning("could not open a modal: %s", exc)
            await self._say(staff, "窗口打不开,请再点一次 (try again)", respond)

    async def _say(self, staff: Staff, refusal: str, respond: AsyncRespond | None) -> None:
        await self.teller.answer(staff.user_id, Outcome(False, refusal), respond)

    # -- forms -----------------------------------------------------------------------------
    # A form submitted twice (Slack slow to hear our answer, the person presses again) is
    # applied once: its view id is recorded with the change.

    async def reply_submitted(self, ack: AsyncAck, view: Body, staff: Staff) -> None:
        text = forms.value(view, "text") or ""
        outcome = await self.desk.actions.reply(
            view["private_metadata"], staff, text, update_id=f"view:{view['id']}"
        )
        await self._answer_form(ack, view, outcome)

    async def form_submitted(self, ack: AsyncAck, view: Body, staff: Staff) -> None:
        """The forms behind 更多操作, but for assigning."""
        number, seen = view["private_metadata"], f"view:{view['id']}"
        kind = view["callback_id"].removeprefix("kesu_")
        reason = forms.value(view, "reason") or ""
        chosen = forms.value(view, "value")
        match kind:
            case "escalate":
                outcome = await self.desk.actions.escalate(number, staff, reason, update_id=seen)
            case "resolve":
                result = forms.value(view, "outcome") or "resolved"
                outcome = await self.desk.actions.resolve(
                    number, staff, reason, result, update_id=seen
                )
            case "invalid":
                outcome = await self.desk.actions.mark_invalid(
                    number, staff, reason, update_id=seen
                )
            case "approve":
                outcome = await self.desk.actions.approve(number, staff, reason, update_id=seen)
            case "send_back":
                outcome = await self.desk.actions.send_back(number, staff, reason, update_id=seen)
            case "severity":
                headcount = (forms.value(view, "headcount") or "").strip()
                if headcount and not headcount.isdigit():
                    errors = {"headcount": "人数请填数字 (a whole number of people)"}
                    await ack(response_action="errors", errors=errors)
                    return
                count = int(headcount) if headcount else None
                outcome = await self.desk.actions.set_severity(
                    number, staff, chosen, count, reason, update_id=seen
                )
            case _:
                outcome = await self.desk.actions.correct(
                    number, staff, kind, chosen, reason, update_id=seen
                )
        await self._answer_form(ack, view, outcome)

    async def assign_submitted(self, ack: AsyncAck, view: Body, staff: Staff) -> None:
        # From the lists as they are: the acting person's lookup already waited for Slack
        # if anyone did, and a second wait could run past Slack's 3 s for the form's answer.
        to = await self.roles.of(forms.value(view, "user") or "", wait=False)
        outcome = await self.desk.actions.assign(
            view["private_metadata"],
            staff,
            to,
            forms.value(view, "reason"),
            update_id=f"view:{view['id']}",
        )
        await self._answer_form(ack, view, outcome)

    @staticmethod
    async def _answer_form(ack: AsyncAck, view: Body, outcome: Outcome) -> None:
        """A refused form stays open with the reason under its field (Slack's own way)."""
        if outcome.ok:
            await ack()
            return
        field = forms.ANSWER_FIELD[view["callback_id"]]
        await ack(response_action="errors", errors={field: unmention(outcome.message)[:2000]})

    # -- /kesu and App Home ----------------------------------------------------------------

    async def command(self, command: Body, staff: Staff, respond: AsyncRespond) -> None:
        """/kesu, acknowledged already (``app.py``): the list goes to the response_url, seen
        by the person alone, however long the queries took."""
        word, _, rest = (command.get("text") or "").strip().partition(" ")
        now = self.clock.now()
        match word.lower():
            case "mine":
                cards = await self.desk.queries.cards(await self.desk.queries.mine(staff))
                waiting = await self.desk.queries.awaiting_customer(staff)
                text = kit.list_text("我的案件 My cases", cards, now, self.tz)
                text += kit.awaiting_text(await self.desk.queries.cards(waiting), now, self.tz)
            case "open":
                cards = await self.desk.queries.cards(await self.desk.queries.open_cases())
                waiting = await self.desk.queries.awaiting_customer()
                text = kit.list_text("未结案件 Open cases", cards, now, self.tz)
                text += kit.awaiting_text(await self.desk.queries.cards(waiting), now, self.tz)
            case "find" if rest.strip():
                cards = await self.desk.queries.cards(await self.desk.queries.find(rest))
                text = kit.list_text(f"查找 {esc(rest.strip())}", cards, now, self.tz)
            case "help" | "":
                text = kit.HELP
            case _:
                text = f"不认识 `{esc(word)}` (unknown)\n{kit.HELP}"
        await self.teller.show(staff.user_id, text[:3900], respond)

    async def home(self, event: Body, staff: Staff | None) -> None:
        if event.get("tab", "home") != "home" or staff is None:
            return
        now = self.clock.now()
        if staff.is_staff:
            mine = await self.desk.queries.cards(await self.desk.queries.mine(staff))
            unclaimed = await self.desk.queries.cards(
                await self.desk.queries.open_cases(unclaimed=True)
            )
            waiting = await self.desk.queries.cards(
                await self.desk.queries.awaiting_customer(staff)
            )
            view = kit.home_view(mine, unclaimed, now, self.tz, waiting)
        else:
            view = kit.home_closed()
        try:
            await self.client.views_publish(user_id=staff.user_id, view=view)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.warning("could not publish App Home for %s: %s", staff.user_id, exc)

    # -- events in the staff channel -------------------------------------------------------

    async def thread_message(self, body: Body, event: Body, staff: Staff | None) -> None:
        """Thread talk is internal (a note on the case); only the configured prefix, if any,
        sends a thread message to the customer. Live, or stored in the inbox; its event id
        makes it count once. An event has no response_url: the answer goes to the thread."""
        if event.get("channel") != self.staff_channel or event.get("bot_id"):
            return
        if event.get("subtype") not in {None, "file_share", "thread_broadcast"}:
            return  # edits, deletions, joins …
        thread_ts, user = event.get("thread_ts"), event.get("user")
        if not thread_ts or thread_ts == event.get("ts") or not user or staff is None:
            return  # top-level talk in the channel is not about one case
        number = await self.desk.queries.case_of_thread(f"{self.staff_channel}:{thread_ts}")
        if number is None:
            return
        text = plain_from_slack(event.get("text") or "", self.tz)
        names = [
            str(f.get("name") or f.get("title") or f.get("id")) for f in event.get("files") or []
        ]
        if names:  # a file shared in the thread is on record by name (it stays in Slack)
            text = "\n".join(filter(None, [text, "📎 " + ", ".join(names)]))
        update_id = body.get("event_id") or f"msg:{self.staff_channel}:{event.get('ts')}"
        if self.reply_prefix and text.startswith(self.reply_prefix):
            reply = text.removeprefix(self.reply_prefix)
            outcome = await self.desk.actions.reply(number, staff, reply, update_id=update_id)
        else:
            outcome = await self.desk.actions.note(number, staff, text, update_id=update_id)
        await self.teller.tell(user, outcome, thread_ts)

    async def membership(self, event: Body) -> None:
        """Someone joined or left the staff channel: who is staff is asked again."""
        if event.get("channel") == self.staff_channel:
            self.roles.forget()
