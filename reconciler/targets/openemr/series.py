"""Recurring ``openemr_postcalendar_events`` rows as series: the bridge between a
row's columns and :mod:`reconciler.targets.openemr.recurrence` (the pure
``pc_recurrspec`` <-> RRULE module). Pure: rows in, values out.

What a row means for the planner:

* ``rrule``: the RFC 5545 rule of its ``pc_recurrtype`` / ``pc_recurrspec``;
* ``start``: the first occurrence, ``pc_eventDate`` + ``pc_startTime`` in the practice timezone;
* ``until``: the start of the day after ``pc_endDate`` (exclusive end), None when
  ``pc_endDate`` is a zero date or the far-future marker (open-ended);
* ``active``: the row is not cancelled and has an occurrence at or after the read's
  ``at`` (``exdate`` days skipped).

:func:`end_before` is OpenEMR's own "this and future" split: the new ``pc_endDate``
is the day before the first occurrence at or after the cutoff, so no occurrence
before the cutoff changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from ...timeutil import start_of_day, zone

#: Written as ``pc_endDate`` for an open-ended successor series: a valid date (the
#: server may be strict, and a zero date is not one) that OpenEMR's calendar treats
#: as "no end".
OPEN_END = dt.date(9999, 12, 31)
_FAR = dt.date(9000, 1, 1)


def as_date(value: Any) -> dt.date | None:
    """A DATE column's value: a ``date``, or None for NULL and zero dates
    (``0000-00-00``, which the driver returns as a string)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def as_time(value: Any) -> dt.time:
    """A TIME column (PyMySQL returns ``timedelta``); NULL is midnight (all-day)."""
    if value is None:
        return dt.time(0, 0)
    if isinstance(value, dt.timedelta):
        secs = int(value.total_seconds()) % 86400
        return dt.time(secs // 3600, secs // 60 % 60, secs % 60)
    if isinstance(value, dt.time):
        return value
    h, m, *s = str(value).split(":")
    return dt.time(int(h) % 24, int(m), int(s[0]) if s else 0)


def local_instant(day: dt.date, at: dt.time, tz: str) -> dt.datetime:
    """``day`` + ``at`` in ``tz`` as aware UTC."""
    return dt.datetime.combine(day, at, tzinfo=zone(tz)).astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Rule:
    """A row's recurrence, decoded once."""

    first: dt.date
    last: dt.date | None  # inclusive; None = open-ended
    start_time: dt.time
    rrule: str
    exdates: frozenset[dt.date]
    recurrence: Any  # the recurrence module's own value

    def days(self, since: dt.date, until: dt.date | None = None) -> Iterator[dt.date]:
        """Occurrence days from ``since`` (inclusive) up to ``until`` (inclusive, else the last day)."""
        from . import _interim_recurrence as recurrence

        end = self.last if until is None else (until if self.last is None else min(until, self.last))
        for day in recurrence.occurrence_days(self.recurrence, self.first, since, end):
            if day not in self.exdates:
                yield day


def rule_of(row: Mapping[str, Any]) -> Rule:
    """Decode a recurring row (raises ValueError for a spec the module cannot read)."""
    from . import _interim_recurrence as recurrence

    first = as_date(row["pc_eventDate"])
    if first is None:
        raise ValueError("recurring event without a valid pc_eventDate")
    last = as_date(row["pc_endDate"])
    if last is not None and last >= _FAR:
        last = None
    rec = recurrence.from_row(int(row["pc_recurrtype"]), row["pc_recurrspec"])
    return Rule(first=first, last=last, start_time=as_time(row["pc_startTime"]),
                rrule=recurrence.to_rrule(rec), exdates=frozenset(recurrence.exdates(rec)), recurrence=rec)


def until_of(rule: Rule, tz: str) -> dt.datetime | None:
    return None if rule.last is None else start_of_day(rule.last + dt.timedelta(days=1), tz)


def first_at_or_after(rule: Rule, cutoff: dt.datetime, tz: str) -> dt.date | None:
    """The day of the first occurrence starting at or after ``cutoff``, if any."""
    day0 = cutoff.astimezone(zone(tz)).date()
    for day in rule.days(max(day0, rule.first)):
        if local_instant(day, rule.start_time, tz) >= cutoff:
            return day
    return None


def is_active(rule: Rule, at: dt.datetime, tz: str) -> bool:
    return first_at_or_after(rule, at, tz) is not None


def end_before(rule: Rule, cutoff: dt.datetime, tz: str) -> tuple[dt.date, dt.date | None]:
    """(new ``pc_endDate``, first day kept for a successor or None): the day before the
    first occurrence at or after ``cutoff``; occurrences before it are untouched."""
    nxt = first_at_or_after(rule, cutoff, tz)
    if nxt is None:
        return (rule.last or cutoff.astimezone(zone(tz)).date()), None
    return nxt - dt.timedelta(days=1), nxt
