"""The staff desk: what staff see of cases and what they may do, whatever the staff channel.

Channel-neutral like the flows: the desk never calls an SDK. One :class:`Desk` per staff
channel, three concerns apart:

- ``projection.py``: the card, the thread lines and the receipts, queued in the transaction of
  every change (a listener of the case service, wired in ``app.py``);
- ``actions.py``: staff commands with the desk's rules of who may do what;
- ``queries.py``: work lists, search, a case's details;
- ``reminders.py`` and ``flag_reports.py``: what the clock's steps tell staff, and the burst
  alerts the supervisors hear of;

and ``wording.py``, the words staff read. The customer's messages are not here: they are part
of each use case (``bot/services/notify.py``), so they go out with or without a staff channel.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.desk.actions import REPLY_LIMIT, Actions
from bot.desk.flag_reports import FlagReports
from bot.desk.model import Details, Outcome, Staff
from bot.desk.projection import Projection, mask_contact
from bot.desk.queries import Queries
from bot.desk.reminders import Reminders
from bot.nlp.classifier import Classifier
from bot.outgoing import TextLimits
from bot.services import CaseService

__all__ = [
    "REPLY_LIMIT",
    "Actions",
    "Desk",
    "Details",
    "FlagReports",
    "Outcome",
    "Projection",
    "Queries",
    "Reminders",
    "Staff",
    "mask_contact",
]


class Desk:
    """One staff channel's desk. Not a listener by itself: ``app.py`` appends
    ``desk.projection.on_change`` to the case service's listeners, ``desk.reminders.remind`` to
    its sweep's reminders, ``desk.reports.report`` to its reports and ``desk.reports.alert`` to
    the burst check's announcers, in plain sight. ``report_channel``: where the supervisors read
    flag reports and alerts (the staff channel when unset)."""

    def __init__(
        self,
        cases: CaseService,
        classifier: Classifier,
        *,
        channel: str,
        staff_channel: str,
        report_channel: str | None = None,
        on_enqueued: Callable[[], None] | None = None,
        text_limits: TextLimits | None = None,
    ) -> None:
        self.classifier = classifier
        self.projection = Projection(
            cases.sla,
            classifier,
            cases.clock.now,
            channel=channel,
            staff_channel=staff_channel,
            text_limits=text_limits,
        )
        self.reminders = Reminders(
            cases.sla,
            self.projection,
            cases.clock.now,
            channel=channel,
            staff_channel=staff_channel,
            text_limits=text_limits,
        )
        self.reports = FlagReports(
            self.projection,
            cases.clock.now,
            channel=channel,
            report_channel=report_channel or staff_channel,
            text_limits=text_limits,
        )
        self.actions = Actions(cases, classifier, channel=channel, on_enqueued=on_enqueued)
        self.queries = Queries(cases.store, self.projection)
