"""The clock's steps as data (issue 14): what falls due on a case, and when, for its current
deadline version — reminder points before each deadline, the breach, the confirmation window.

Pure: the instants are computed from the case's row and the policy, never stored, so a
correction of the policy or of the case moves them without a migration. The database keeps
only which steps were done (``case_steps``) and the earliest one not done (``cases.next_due``),
the index the sweep reads (DESIGN.md principle 2).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.calendar import BusinessCalendar
from bot.domain.cases import MEDIA, Case, Severity, Status
from bot.domain.policy import Policy
from bot.domain.survey import SurveyState
from bot.domain.targets import Target

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
CONFIRM_TIMEOUT = "confirm_timeout"
SILENCE = "silence"  # the customer has heard nothing for a while (定期更新进展): a reminder
SURVEY = "survey"  # the revisit after closure: sent, reminded once, expired (services/survey.py)
SURVEY_SEND, SURVEY_REMIND, SURVEY_EXPIRE = "survey@send", "survey@remind", "survey@expire"
FLAG = "flag"  # 热点 after 7 days unresolved, 重大 after 30 (bot/services/flags.py)
FLAG_HOT, FLAG_MAJOR = "flag@hot", "flag@major"
UNRESOLVED_HOT, UNRESOLVED_MAJOR = timedelta(days=7), timedelta(days=30)
REPORT = "report"  # 热点 / 重大 reported to the supervisors (bot/desk/flag_reports.py)
REPORT_HOT, REPORT_MAJOR = "report@hot", "report@major"
WEEKS_REPORTED = 52  # a 重大 case is reported weekly while open: a year of steps at most
REVIEW = "review"  # the level's own time to review a case that reached it (主管 1 h)
LEVEL = "level"  # how long a case may sit at a level above the front line (escalate_after)
BREACH = 100  # the point that is the deadline itself

#: The fields whose change alters what is due: a change of any of them starts a new deadline
#: version (opening is version 1). Claiming or answering does not: the first response only
#: retires the first-response steps, which the computation already leaves out.
CLOCK_FIELDS = frozenset(
    {
        "first_response_due",
        "resolution_due",
        "sla_started_at",
        "clock_paused_at",
        "resolved_at",
        "closed_at",
        "level_since",  # a new level: its review deadline
        "customer_heard_at",  # the desk wrote to the customer: the silence starts again
        "confirm_asked_at",
        "survey",  # drawn at closure, sent, finished
        "severity_since",  # a flag raised: its reports
    }
)
_WORKING = frozenset({Status.NEW, Status.CLAIMED, Status.IN_PROGRESS, Status.REOPENED})


@dataclass(frozen=True, slots=True)
class Step:
    """One thing due on a case: ``key`` is what ``case_steps`` records (``resolution@80``)."""

    key: str
    deadline: str  # first_response, resolution or confirm_timeout: a breach replaces its points
    at: datetime


def key(deadline: str, point: int) -> str:
    return f"{deadline}@{point}"


def steps(case: Case, policy: Policy, calendar: BusinessCalendar) -> list[Step]:
    """Every step of the case's current deadline version, earliest first. A paused clock
    (等待客户) has none: its deadlines move when it resumes, which is a new version."""
    found: list[Step] = []
    asked = case.confirm_asked_at or case.resolved_at
    if case.status is Status.CLOSED:
        found += _survey(case, policy, calendar)
    elif case.status is Status.RESOLVED and asked is not None:
        at = policy.closure.confirm_within.due(calendar, asked)
        found.append(Step(CONFIRM_TIMEOUT, CONFIRM_TIMEOUT, at))
    elif case.status is Status.REVIEWING:  # the supervisor's turn: the customer still waits
        found += _silence(case, policy, calendar)
        found += _flags(case)
    elif case.status in _WORKING and case.clock_paused_at is None:
        first, resolution = policy.targets(case.priority, case.category)
        day = policy.calendar.working_day()
        # A press enquiry has one time, the department's reply: its resolution's steps.
        if case.first_responded_at is None and case.category != MEDIA:
            found += _points(
                FIRST_RESPONSE,
                target=first,
                case=case,
                due=case.first_response_due,
                policy=policy,
                calendar=calendar,
                working_day=day,
            )
        found += _points(
            RESOLUTION,
            target=resolution,
            case=case,
            due=case.resolution_due,
            policy=policy,
            calendar=calendar,
            working_day=day,
        )
        found += _review(case, policy, calendar)
        found += _silence(case, policy, calendar)
        found += _flags(case)
    if case.status.is_open:
        found += _reports(case)
    return sorted(found, key=lambda s: (s.at, s.key))


def _reports(case: Case) -> list[Step]:
    """DOMAIN.md §5: a 热点 case is reported within one working day (kesu: at once), a 重大
    one at once and then weekly until closed. One deadline: after downtime only the latest
    report is made, and a rise to 重大 (a new ``severity_since``) reports anew."""
    since = case.severity_since
    if since is None or case.severity.rank < Severity.HOT.rank:
        return []
    if case.severity is Severity.HOT:
        return [Step(REPORT_HOT, REPORT, since)]
    weekly = [
        Step(f"report@week{k}", REPORT, since + timedelta(weeks=k))
        for k in range(1, WEEKS_REPORTED + 1)
    ]
    return [Step(REPORT_MAJOR, REPORT, since), *weekly]


def _review(case: Case, policy: Policy, calendar: BusinessCalendar) -> list[Step]:
    """The level's own times run from when the case reached it (DOMAIN.md §4: the supervisor
    reviews within 1 h; if still unresolved, the manager within 4 h): the review time and
    ``escalate_after``; the breach of either escalates again, like any other. The front line
    has neither: its times are the SLA targets (the policy refuses them there)."""
    if case.level_since is None or case.escalation_level == 0:
        return []
    level = policy.level(case.escalation_level)
    found = []
    if level.review_within is not None:
        at = level.review_within.due(calendar, case.level_since)
        found.append(Step(key(REVIEW, BREACH), REVIEW, at))
    if level.escalate_after is not None:
        at = level.escalate_after.due(calendar, case.level_since)
        found.append(Step(key(LEVEL, BREACH), LEVEL, at))
    return found


def _survey(case: Case, policy: Policy, calendar: BusinessCalendar) -> list[Step]:
    """The revisit of a closed case drawn for one, while it waits or is out: one deadline, so
    after downtime only the latest passed step acts (an expiry replaces the sending)."""
    if case.survey not in (SurveyState.DUE, SurveyState.SENT) or case.closed_at is None:
        return []
    survey = policy.survey
    send = survey.delay.due(calendar, case.closed_at)
    return [
        Step(SURVEY_SEND, SURVEY, send),
        Step(SURVEY_REMIND, SURVEY, survey.remind_after.due(calendar, send)),
        Step(SURVEY_EXPIRE, SURVEY, survey.expire_after.due(calendar, send)),
    ]


def _flags(case: Case) -> list[Step]:
    """Unresolved 7 days: 热点; 30 days: 重大 (DOMAIN.md §5), counted from the SLA clock's
    start without the time paused waiting for the customer; none once the flag is that high.
    One deadline: after downtime 重大 replaces 热点."""
    start = case.sla_started_at + timedelta(seconds=case.paused_seconds)
    found = []
    if case.severity.rank < Severity.HOT.rank:
        found.append(Step(FLAG_HOT, FLAG, start + UNRESOLVED_HOT))
    if case.severity.rank < Severity.MAJOR.rank:
        found.append(Step(FLAG_MAJOR, FLAG, start + UNRESOLVED_MAJOR))
    return found


def _silence(case: Case, policy: Policy, calendar: BusinessCalendar) -> list[Step]:
    """定期更新进展: the customer of an open case has heard nothing from the desk for
    ``[reminders] silence`` — a reminder to whoever holds it, never an escalation. Once per
    silence: the desk's next message to them starts a new one."""
    silence = policy.reminders.silence
    heard = case.customer_heard_at or case.sla_started_at
    if silence is False:
        return []
    return [Step(key(SILENCE, BREACH), SILENCE, silence.due(calendar, heard))]


