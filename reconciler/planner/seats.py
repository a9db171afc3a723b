"""Seat arithmetic: the mid-cycle credit for a released seat. Pure."""

from __future__ import annotations

import datetime as dt

from reconciler.timeutil import local_date


def _add_month(day: dt.date) -> dt.date:
    # cycle_day is at most 28, so the same day exists in every month.
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, day.day)


def cycle_bounds(cycle_day: int, day: dt.date) -> tuple[dt.date, dt.date]:
    """The billing cycle holding ``day``: [start, end) where start is the latest
    ``cycle_day`` of a month on or before ``day``."""
    if day.day >= cycle_day:
        start = day.replace(day=cycle_day)
    else:
        prev = day.replace(day=1) - dt.timedelta(days=1)
        start = prev.replace(day=cycle_day)
    return start, _add_month(start)


def prorated_credit_cents(price_cents: int, cycle_day: int, at: dt.datetime, tz: str) -> int:
    """Credit for a seat released at ``at``: price × days remaining / days in cycle,
    rounded down. Days remaining count the release day itself (the seat is released
    during it), in the practice timezone."""
    day = local_date(at, tz)
    start, end = cycle_bounds(cycle_day, day)
    remaining = (end - day).days
    return price_cents * remaining // (end - start).days
