"""OpenEMR's calendar recurrence, as pure functions over plain values.

OpenEMR 7 keeps an appointment series as ONE row of ``openemr_postcalendar_events``:
``pc_eventDate`` (first day), ``pc_endDate`` (last day, inclusive), ``pc_startTime``
(local wall time), ``pc_recurrtype`` and ``pc_recurrspec`` (a PHP-serialized array). The
reconciler speaks RFC 5545 RRULEs and UTC instants; this module translates, and expands a
row into the sessions OpenEMR's calendar shows, so that what the reconciler cancels or
moves is exactly what a receptionist sees. No database code lives here (the target's
storage code calls these functions with the values it read).

Where the semantics come from (OpenEMR 7, ``openemr/openemr``):

* ``library/appointments.inc.php`` ``fetchEvents()`` — the expansion the calendar,
  reports and the patient summary use: types 1 and 3 walk ``__increment()`` from
  ``pc_eventDate``; type 2 walks months and takes ``Date_Calc::NWeekdayOfMonth``,
  falling back from the 5th to the 4th weekday ("last"); ``exdate`` entries are
  compared to the occurrence with its dashes removed (``YYYYMMDD``); the stop date is
  ``min(pc_endDate, window end)`` (inclusive); ``checkEvent()`` hides rows whose spec
  lacks the keys the type needs. A recurring row whose ``pc_endDate`` is the zero date
  has the zero date as its stop date, so it shows no occurrence at all.
* ``interface/main/calendar/modules/PostCalendar/pnuserapi.php`` ``calculateEvents()``
  — the calendar grid itself: the same walks, exdate test and stop date
  (``min(last shown day, pc_endDate)``, so a zero end date shows nothing there either).
* ``library/encounter_events.inc.php`` ``__increment()`` — day ``+f``, week ``+7f``,
  month/year through PHP ``mktime`` (which *overflows*: Jan 31 + 1 month = Mar 3, and
  the walk continues from Mar 3), work day (skip the ``weekend_days`` global, default
  ``6,0`` = Saturday, Sunday in ``library/globals.inc.php``), and type 3's
  ``REPEAT_DAYS_EVERY_WEEK`` (6): the earliest "next <listed day>" strictly after.
* ``interface/main/calendar/add_edit_event.php`` — what OpenEMR writes: every value a
  string (``"$my_repeat_freq"``); type 3 is ``event_repeat_freq = "2,4"`` (1 = Sunday …
  7 = Saturday) with ``event_repeat_freq_type = "6"``; type 2 has ``event_repeat_on_num``
  1-4 or 5 (last), ``event_repeat_on_day`` 0 = Sunday … 6, ``event_repeat_on_freq`` = N
  and, since 2016, ``rt2_pf_flag = "1"`` (month walk from day 1, no overflow); "this
  occurrence only" appends ``date("Ymd")`` to ``exdate`` (comma-separated); "this and
  future" sets ``pc_endDate`` to the selected day minus one and inserts a new row (or
  deletes the row when the selected day is its first).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

import phpserialize
from dateutil.rrule import rrulestr

__all__ = [
    "EventRow",
    "RecurrSpec",
    "RecurrSpecError",
    "RecurrenceError",
    "RuleParts",
    "Split",
    "UnrepresentableRecurrence",
    "dump_recurrspec",
    "end_date_for_until",
    "from_rrule",
    "local_to_utc",
    "occurrences",
    "parse_db_date",
    "parse_db_time",
    "parse_recurrspec",
    "split_at",
    "to_rrule",
    "until_for_end_date",
    "utc_to_local",
]

# pc_recurrtype
NONE, REPEAT, NTH_WEEKDAY, DAYS_OF_WEEK = 0, 1, 2, 3
# event_repeat_freq_type (encounter_events.inc.php REPEAT_* constants)
DAY, WEEK, MONTH, YEAR, WORK_DAY, DAYS_EVERY_WEEK = 0, 1, 2, 3, 4, 6
LAST = 5  # event_repeat_on_num 5 = "last"
DEFAULT_WEEKEND = (6, 0)  # OpenEMR's weekend_days default "6,0" (PHP date('w'): 0 = Sunday)

_RFC_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # index = Python weekday()
_WORKDAYS = "MO,TU,WE,TH,FR"
_KEY_ORDER = (
    "event_repeat_freq",
    "event_repeat_freq_type",
    "event_repeat_on_num",
    "event_repeat_on_day",
    "event_repeat_on_freq",
    "exdate",
)


class RecurrenceError(ValueError):
    """Base of this module's errors; a ``ValueError`` so callers that validate input catch it."""


