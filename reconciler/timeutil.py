"""Practice-timezone date math. Pure: no clock is read here."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reconciler.errors import ReconcilerError

UTC = dt.timezone.utc


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError with a readable message if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {name!r}") from exc


#: The range ``--at`` accepts (UTC): wide enough for any real practice.
AT_MIN = dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc)
AT_MAX = dt.datetime(9000, 1, 1, tzinfo=dt.timezone.utc)


def parse_at(text: str, tz: str) -> dt.datetime:
    """Parse ``--at``: an ISO 8601 date (00:00 that day in the practice timezone) or
    date-time (naive means practice timezone). Returns aware UTC."""
    text = text.strip()
    try:
        if len(text) == 10:
            d = dt.date.fromisoformat(text)
            t = start_of_day(d, tz)
        else:
            t = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=zone(tz))
            t = t.astimezone(UTC)
    except ValueError as exc:
        raise ValueError(f"--at {text!r} is not an ISO 8601 date or date-time") from exc
    except OverflowError:
        t = AT_MIN - dt.timedelta(days=1)  # year 1 or 9999 near a timezone edge: out of range below
    if not AT_MIN <= t < AT_MAX:
        # Planning subtracts 30 days (purges) and adds a billing month (seats): far
        # dates overflow Python's calendar there, and no practice plans for them.
        raise ValueError(f"--at {text!r} is out of range (years {AT_MIN.year} to {AT_MAX.year - 1})")
    return t


def resolve_at(at_text: str | None, tz: str, now: dt.datetime) -> dt.datetime:
    """The instant a command works at: ``--at`` when given, else ``now``; aware UTC.
    A malformed ``--at`` is a user error (:class:`ReconcilerError`, exit 1)."""
    if not at_text:
        return to_utc(now)
    try:
        return parse_at(at_text, tz)
    except ValueError as exc:
        raise ReconcilerError(str(exc)) from None


def start_of_day(day: dt.date, tz: str) -> dt.datetime:
    """00:00 of ``day`` in the practice timezone, as aware UTC (DST-correct)."""
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=zone(tz)).astimezone(UTC)


def local_date(at: dt.datetime, tz: str) -> dt.date:
    """The calendar date in the practice timezone at instant ``at``."""
    return at.astimezone(zone(tz)).date()


def to_utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC; naive values are taken as UTC (the database convention)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_z_or_none(value: dt.datetime | None) -> str | None:
    """:func:`iso_z`, passing None through."""
    return iso_z(value) if value is not None else None


def naive_utc(value: dt.datetime) -> dt.datetime:
    """Naive UTC, the database storage convention."""
    return to_utc(value).replace(tzinfo=None)


# iso_z's results by value: a plan or fingerprint formats tens of thousands of times
# that fall on a few hundred session slots. Equal datetimes are the same instant (a
# naive one never equals an aware one), so they format alike; bounded by clearing.
_ISO_Z: dict[dt.datetime, str] = {}
_ISO_Z_LIMIT = 65_536


def iso_z(value: dt.datetime) -> str:
    """``2026-11-22T16:00:00Z``: the plan's time format."""
    text = _ISO_Z.get(value)
    if text is None:
        text = to_utc(value).isoformat().replace("+00:00", "Z")
        if len(_ISO_Z) >= _ISO_Z_LIMIT:
            _ISO_Z.clear()
        _ISO_Z[value] = text
    return text


def parse_iso_z(text: str) -> dt.datetime:
    return to_utc(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