def _points(
    deadline: str,
    *,
    target: Target,
    case: Case,
    due: datetime,
    policy: Policy,
    calendar: BusinessCalendar,
    working_day: timedelta,
) -> list[Step]:
    """A point p is the instant when (100 - p)% of the target's budget is left, on the
    target's own clock: a business-clock target's point lies in working time, so it never
    reminds at night; pause credit is already in ``due``."""
    _, budget = target.budget(working_day)
    found = []
    for point in policy.reminders.points:
        left = budget * (BREACH - point) / BREACH
        if target.on_calendar_clock:
            at = due - left
        else:
            start = case.sla_started_at
            at = calendar.add(start, max(calendar.between(start, due) - left, timedelta(0)))
        found.append(Step(key(deadline, point), deadline, min(at, due)))
    found.append(Step(key(deadline, BREACH), deadline, due))
    return found


def next_due(all_steps: Iterable[Step], done: Collection[str]) -> datetime | None:
    """The earliest step not done yet; None when nothing is due (the sweep's index skips it)."""
    return min((s.at for s in all_steps if s.key not in done), default=None)


def passed(
    all_steps: Iterable[Step], done: Collection[str], now: datetime
) -> tuple[list[Step], list[Step]]:
    """(steps that act, steps skipped) at ``now``: of each deadline only the latest passed
    point not done acts — after downtime a breach replaces its earlier reminders — and the
    earlier ones are recorded as done without acting."""
    acting: dict[str, Step] = {}
    skipped: list[Step] = []
    for step in sorted(all_steps, key=lambda s: (s.at, s.key)):
        if step.key in done or step.at > now:
            continue
        earlier = acting.get(step.deadline)
        if earlier is not None:
            skipped.append(earlier)
        acting[step.deadline] = step
    return sorted(acting.values(), key=lambda s: (s.at, s.key)), skipped