class RecurrSpecError(RecurrenceError):
    """A ``pc_recurrspec`` (or row value) that is not what OpenEMR writes; ``where`` names
    the key or column, so the target can report the row and field instead of a traceback."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


class UnrepresentableRecurrence(RecurrenceError):
    """A rule one side cannot express exactly: an RRULE OpenEMR has no recurrence for, or an
    OpenEMR row whose dates (PHP ``mktime`` overflow, a weekend start, …) no RRULE gives."""


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class RecurrSpec:
    """``pc_recurrspec``, with OpenEMR's own key names.

    Numbers are ``None`` when the key is missing or empty (``checkEvent()`` then hides
    the row). ``event_repeat_freq`` stays text because type 3 stores a day list there
    (``"2,4"``). ``exdate`` keeps every token as written: OpenEMR only ever matches
    ``YYYYMMDD`` tokens, so others (``Y-m-d`` tokens are seen in some delete code paths
    of OpenEMR-derived code) are inert but preserved, never silently rewritten. ``rt2_pf_flag`` is ``None`` when absent (rows
    saved before 2016), which changes the type-2 month walk. Unknown keys are kept in
    ``extra`` and written back. The defaults are OpenEMR's ``$noRecurrspec`` (what a
    non-recurring row gets).
    """

    event_repeat_freq: str = ""
    event_repeat_freq_type: int | None = None
    event_repeat_on_num: int | None = 1
    event_repeat_on_day: int | None = 0
    event_repeat_on_freq: int | None = 0
    exdate: tuple[str, ...] = ()
    rt2_pf_flag: bool | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def interval(self) -> int:
        """``event_repeat_freq`` as the positive count of units (types 1)."""
        text = self.event_repeat_freq.strip()
        if not text.isdigit() or int(text) < 1:
            raise RecurrSpecError(
                "event_repeat_freq", f"expected a positive whole number, got {self.event_repeat_freq!r}"
            )
        return int(text)

    @property
    def weekdays(self) -> tuple[int, ...]:
        """Type 3's listed days as OpenEMR numbers them (1 = Sunday … 7 = Saturday), sorted."""
        days: set[int] = set()
        for token in self.event_repeat_freq.split(","):
            t = token.strip()
            if not t.isdigit() or not 1 <= int(t) <= 7:
                raise RecurrSpecError(
                    "event_repeat_freq", f"expected days 1 (Sunday) to 7 (Saturday), got {self.event_repeat_freq!r}"
                )
            days.add(int(t))
        return tuple(sorted(days))

    @property
    def excluded(self) -> frozenset[dt.date]:
        """The dates ``exdate`` hides: its tokens OpenEMR can match (``YYYYMMDD``)."""
        out: set[dt.date] = set()
        for token in self.exdate:
            d = _yyyymmdd(token)
            if d is not None:
                out.add(d)
        return frozenset(out)

    def with_exdates(self, tokens: tuple[str, ...]) -> RecurrSpec:
        return replace(self, exdate=tokens)


def _yyyymmdd(token: str) -> dt.date | None:
    t = token.strip()
    if len(t) != 8 or not t.isdigit():
        return None
    try:
        return dt.date(int(t[:4]), int(t[4:6]), int(t[6:]))
    except ValueError:
        return None


def _scalar(key: str, value: Any) -> str:
    """PHP scalar → text, as PHP's string conversion would give it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    raise RecurrSpecError(key, f"expected a string or number, got {type(value).__name__}")


def _opt_int(key: str, text: str) -> int | None:
    t = text.strip()
    if t == "":
        return None
    if re.fullmatch(r"[+-]?\d+", t) is None:
        raise RecurrSpecError(key, f"expected a whole number, got {text!r}")
    return int(t)


def parse_recurrspec(raw: bytes | str | None) -> RecurrSpec:
    """Read ``pc_recurrspec`` with ``phpserialize`` (never by hand).

    Memoised by value (:func:`_parse_recurrspec`): a calendar's recurring rows share a few
    specs, and a saved plan's apply reads each row three times (the re-plan, the writer's
    check, the split). A spec is immutable, so sharing one is safe.

    Tolerant of what real rows hold: numbers as strings or ints, missing keys, an empty
    ``exdate``, an empty or NULL column (non-recurring rows) → the defaults. Garbage (not
    PHP serialization, not an array, objects, nested arrays where a value belongs) raises
    ``RecurrSpecError`` naming the column or key. Objects are refused, as OpenEMR's own
    ``unserialize(..., ['allowed_classes' => false])`` does.
    """
    if raw is None:
        return RecurrSpec()
    if isinstance(raw, (str, bytes)):
        return _parse_recurrspec(raw)
    return _parse_recurrspec.__wrapped__(raw)


@functools.lru_cache(maxsize=4096)
def _parse_recurrspec(raw: bytes | str) -> RecurrSpec:
    """:func:`parse_recurrspec` of a non-NULL value (errors are raised, never cached)."""
    data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    if not data.strip():
        return RecurrSpec()
    try:
        value = phpserialize.loads(data, decode_strings=True)
    except Exception as exc:  # phpserialize raises ValueError, but also IndexError etc. on truncation
        raise RecurrSpecError("pc_recurrspec", f"not PHP-serialized data ({exc})") from exc
    if not isinstance(value, Mapping):
        raise RecurrSpecError("pc_recurrspec", f"expected a PHP array, got {type(value).__name__}")
    fields: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for k, v in value.items():
        key = _scalar("pc_recurrspec key", k)
        text = _scalar(key, v)
        if key in _KEY_ORDER or key == "rt2_pf_flag":
            fields[key] = text
        else:
            extra.append((key, text))
    exdate = fields.get("exdate", "")
    return RecurrSpec(
        event_repeat_freq=fields.get("event_repeat_freq", ""),
        event_repeat_freq_type=_opt_int("event_repeat_freq_type", fields.get("event_repeat_freq_type", "")),
        event_repeat_on_num=_opt_int("event_repeat_on_num", fields.get("event_repeat_on_num", "")),
        event_repeat_on_day=_opt_int("event_repeat_on_day", fields.get("event_repeat_on_day", "")),
        event_repeat_on_freq=_opt_int("event_repeat_on_freq", fields.get("event_repeat_on_freq", "")),
        exdate=tuple(exdate.split(",")) if exdate != "" else (),
        rt2_pf_flag=None if "rt2_pf_flag" not in fields else fields["rt2_pf_flag"].strip() not in ("", "0"),
        extra=tuple(extra),
    )


def dump_recurrspec(spec: RecurrSpec) -> str:
    """Serialize as OpenEMR's ``add_edit_event.php`` does: the six keys in its order, every
    value a string, then ``rt2_pf_flag`` when set, then unknown keys as they were read."""

    def num(n: int | None) -> str:
        return "" if n is None else str(n)

    array: dict[str, str] = {
        "event_repeat_freq": spec.event_repeat_freq,
        "event_repeat_freq_type": num(spec.event_repeat_freq_type),
        "event_repeat_on_num": num(spec.event_repeat_on_num),
        "event_repeat_on_day": num(spec.event_repeat_on_day),
        "event_repeat_on_freq": num(spec.event_repeat_on_freq),
        "exdate": ",".join(spec.exdate),
    }
    if spec.rt2_pf_flag is not None:
        array["rt2_pf_flag"] = "1" if spec.rt2_pf_flag else "0"
    for k, v in spec.extra:
        array[k] = v
    out: bytes = phpserialize.dumps(array, charset="utf-8")
    return out.decode("utf-8")


# --------------------------------------------------------------------------- row values


def parse_db_date(value: object, column: str = "date") -> dt.date | None:
    """A DATE as drivers return it: ``date``, ``datetime``, ``'YYYY-MM-DD'``, or the zero
    date (``'0000-00-00'``, NULL) OpenEMR stores with ``sql_mode = ''`` → ``None``."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "0000-00-00", "0000-00-00 00:00:00"):
            return None
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError as exc:
            raise RecurrSpecError(column, f"not a date: {value!r}") from exc
    raise RecurrSpecError(column, f"not a date: {value!r}")


