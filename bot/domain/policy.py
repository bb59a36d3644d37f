"""The service-level policy (时限政策) as data: SLA targets, business hours, holidays, escalation.

A deployment edits a TOML file, never code. Parsing is strict (unknown keys are errors) so a
typo such as ``frist_response`` is reported instead of silently falling back to a default.
"""

from __future__ import annotations

import tomllib
from datetime import date, time, timedelta
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.calendar import BusinessCalendar, YearDays, chinese_statutory_workday
from bot.domain.cases import MEDIA, DomainError, Priority
from bot.domain.duty import Duty, is_role
from bot.domain.targets import Target


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrioritySla(_Strict):
    name_zh: str
    name_en: str
    first_response: Target
    resolution: Target


class EscalationStep(_Strict):
    """One level of the chain above the front line: ``review_within`` is its time to review a
    case that reached it, ``escalate_after`` how long the case may sit here unresolved.

    ``role`` says whom the level pings (its people are listed per staff channel, in the
    settings); ``title_zh``/``title_en`` is what the customer is told handles the case now — a
    function such as 客服主管, never a person's name."""

    name_zh: str
    name_en: str
    role: str
    title_zh: Annotated[str, Field(min_length=1, max_length=40)]
    title_en: Annotated[str, Field(min_length=1, max_length=80)]
    review_within: Target | None = None
    escalate_after: Target | None = None

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if not is_role(value):
            raise ValueError(
                f"{value!r} is not a role name: a lowercase word such as agent or supervisor "
                "(the people of each role are set per staff channel, e.g. KESU_SLACK_ROLES)"
            )
        return value


class YearSchedule(_Strict):
    off: list[date] = []
    workdays: list[date] = []


