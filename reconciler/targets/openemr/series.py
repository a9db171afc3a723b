"""Recurring ``openemr_postcalendar_events`` rows as the planner's series: the bridge
between a row's columns and :mod:`.recurrence` (the pure ``pc_recurrspec`` <-> RRULE
module). Pure: rows in, values out.

* ``rrule``: the RFC 5545 rule of ``pc_recurrtype`` / ``pc_recurrspec``;
* ``start``: the first occurrence, ``pc_eventDate`` + ``pc_startTime`` in the practice timezone;
* ``until``: the start of the day after ``pc_endDate`` (exclusive; OpenEMR shows no
  recurring row whose end date is the zero date, so a shown series always has one);
* ``active``: the row has a session at or after the read's ``at`` (``exdate`` honoured).

Writes go through :func:`.recurrence.split_at` (OpenEMR's own "this and future"):
nothing before the cutoff ever changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from . import recurrence as rec


def as_date(value: Any) -> dt.date | None:
    """A DATE column's value: a ``date``, or None for NULL and zero dates
    (``0000-00-00``, which the driver returns as a string)."""
    try:
        return rec.parse_db_date(value)
    except rec.RecurrenceError:
        return None


def as_time(value: Any) -> dt.time:
    """A TIME column (PyMySQL returns ``timedelta``); NULL is midnight (all-day)."""
    if value is None:
        return dt.time(0, 0)
    return rec.parse_db_time(value)


def local_instant(day: dt.date, at: dt.time, tz: str) -> dt.datetime:
    """``day`` + ``at`` in ``tz`` as aware UTC (DST as RFC 5545 prescribes)."""
    return rec.local_to_utc(day, at, ZoneInfo(tz))


def event_row(row: Mapping[Any, Any]) -> rec.EventRow:
    """Decode a row (raises :class:`recurrence.RecurrenceError` naming the column)."""
    return rec.EventRow.from_db(
        pc_eventDate=row["pc_eventDate"],
        pc_endDate=row["pc_endDate"],
        pc_startTime=row["pc_startTime"],
        pc_recurrtype=row["pc_recurrtype"],
        pc_recurrspec=row["pc_recurrspec"],
    )


def rrule_of(er: rec.EventRow) -> str:
    try:
        return rec.to_rrule(er.recurrtype, er.spec, er.event_date, None, exact=False)
    except rec.RecurrenceError:
        return f"X-OPENEMR-RECURRTYPE={er.recurrtype}"


def until_of(er: rec.EventRow, tz: str) -> dt.datetime | None:
    return None if er.end_date is None else rec.until_for_end_date(er.end_date, ZoneInfo(tz))


def is_active(er: rec.EventRow, at: dt.datetime, tz: str) -> bool:
    """A session at or after ``at`` remains."""
    if er.end_date is None:
        return False
    try:
        return rec.split_at(er, at, ZoneInfo(tz)).kind != "nothing"
    except rec.RecurrenceError:
        return False


def split(er: rec.EventRow, cutoff: dt.datetime, tz: str) -> rec.Split:
    return rec.split_at(er, cutoff, ZoneInfo(tz))