def parse_db_time(value: object, column: str = "pc_startTime") -> dt.time:
    """A TIME as drivers return it: ``time``, ``timedelta`` (PyMySQL), or text ``H:M[:S]``
    (OpenEMR builds ``"$tmph:$tmpm:00"``)."""
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.timedelta):
        secs = int(value.total_seconds())
        if not 0 <= secs < 86400:
            raise RecurrSpecError(column, f"not a time of day: {value!r}")
        return dt.time(secs // 3600, secs % 3600 // 60, secs % 60)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?\s*", value)
        if m is not None:
            try:
                return dt.time(int(m[1]), int(m[2]), int(m[3] or 0))
            except ValueError:
                pass
    raise RecurrSpecError(column, f"not a time of day: {value!r}")


@dataclass(frozen=True)
class EventRow:
    """The columns of one ``openemr_postcalendar_events`` row that recurrence needs."""

    event_date: dt.date
    end_date: dt.date | None
    start_time: dt.time
    recurrtype: int
    spec: RecurrSpec = RecurrSpec()

    @classmethod
    def from_db(
        cls,
        *,
        pc_eventDate: object,
        pc_endDate: object,
        pc_startTime: object,
        pc_recurrtype: object,
        pc_recurrspec: bytes | str | None,
    ) -> EventRow:
        """Build from raw driver values, each error naming its column."""
        event_date = parse_db_date(pc_eventDate, "pc_eventDate")
        if event_date is None:
            raise RecurrSpecError("pc_eventDate", "is the zero date")
        try:
            recurrtype = int(str(pc_recurrtype).strip())
        except ValueError as exc:
            raise RecurrSpecError("pc_recurrtype", f"not a number: {pc_recurrtype!r}") from exc
        if recurrtype not in (NONE, REPEAT, NTH_WEEKDAY, DAYS_OF_WEEK):
            raise RecurrSpecError("pc_recurrtype", f"expected 0-3, got {recurrtype}")
        return cls(
            event_date=event_date,
            end_date=parse_db_date(pc_endDate, "pc_endDate"),
            start_time=parse_db_time(pc_startTime),
            recurrtype=recurrtype,
            spec=parse_recurrspec(pc_recurrspec),
        )


# --------------------------------------------------------------------------- time zones


def local_to_utc(day: dt.date, wall: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of practice-local ``day`` + ``wall`` (OpenEMR stores wall time).

    Deterministic across DST as RFC 5545 §3.3.5 prescribes: a wall time in a spring-forward
    gap is read with the offset before the gap (02:30 → 03:30 new time); an ambiguous one in
    the autumn fold is the first (earlier) of the two. That is ``fold=0`` in zoneinfo.
    """
    local = dt.datetime.combine(day, wall.replace(tzinfo=None, fold=0), tzinfo=tz)
    return local.astimezone(dt.UTC)


def utc_to_local(instant: dt.datetime, tz: ZoneInfo) -> tuple[dt.date, dt.time]:
    """Practice-local date and wall time of an aware instant (naive input is refused:
    guessing its zone is how off-by-hours bugs start). OpenEMR stores wall time only, so
    an instant in the second pass through an autumn fold maps to a wall time that
    ``local_to_utc`` reads as the first pass: a one-hour ambiguity OpenEMR itself has."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise RecurrenceError(f"expected an aware datetime, got naive {instant.isoformat()}")
    local = instant.astimezone(tz)
    return local.date(), local.time().replace(tzinfo=None, fold=0)


def until_for_end_date(end_date: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The reconciler's exclusive ``series.until`` for an inclusive ``pc_endDate``: local
    midnight at the start of the next day, in UTC (any session that day is before it)."""
    return local_to_utc(end_date + dt.timedelta(days=1), dt.time(0), tz)


def end_date_for_until(until: dt.datetime, start_time: dt.time, tz: ZoneInfo) -> dt.date:
    """The inclusive ``pc_endDate`` for an exclusive instant: the last local day whose
    session (at ``start_time``) starts strictly before ``until``. Sessions on the cutoff
    day but before the cutoff time stay (they may be past: never rewrite the past)."""
    day, _ = utc_to_local(until, tz)
    return day if local_to_utc(day, start_time, tz) < until else day - dt.timedelta(days=1)


# --------------------------------------------------------------------------- OpenEMR's walk


def _php_mktime(year: int, month: int, day: int) -> dt.date:
    """PHP ``mktime(0, 0, 0, month, day, year)`` for the date part: months and days
    overflow into the next ones (Feb 31 → Mar 3) instead of failing or clamping."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise OverflowError(f"year {year} is out of range")
    return dt.date(year, month, 1) + dt.timedelta(days=day - 1)


def _php_w(d: dt.date) -> int:
    """PHP ``date('w')``: 0 = Sunday … 6 = Saturday."""
    return (d.weekday() + 1) % 7


def _increment(d: dt.date, freq: str, ftype: int, weekend: tuple[int, ...]) -> dt.date:
    """``__increment()`` of ``library/encounter_events.inc.php``, step for step."""
    if ftype == DAYS_EVERY_WEEK:
        # earliest strtotime("next <day>") over the listed days: strictly after d
        listed = {k - 1 for k in RecurrSpec(event_repeat_freq=freq).weekdays}
        return min(d + dt.timedelta(days=(w - _php_w(d) - 1) % 7 + 1) for w in listed)
    f = RecurrSpec(event_repeat_freq=freq).interval
    if ftype == DAY:
        return d + dt.timedelta(days=f)
    if ftype == WORK_DAY:
        orig = f
        for daycount in range(1, orig + 1):
            if _php_w(d + dt.timedelta(days=daycount)) in weekend:
                f += 1
        landed = _php_w(d + dt.timedelta(days=f))
        if len(weekend) == 2:
            if landed == weekend[0]:
                f += 2
            elif landed == weekend[1]:
                f += 1
        elif len(weekend) == 1 and landed == weekend[0]:
            f += 1
        return d + dt.timedelta(days=f)
    if ftype == WEEK:
        return d + dt.timedelta(days=7 * f)
    if ftype == MONTH:
        return _php_mktime(d.year, d.month + f, d.day)
    if ftype == YEAR:
        return _php_mktime(d.year + f, d.month, d.day)
    raise RecurrSpecError("event_repeat_freq_type", f"expected 0-4 or 6, got {ftype}")


def _nth_weekday(num: int, dow: int, year: int, month: int) -> dt.date:
    """``Date_Calc::NWeekdayOfMonth`` with ``fetchEvents``' fallback loop: the num-th
    ``dow`` (0 = Sunday) of the month; 5 ("last") falls back to the 4th when there is no
    5th, so it is always the last one."""
    first = dt.date(year, month, 1)
    for n in range(num, 0, -1):
        day = 1 + (n - 1) * 7 + (dow - _php_w(first + dt.timedelta(days=(n - 1) * 7))) % 7
        if day <= calendar.monthrange(year, month)[1]:
            return dt.date(year, month, day)
    raise RecurrSpecError("event_repeat_on_num", f"no weekday {num} in {year}-{month:02d}")  # pragma: no cover


def _shown(row: EventRow) -> bool:
    """Whether OpenEMR shows the row's occurrences at all: ``checkEvent()`` and the
    ``pc_endDate >= from`` filter (a zero end date never is)."""
    if row.recurrtype == NONE:
        return True
    if row.end_date is None:
        return False
    s = row.spec
    if row.recurrtype in (REPEAT, DAYS_OF_WEEK):
        return s.event_repeat_freq.strip() not in ("", "0") and s.event_repeat_freq_type is not None
    return bool(s.event_repeat_on_freq) and bool(s.event_repeat_on_num) and s.event_repeat_on_day is not None


def _validate(row: EventRow) -> None:
    """Refuse the values on which OpenEMR's PHP would loop forever or compute nonsense."""
    s = row.spec
    if row.recurrtype in (REPEAT, DAYS_OF_WEEK):
        if s.event_repeat_freq_type == DAYS_EVERY_WEEK:
            _ = s.weekdays
        elif s.event_repeat_freq_type in (DAY, WEEK, MONTH, YEAR, WORK_DAY):
            _ = s.interval
        else:
            raise RecurrSpecError("event_repeat_freq_type", f"expected 0-4 or 6, got {s.event_repeat_freq_type}")
    elif row.recurrtype == NTH_WEEKDAY:
        if not 1 <= (s.event_repeat_on_num or 0) <= LAST:
            raise RecurrSpecError("event_repeat_on_num", f"expected 1-5, got {s.event_repeat_on_num}")
        if not 0 <= (s.event_repeat_on_day or 0) <= 6:
            raise RecurrSpecError("event_repeat_on_day", f"expected 0 (Sunday) to 6, got {s.event_repeat_on_day}")
        if (s.event_repeat_on_freq or 0) < 1:
            raise RecurrSpecError("event_repeat_on_freq", f"expected a positive number, got {s.event_repeat_on_freq}")


def _walk(row: EventRow, weekend: tuple[int, ...]) -> Iterator[dt.date]:
    """Every date of the row's rule from ``pc_eventDate`` on (before exdate and end date),
    in order, exactly as ``fetchEvents()`` generates them.

    One deliberate difference: for type 2, ``fetchEvents()`` also shows the month's
    occurrence when it falls *before* ``pc_eventDate`` in that first month, but only in a
    window that reaches ``pc_eventDate`` (its SQL needs ``pc_eventDate <= to``): a display
    artefact that depends on the window. Rows OpenEMR writes start on an occurrence
    (``add_edit_event.php`` derives the weekday and its number from the date), so nothing
    before ``pc_eventDate`` is generated here.
    """
    s = row.spec
    if row.recurrtype in (REPEAT, DAYS_OF_WEEK):
        ftype = s.event_repeat_freq_type
        assert ftype is not None
        d = row.event_date
        while True:
            yield d
            d = _increment(d, s.event_repeat_freq, ftype, weekend)
    else:
        num, dow, freq = s.event_repeat_on_num or 1, s.event_repeat_on_day or 0, s.event_repeat_on_freq or 1
        y, m, nd = row.event_date.year, row.event_date.month, row.event_date.day
        if s.rt2_pf_flag:
            nd = 1
        while True:
            occ = _nth_weekday(num, dow, y, m)
            if occ >= row.event_date:
                yield occ
            nxt = _php_mktime(y, m + freq, nd)  # old rows (no rt2_pf_flag) overflow here
            y, m, nd = nxt.year, nxt.month, nxt.day


def _shift(d: dt.date, days: int) -> dt.date:
    """``d`` moved by ``days``, held inside the calendar Python can represent."""
    try:
        return d + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


def _dates(row: EventRow, first: dt.date, last: dt.date, weekend: tuple[int, ...]) -> Iterator[dt.date]:
    """The days OpenEMR shows a session of ``row`` on, within ``[first, last]``."""
    if row.recurrtype == NONE:
        if first <= row.event_date <= last:
            yield row.event_date
        return
    if not _shown(row):
        return
    _validate(row)
    assert row.end_date is not None
    stop = min(row.end_date, last)
    excluded = row.spec.excluded
    rule = _exact_rule(row) if weekend == DEFAULT_WEEKEND else None
    if rule is not None:  # dateutil's rrule where it gives OpenEMR's dates (checked by the tests)
        start = dt.datetime.combine(max(first, row.event_date), dt.time(0))
        gen = rrulestr(rule, dtstart=dt.datetime.combine(row.event_date, dt.time(0)))
        try:
            for occ in gen.xafter(start, inc=True):
                d = occ.date()
                if d > stop:
                    return
                if d not in excluded:
                    yield d
        except (OverflowError, ValueError):  # dateutil stepping past year 9999
            return
        return
    try:
        for d in _walk(row, weekend):
            if d > stop:
                return
            if d >= first and d not in excluded:
                yield d
    except OverflowError:  # walked past year 9999
        return


def occurrences(
    row: EventRow,
    window_start: dt.datetime,
    window_end: dt.datetime,
    tz: ZoneInfo,
    *,
    weekend_days: tuple[int, ...] = DEFAULT_WEEKEND,
) -> list[dt.datetime]:
    """Start instants (UTC) of the sessions OpenEMR's calendar shows for ``row`` with
    ``window_start <= start < window_end``.

    Honours ``exdate``, ``pc_endDate`` (inclusive), work days (``weekend_days`` is
    OpenEMR's global, default Saturday and Sunday), nth and last weekday, and PHP's month
    overflow. A row OpenEMR hides (``checkEvent()`` fails, zero end date) has none. A
    non-recurring row gives its single start when inside the window.
    """
    if window_end <= window_start:
        return []
    first, _ = utc_to_local(window_start, tz)
    last, _ = utc_to_local(window_end, tz)
    out: list[dt.datetime] = []
    for d in _dates(row, _shift(first, -1), _shift(last, 1), weekend_days):
        instant = local_to_utc(d, row.start_time, tz)
        if window_start <= instant < window_end:
            out.append(instant)
    return out


# --------------------------------------------------------------------------- RRULE


def _interval(n: int) -> str:
    return "" if n == 1 else f";INTERVAL={n}"


def to_rrule(
    recurrtype: int,
    spec: RecurrSpec,
    start_local_date: dt.date,
    end_date: dt.date | None = None,
    *,
    exact: bool = True,
) -> str:
    """The RFC 5545 RRULE of an OpenEMR recurrence starting on ``start_local_date``
    (``pc_eventDate``), e.g. ``FREQ=WEEKLY;INTERVAL=2;BYDAY=MO``.

    ``end_date`` (``pc_endDate``, the last day, inclusive) becomes
    ``UNTIL=<end_date>T235959``, a floating local date-time at the end of that day: a
    date-only ``UNTIL`` with a date-time ``DTSTART`` is read by dateutil as midnight and
    would drop that day's session. The reconciler's own ``series.until`` is separate and
    exclusive (``until_for_end_date``); pass ``end_date=None`` for ``series.rrule``.

    With ``exact`` (the default) a row whose OpenEMR dates no RRULE reproduces raises
    ``UnrepresentableRecurrence``: monthly on day 29-31 and yearly on Feb 29 (PHP's
    ``mktime`` overflows into the next month and the walk drifts), a work-day step other
    than 1 or 5 or from a weekend day, type 3 starting on an unlisted day, type 2 not
    starting on its own occurrence or drifting (no ``rt2_pf_flag`` and day > 28).
    ``exact=False`` returns the rule the row was meant to follow where there is one.
    """

    def fail(why: str) -> None:
        if exact:
            raise UnrepresentableRecurrence(f"OpenEMR recurrence (type {recurrtype}) from {start_local_date}: {why}")

    d = start_local_date
    rule: str
    if recurrtype == REPEAT or (recurrtype == DAYS_OF_WEEK and spec.event_repeat_freq_type != DAYS_EVERY_WEEK):
        ftype, n = spec.event_repeat_freq_type, spec.interval
        if ftype == DAY:
            rule = f"FREQ=DAILY{_interval(n)}"
        elif ftype == WEEK:
            rule = f"FREQ=WEEKLY{_interval(n)};BYDAY={_RFC_DAYS[d.weekday()]}"
        elif ftype == MONTH:
            if d.day > 28:
                fail(f"monthly on day {d.day} overflows into the next month in OpenEMR")
            rule = f"FREQ=MONTHLY{_interval(n)};BYMONTHDAY={d.day}"
        elif ftype == YEAR:
            if (d.month, d.day) == (2, 29):
                fail("yearly on Feb 29 becomes Mar 1 in OpenEMR")
            rule = f"FREQ=YEARLY{_interval(n)};BYMONTH={d.month};BYMONTHDAY={d.day}"
        elif ftype == WORK_DAY:
            if d.weekday() >= 5:
                fail("a work-day series starting on a weekend day shows that day too")
            if n == 1:
                rule = f"FREQ=DAILY;BYDAY={_WORKDAYS}"
            elif n == 5:
                rule = f"FREQ=WEEKLY;BYDAY={_RFC_DAYS[d.weekday()]}"
            else:
                raise UnrepresentableRecurrence(f"every {n} work days has no RRULE")
        elif ftype == DAYS_EVERY_WEEK:
            rule = _days_rule(spec, d, fail)
        else:
            raise RecurrSpecError("event_repeat_freq_type", f"expected 0-4 or 6, got {ftype}")
    elif recurrtype == DAYS_OF_WEEK:
        rule = _days_rule(spec, d, fail)
    elif recurrtype == NTH_WEEKDAY:
        num, dow, freq = spec.event_repeat_on_num, spec.event_repeat_on_day, spec.event_repeat_on_freq
        if num is None or not 1 <= num <= LAST or dow is None or not 0 <= dow <= 6 or freq is None or freq < 1:
            raise RecurrSpecError(
                "pc_recurrspec", f"type 2 needs on_num 1-5, on_day 0-6, on_freq >= 1 (got {num}, {dow}, {freq})"
            )
        if _nth_weekday(num, dow, d.year, d.month) != d:
            fail("pc_eventDate is not the month's own occurrence")
        if not spec.rt2_pf_flag and d.day > 28:
            fail("a row without rt2_pf_flag starting after day 28 skips months in OpenEMR")
        byday = f"{-1 if num == LAST else num}{_RFC_DAYS[(dow - 1) % 7]}"
        rule = f"FREQ=MONTHLY{_interval(freq)};BYDAY={byday}"
    else:
        raise RecurrSpecError("pc_recurrtype", f"{recurrtype} is not a recurrence")
    if end_date is not None:
        rule += f";UNTIL={end_date:%Y%m%d}T235959"
    return rule


def _exact_rule(row: EventRow) -> str | None:
    """The RRULE dateutil can expand into exactly OpenEMR's dates for ``row``, if any."""
    try:
        return to_rrule(row.recurrtype, row.spec, row.event_date)
    except UnrepresentableRecurrence:
        return None


def _days_rule(spec: RecurrSpec, d: dt.date, fail: Callable[[str], None]) -> str:
    days = spec.weekdays  # 1 = Sunday
    if (d.weekday() + 1) % 7 + 1 not in days:
        fail("type 3 starting on a day it does not list shows that day too")
    rfc = sorted((k - 2) % 7 for k in days)  # to Python weekday, Monday first
    return "FREQ=WEEKLY;BYDAY=" + ",".join(_RFC_DAYS[w] for w in rfc)


class RuleParts(NamedTuple):
    """What ``from_rrule`` gives: ``pc_recurrtype``, ``pc_recurrspec`` and ``pc_endDate``
    (``None`` when the RRULE has no ``UNTIL``)."""

    recurrtype: int
    spec: RecurrSpec
    end_date: dt.date | None = None


_BYDAY = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")


def from_rrule(rrule: str, start_local_date: dt.date | None = None) -> RuleParts:
    """The OpenEMR recurrence for an RRULE, as ``add_edit_event.php`` would save it.

    Accepted shapes: DAILY; DAILY on MO-FR (every work day); WEEKLY on the start's day
    (type 1, any INTERVAL) or on a set of days (type 3, INTERVAL 1); MONTHLY on day
    1-28 or the start's day; MONTHLY on the 1st-4th or last (-1) weekday (type 2, with
    ``rt2_pf_flag``); YEARLY on the start's date. ``UNTIL`` as ``YYYYMMDD`` or floating
    ``YYYYMMDDTHHMMSS`` gives ``pc_endDate``. Anything else (COUNT, BYSETPOS, a 5th
    weekday, day 29-31, UTC UNTIL, …) raises ``UnrepresentableRecurrence``: OpenEMR would
    show other dates. ``start_local_date`` (the first session's local day) lets it check
    that the rule and the start agree, as OpenEMR derives weekday and day from the date.
    """
    text = rrule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts: dict[str, str] = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        if "=" not in item:
            raise UnrepresentableRecurrence(f"RRULE part {item!r} is not NAME=VALUE")
        k, v = item.split("=", 1)
        parts[k.strip().upper()] = v.strip().upper()
    unknown = set(parts) - {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "UNTIL", "WKST"}
    if unknown:
        raise UnrepresentableRecurrence(f"OpenEMR has no recurrence with {', '.join(sorted(unknown))}")
    freq = parts.get("FREQ")
    interval_text = parts.get("INTERVAL", "1")
    if not interval_text.isdigit() or int(interval_text) < 1:
        raise UnrepresentableRecurrence(f"INTERVAL={interval_text} is not a positive number")
    n = int(interval_text)
    end_date = _until(parts["UNTIL"]) if "UNTIL" in parts else None
    byday = [b for b in parts.get("BYDAY", "").split(",") if b]
    matches = [_BYDAY.fullmatch(b) for b in byday]
    if any(m is None for m in matches):
        raise UnrepresentableRecurrence(f"BYDAY={parts['BYDAY']} is not a weekday list")
    days = [(m[1], _RFC_DAYS.index(m[2])) for m in matches if m is not None]
    bymonthday, bymonth = parts.get("BYMONTHDAY"), parts.get("BYMONTH")
    start = start_local_date

    def spec1(ftype: int, count: int | str) -> RuleParts:
        return RuleParts(REPEAT, RecurrSpec(event_repeat_freq=str(count), event_repeat_freq_type=ftype), end_date)

    def no(*names: str) -> None:
        for name in names:
            if name in parts:
                raise UnrepresentableRecurrence(f"FREQ={freq} with {name} has no OpenEMR recurrence")

    if any(num is not None for num, _ in days) and freq != "MONTHLY":
        raise UnrepresentableRecurrence(f"numbered BYDAY needs FREQ=MONTHLY, not {freq}")
    if freq == "DAILY":
        no("BYMONTHDAY", "BYMONTH")
        if not days:
            return spec1(DAY, n)
        if sorted(w for _, w in days) == [0, 1, 2, 3, 4] and n == 1:
            if start is not None and start.weekday() >= 5:
                raise UnrepresentableRecurrence("every work day must start on a work day")
            return spec1(WORK_DAY, 1)
        raise UnrepresentableRecurrence(f"FREQ=DAILY;BYDAY={parts['BYDAY']} has no OpenEMR recurrence")
    if freq == "WEEKLY":
        no("BYMONTHDAY", "BYMONTH")
        weekdays = sorted({w for _, w in days})
        if not weekdays or (len(weekdays) == 1 and (start is None or start.weekday() == weekdays[0])):
            return spec1(WEEK, n)
        if n != 1:
            raise UnrepresentableRecurrence("OpenEMR repeats on several weekdays only every week (no INTERVAL)")
        if start is not None and start.weekday() not in weekdays:
            raise UnrepresentableRecurrence(f"start {start} is not one of BYDAY={parts['BYDAY']}")
        listed = ",".join(str((w + 1) % 7 + 1) for w in sorted(weekdays, key=lambda w: (w + 1) % 7))
        return RuleParts(
            DAYS_OF_WEEK, RecurrSpec(event_repeat_freq=listed, event_repeat_freq_type=DAYS_EVERY_WEEK), end_date
        )
    if freq == "MONTHLY":
        no("BYMONTH")
        if days:
            if len(days) != 1 or bymonthday is not None:
                raise UnrepresentableRecurrence("OpenEMR repeats monthly on one numbered weekday only")
            num_text, w = days[0]
            num = int(num_text) if num_text is not None else 0
            if num not in (1, 2, 3, 4, -1):
                raise UnrepresentableRecurrence(
                    f"BYDAY={parts['BYDAY']}: OpenEMR knows the 1st-4th and last weekday only"
                )
            on_num = LAST if num == -1 else num
            dow = (w + 1) % 7
            if start is not None and _nth_weekday(on_num, dow, start.year, start.month) != start:
                raise UnrepresentableRecurrence(f"start {start} is not the {parts['BYDAY']} of its month")
            spec = RecurrSpec(
                event_repeat_freq="0",
                event_repeat_freq_type=0,
                event_repeat_on_num=on_num,
                event_repeat_on_day=dow,
                event_repeat_on_freq=n,
                rt2_pf_flag=True,
            )
            return RuleParts(NTH_WEEKDAY, spec, end_date)
        day = start.day if start is not None else None
        if bymonthday is not None:
            if not bymonthday.isdigit() or not 1 <= int(bymonthday) <= 28:
                raise UnrepresentableRecurrence(
                    f"BYMONTHDAY={bymonthday}: OpenEMR overflows days 29-31 into the next month"
                )
            if day is not None and day != int(bymonthday):
                raise UnrepresentableRecurrence(f"start {start} is not on BYMONTHDAY={bymonthday}")
        elif day is not None and day > 28:
            raise UnrepresentableRecurrence(f"monthly from day {day}: OpenEMR overflows into the next month")
        return spec1(MONTH, n)
    if freq == "YEARLY":
        if days:
            raise UnrepresentableRecurrence("FREQ=YEARLY with BYDAY has no OpenEMR recurrence")
        if (bymonth is None) != (bymonthday is None):
            raise UnrepresentableRecurrence("FREQ=YEARLY needs both BYMONTH and BYMONTHDAY, or neither")
        if bymonth is not None and bymonthday is not None:
            if not bymonth.isdigit() or not bymonthday.isdigit():
                raise UnrepresentableRecurrence("BYMONTH/BYMONTHDAY must be single numbers")
            if start is not None and (start.month, start.day) != (int(bymonth), int(bymonthday)):
                raise UnrepresentableRecurrence(f"start {start} is not on the rule's date")
            if (int(bymonth), int(bymonthday)) == (2, 29):
                raise UnrepresentableRecurrence("yearly on Feb 29: OpenEMR moves it to Mar 1")
        elif start is not None and (start.month, start.day) == (2, 29):
            raise UnrepresentableRecurrence("yearly on Feb 29: OpenEMR moves it to Mar 1")
        return spec1(YEAR, n)
    raise UnrepresentableRecurrence(f"FREQ={freq} has no OpenEMR recurrence")


def _until(value: str) -> dt.date:
    m = re.fullmatch(r"(\d{8})(?:T(\d{6}))?", value)
    if m is None:
        raise UnrepresentableRecurrence(
            f"UNTIL={value}: only a local date or floating date-time maps to pc_endDate "
            "(convert a UTC one with end_date_for_until)"
        )
    d = _yyyymmdd(m[1])
    if d is None:
        raise UnrepresentableRecurrence(f"UNTIL={value} is not a date")
    return d


# --------------------------------------------------------------------------- splitting


@dataclass(frozen=True)
class Split:
    """How to cut a recurring row at an instant (``series.end`` / ``transfer`` / ``split``).

    One recipe for every kind, so callers need no case analysis:

    * ``series.end``: set the row's ``pc_endDate = old_end_date`` and, when ``old_spec``
      is not ``None``, its ``pc_recurrspec = dump_recurrspec(old_spec)``.
    * ``series.transfer`` / ``series.split``: the same, then insert a new row for the
      successor (every other column copied) with ``pc_eventDate = new_start_date``,
      ``pc_endDate = new_end_date``, ``pc_recurrspec = dump_recurrspec(new_spec)``.

    ``kind`` says which case it is:

    * ``"nothing"`` — no session at or after the cutoff: no write at all (every field
      ``None``).
    * ``"split"`` — sessions on both sides of the cutoff.
    * ``"whole"`` — no (shown) session before the cutoff. The recipe still works and
      leaves the old row with no session, but a transfer may simply reassign the row
      (``pc_aid``) instead. To end a row without an end before its start,
      ``old_end_date`` is then never before ``pc_eventDate``: it is the cutoff's day when
      that is on or after ``pc_eventDate`` (only excluded days lie before), else
      ``pc_eventDate`` itself with that day added to ``exdate`` (``old_spec``) when it
      would still show. OpenEMR's own "this and future" from the first day deletes the
      row; the reconciler keeps it (history, audit, revert).

    The old row's ``exdate`` is otherwise never rewritten (past exclusions stay where
    they are); the new row gets the exclusions on or after its first day.
    """

    kind: Literal["nothing", "split", "whole"]
    old_end_date: dt.date | None = None
    old_spec: RecurrSpec | None = None
    new_start_date: dt.date | None = None
    new_end_date: dt.date | None = None
    new_spec: RecurrSpec | None = None


@functools.lru_cache(maxsize=8192)
def split_at(
    row: EventRow,
    cutoff: dt.datetime,
    tz: ZoneInfo,
    *,
    weekend_days: tuple[int, ...] = DEFAULT_WEEKEND,
) -> Split:
    """Cut ``row`` so that sessions starting before ``cutoff`` stay and the rest go.

    Memoised (a pure function of immutable values; errors are raised, never cached): an
    apply of a saved plan asks it three times per series with the same row and instant
    (the re-plan's "active", the writer's check, the writer's split).

    ``old_end_date`` is the last local day whose session starts before the cutoff
    (``end_date_for_until``) — OpenEMR's "this and future" likewise ends the row on the
    day before the first changed session — so a session earlier on the cutoff day stays.
    The new row starts on the first session at or after the cutoff (a shown one: not an
    excluded day). For type 2 the new row gets ``rt2_pf_flag`` as every row OpenEMR saves
    since 2016 does; a legacy row without it whose month walk still drifts (start day
    29-31) cannot be continued exactly by any row starting on an occurrence.
    """
    if row.recurrtype == NONE:
        raise RecurrenceError("split_at needs a recurring row (pc_recurrtype > 0)")
    if cutoff.tzinfo is None or cutoff.utcoffset() is None:
        raise RecurrenceError("split_at needs an aware cutoff")
    if not _shown(row):
        return Split("nothing")
    assert row.end_date is not None
    end = end_date_for_until(cutoff, row.start_time, tz)
    if end >= row.end_date:  # every session is before the cutoff
        return Split("nothing")
    after = next(_dates(row, end + dt.timedelta(days=1), row.end_date, weekend_days), None)
    if after is None:
        return Split("nothing")
    carried = tuple(t for t in row.spec.exdate if (d := _yyyymmdd(t)) is not None and d >= after)
    new_spec = row.spec.with_exdates(carried)
    if row.recurrtype == NTH_WEEKDAY:
        new_spec = replace(new_spec, rt2_pf_flag=True)
    kind: Literal["split", "whole"] = "whole"
    old_spec = None
    if end >= row.event_date:
        if next(_dates(row, row.event_date, end, weekend_days), None) is not None:
            kind = "split"
    else:  # nothing before the cutoff and its day is before the first: end on the first day
        if next(_dates(row, row.event_date, row.event_date, weekend_days), None) is not None:
            old_spec = row.spec.with_exdates(row.spec.exdate + (f"{row.event_date:%Y%m%d}",))
        end = row.event_date
    return Split(kind, end, old_spec, after, row.end_date, new_spec)