def _parse_hhmm(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a time like 09:00") from exc


class CalendarPolicy(_Strict):
    hours: list[tuple[str, str]] = [("09:00", "18:00")]
    statutory: bool = True  # follow the State Council schedule via chinesecalendar
    years: dict[int, YearSchedule] = {}

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for start, end in value:
            if _parse_hhmm(start) >= _parse_hhmm(end):
                raise ValueError(f"working hours {start}-{end} end before they start")
        return value

    def working_day(self) -> timedelta:
        """The working time of one working day: what ``working_days = 1`` is worth."""
        total = timedelta(0)
        for start, end in self.hours:
            s, e = _parse_hhmm(start), _parse_hhmm(end)
            total += timedelta(hours=e.hour - s.hour, minutes=e.minute - s.minute)
        return total

    def build(self, tz: ZoneInfo) -> BusinessCalendar:
        return BusinessCalendar(
            tz=tz,
            hours=tuple((_parse_hhmm(s), _parse_hhmm(e)) for s, e in self.hours),
            years={
                y: YearDays(off=frozenset(s.off), workdays=frozenset(s.workdays))
                for y, s in self.years.items()
            },
            statutory=chinese_statutory_workday if self.statutory else None,
        )


class Policy(_Strict):
    calendar: CalendarPolicy = CalendarPolicy()
    sla: dict[Priority, PrioritySla]
    escalation: list[EscalationStep]
    #: Without a [duty] table the front line (role ``agent``) is on duty at every hour.
    duty: Duty = Duty(default=["agent"])

    @field_validator("sla")
    @classmethod
    def _every_priority(cls, value: dict[Priority, PrioritySla]) -> dict[Priority, PrioritySla]:
        missing = [p.value for p in Priority if p not in value]
        if missing:
            raise ValueError(f"missing SLA for priority {', '.join(missing)}")
        return value

    @field_validator("escalation")
    @classmethod
    def _chain(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        if not value:
            raise ValueError("the escalation chain needs at least the front line")
        first, top = value[0], value[-1]
        if first.escalate_after is not None or first.review_within is not None:
            raise ValueError(
                f"escalation level 0 ({first.name_en}): the front line's times are the SLA "
                "targets ([sla.*]); a case leaves it when one is breached, so escalate_after "
                "and review_within are for the levels above it"
            )
        if len(value) > 1 and top.escalate_after is not None:
            raise ValueError(
                f"escalation level {len(value) - 1} ({top.name_en}) is the top of the chain: "
                "there is no level to escalate_after to"
            )
        return value

    @model_validator(mode="after")
    def _targets_in_order(self) -> Self:
        """A case must never be due for resolution before its first response: refuse a
        resolution on the calendar clock after a first response on the business clock (a
        Friday-evening case would be due Saturday, answered Monday) and a resolution shorter
        than its first response on the same clock."""
        day = self.calendar.working_day()
        problems = []
        for priority, sla in sorted(self.sla.items()):
            first_calendar, first = sla.first_response.budget(day)
            res_calendar, resolution = sla.resolution.budget(day)
            if res_calendar and not first_calendar:
                problems.append(
                    f"sla.{priority.value}: the first response runs on the business clock but the "
                    "resolution on the calendar clock, so a case received after hours would be due "
                    "for resolution before its first response; put both on the business clock"
                )
            elif res_calendar == first_calendar and resolution < first:
                problems.append(
                    f"sla.{priority.value}: the resolution ({sla.resolution.describe()}) is "
                    f"shorter than the first response ({sla.first_response.describe()})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def level(self, index: int) -> EscalationStep:
        """The chain's step at ``index``, clamped: a case stored at a level a later, shorter
        chain no longer has is handled by the top of the chain (start-up names such cases)."""
        return self.escalation[max(0, min(index, len(self.escalation) - 1))]

    @property
    def top_level(self) -> int:
        return len(self.escalation) - 1

    def duty_gap(self) -> str | None:
        """Why the rota fails a calendar-clock target (one that runs at any hour, so needs
        somebody outside working hours), naming the first gap; None when it does not."""
        around_the_clock = [
            f"{p.value} {kind} {target.describe()}"
            for p, sla in sorted(self.sla.items())
            for kind, target in (("first response", sla.first_response),
                                 ("resolution", sla.resolution))
            if target.on_calendar_clock
        ]  # fmt: skip
        if not around_the_clock:
            return None
        hours = [(_parse_hhmm(s), _parse_hhmm(e)) for s, e in self.calendar.hours]
        holidays = self.calendar.statutory or bool(self.calendar.years)
        gap = self.duty.first_gap(hours, holidays=holidays)
        if gap is None:
            return None
        return (
            f"duty: {gap}, but {around_the_clock[0]} runs on the calendar clock (at any hour); "
            "add a [[duty.shift]] for it or a [duty] default"
        )

    # -- closure (闭环, DOMAIN.md §6): staff resolve, the monitor checks, the customer confirms
    class Closure(_Strict):
        """How a resolved case is closed: the customer's window to answer 已解决 / 未解决
        (no answer closes it, recorded as such), and whether a supervisor checks first."""

        confirm_within: Target = Target(working_days=3)
        #: A supervisor approves a resolution (then the customer is asked) or sends it back
        #: with a note, before the customer hears of it (status 待审核 ``reviewing``).
        review_before_confirm: bool = False

    closure: Closure = Closure()

    # -- reminders before deadlines (issue 14 item 3): sent by the desk (bot/desk/reminders.py)
    class Reminders(_Strict):
        """Points before each deadline, in percent of its budget on the target's own clock;
        the breach (100) is always a step of its own. ``digest_window`` (minutes): a person's
        further reminders within the window of their first come as one digest at its end,
        so a burst of complaints does not flood them (0: every reminder on its own)."""

        points: list[Annotated[int, Field(ge=1, le=99)]] = [50, 80]
        digest_window: Annotated[int, Field(ge=0, le=24 * 60)] = 5
        #: 定期更新进展: an open case's customer has heard nothing from the desk this long, so
        #: whoever holds the case is reminded to update them; false = never.
        silence: Target | Literal[False] = Target(hours=24)

        @field_validator("points")
        @classmethod
        def _ascending(cls, value: list[int]) -> list[int]:
            if value != sorted(set(value)):
                raise ValueError("list each reminder point once, in ascending order")
            return value

    reminders: Reminders = Reminders()

    # -- the revisit survey (回访, DOMAIN.md §6; bot/services/survey.py)
    class Survey(_Strict):
        """After closure: A/B and flagged cases always, C at ``sample_rate``; sent ``delay``
        after the closure (in working time on the default business clock), reminded once
        ``remind_after`` the sending, expired ``expire_after`` it."""

        sample_rate: Annotated[float, Field(ge=0, le=1)] = 0.3
        delay: Target = Target(hours=1)
        remind_after: Target = Target(hours=24, clock="calendar")
        expire_after: Target = Target(hours=72, clock="calendar")

        @model_validator(mode="after")
        def _remind_before_expiry(self) -> Self:
            reminder = self.remind_after.budget(timedelta(hours=24))
            expiry = self.expire_after.budget(timedelta(hours=24))
            if reminder[0] == expiry[0] and reminder[1] >= expiry[1]:
                raise ValueError("remind_after must be shorter than expire_after")
            return self

    survey: Survey = Survey()

    # -- the burst alert (预警机制: 投诉突增, DOMAIN.md §5, seed 004; bot/services/bursts.py)
    class Burst(_Strict):
        """A category's intake in the last hour above ``factor`` times its usual rate — the
        mean of the same hour of the week over the previous ``weeks`` weeks — and at least
        ``minimum``. One alert per category until the hour's intake is back within that."""

        enabled: bool = True
        factor: Annotated[float, Field(ge=1, le=100)] = 2.0
        minimum: Annotated[int, Field(ge=1, le=1_000_000)] = 5
        weeks: Annotated[int, Field(ge=1, le=12)] = 4

    burst: Burst = Burst()

    # -- press enquiries (媒体问询, DOMAIN.md §5, seed 000 第十二条; bot/nlp/press.py)
    class Media(_Strict):
        """The front line gives a journalist no answer of substance, only that ``title_*``
        (the department that owns press) replies within ``reply_within``; the people of
        role ``owner`` are pinged and reminded until one takes it."""

        owner: str = "pr"
        title_zh: Annotated[str, Field(min_length=1, max_length=40)] = "公共关系部"
        title_en: Annotated[str, Field(min_length=1, max_length=80)] = "public relations department"
        reply_within: Target = Target(hours=48, clock="calendar")

        @field_validator("owner")
        @classmethod
        def _role(cls, value: str) -> str:
            if not is_role(value):
                raise ValueError(f"{value!r} is not a role (a lowercase word, like 'pr')")
            return value

    media: Media = Media()

    def targets(self, priority: Priority, category: str | None = None) -> tuple[Target, Target]:
        """(first response, resolution) of a case: its priority's, or for a press enquiry
        the reply time for both (the department's reply is the whole answer)."""
        if category == MEDIA:
            return self.media.reply_within, self.media.reply_within
        sla = self.sla[priority]
        return sla.first_response, sla.resolution


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate; every problem comes back as one DomainError naming the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DomainError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err["loc"], err["msg"]) for err in exc.errors())
        raise DomainError(f"{source}: {problems}") from exc


def _problem(loc: tuple[int | str, ...], msg: str) -> str:
    """One validation error as a line: the key it is about, then what is wrong (a check of
    the whole file names its keys itself)."""
    msg = msg.removeprefix("Value error, ")
    return f"{'.'.join(str(p) for p in loc)}: {msg}" if loc else msg
