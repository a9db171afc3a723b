"""OpenEMR calendar recurrence: pc_recurrspec, OpenEMR's own expansion, RRULEs, splitting.

Expected dates are worked out by hand from OpenEMR 7's PHP (library/appointments.inc.php
fetchEvents, library/encounter_events.inc.php __increment, Date_Calc::NWeekdayOfMonth,
interface/main/calendar/add_edit_event.php); each test names the rule it pins down.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler.targets.openemr import recurrence as r
from reconciler.targets.openemr.recurrence import (
    EventRow,
    RecurrSpec,
    RecurrSpecError,
    Split,
    UnrepresentableRecurrence,
    dump_recurrspec,
    end_date_for_until,
    from_rrule,
    local_to_utc,
    occurrences,
    parse_db_date,
    parse_db_time,
    parse_recurrspec,
    split_at,
    to_rrule,
    until_for_end_date,
    utc_to_local,
)

NY = ZoneInfo("America/New_York")
UTC = dt.UTC
D = dt.date

# Real values as OpenEMR (and its fork) write them:
# 1. OpenEMR interface/main/holidays/Holidays_Storage.php create_events(): the spec every
#    non-recurring event gets (the same literal as add_edit_event.php's $noRecurrspec
#    with "0" for the first two values).
OPENEMR_HOLIDAY = (
    'a:6:{s:17:"event_repeat_freq";s:1:"0";s:22:"event_repeat_freq_type";s:1:"0";'
    's:19:"event_repeat_on_num";s:1:"1";s:19:"event_repeat_on_day";s:1:"0";'
    's:20:"event_repeat_on_freq";s:1:"0";s:6:"exdate";s:0:"";}'
)
# 2. LibreEHR (an OpenEMR fork, same table) tests/…/SlotTest.php fixture rows: a weekly
#    (freq 1, type 1) and a daily (freq 1, type 0) pc_recurrtype 1 series.
LIBREEHR_WEEKLY = (
    'a:6:{s:17:"event_repeat_freq";s:1:"1";s:22:"event_repeat_freq_type";s:1:"1";'
    's:19:"event_repeat_on_num";s:1:"1";s:19:"event_repeat_on_day";s:1:"0";'
    's:20:"event_repeat_on_freq";s:1:"0";s:6:"exdate";s:0:"";}'
)
LIBREEHR_DAILY = LIBREEHR_WEEKLY.replace('"event_repeat_freq_type";s:1:"1"', '"event_repeat_freq_type";s:1:"0"')
# 3. Built exactly as add_edit_event.php builds them (all values "$strings", rt2_pf_flag
#    appended for type 2, an exdate of two "Ymd" dates as "this occurrence only" appends).
TYPE2_LAST_FRIDAY = (
    'a:7:{s:17:"event_repeat_freq";s:1:"0";s:22:"event_repeat_freq_type";s:1:"0";'
    's:19:"event_repeat_on_num";s:1:"5";s:19:"event_repeat_on_day";s:1:"5";'
    's:20:"event_repeat_on_freq";s:1:"1";s:6:"exdate";s:17:"20260130,20260327";'
    's:11:"rt2_pf_flag";s:1:"1";}'
)
TYPE3_MON_WED = (
    'a:6:{s:17:"event_repeat_freq";s:3:"2,4";s:22:"event_repeat_freq_type";s:1:"6";'
    's:19:"event_repeat_on_num";s:1:"1";s:19:"event_repeat_on_day";s:1:"0";'
    's:20:"event_repeat_on_freq";s:1:"0";s:6:"exdate";s:0:"";}'
)


def spec1(freq: int | str, ftype: int, exdate: tuple[str, ...] = ()) -> RecurrSpec:
    return RecurrSpec(event_repeat_freq=str(freq), event_repeat_freq_type=ftype, exdate=exdate)


def spec2(num: int, dow: int, freq: int = 1, flag: bool | None = True, exdate: tuple[str, ...] = ()) -> RecurrSpec:
    return RecurrSpec(
        event_repeat_freq="0",
        event_repeat_freq_type=0,
        event_repeat_on_num=num,
        event_repeat_on_day=dow,
        event_repeat_on_freq=freq,
        rt2_pf_flag=flag,
        exdate=exdate,
    )


def spec3(days: str, exdate: tuple[str, ...] = ()) -> RecurrSpec:
    return RecurrSpec(event_repeat_freq=days, event_repeat_freq_type=6, exdate=exdate)


def row(start: dt.date, end: dt.date | None, rtype: int, spec: RecurrSpec, at: dt.time = dt.time(10)) -> EventRow:
    return EventRow(event_date=start, end_date=end, start_time=at, recurrtype=rtype, spec=spec)


def days_of(ev: EventRow, first: dt.date, last: dt.date, tz: ZoneInfo = NY, **kw: object) -> list[dt.date]:
    """Local days of the sessions in [first, last] (whole local days)."""
    got = occurrences(
        ev, local_to_utc(first, dt.time(0), tz), local_to_utc(last + dt.timedelta(days=1), dt.time(0), tz), tz, **kw
    )  # type: ignore[arg-type]
    return [utc_to_local(x, tz)[0] for x in got]


# --------------------------------------------------------------------------- parse / dump


@pytest.mark.parametrize("raw", [OPENEMR_HOLIDAY, LIBREEHR_WEEKLY, LIBREEHR_DAILY, TYPE2_LAST_FRIDAY, TYPE3_MON_WED])
def test_real_specs_dump_back_byte_for_byte(raw: str) -> None:
    assert dump_recurrspec(parse_recurrspec(raw)) == raw
    assert dump_recurrspec(parse_recurrspec(raw.encode())) == raw


def test_parse_reads_openemr_string_numbers() -> None:
    s = parse_recurrspec(TYPE2_LAST_FRIDAY)
    assert (s.event_repeat_on_num, s.event_repeat_on_day, s.event_repeat_on_freq, s.rt2_pf_flag) == (5, 5, 1, True)
    assert s.exdate == ("20260130", "20260327")
    assert s.excluded == {D(2026, 1, 30), D(2026, 3, 27)}
    assert parse_recurrspec(TYPE3_MON_WED).weekdays == (2, 4)


def test_parse_accepts_ints_missing_keys_and_empty_exdate() -> None:
    s = parse_recurrspec(b'a:2:{s:17:"event_repeat_freq";i:2;s:22:"event_repeat_freq_type";i:1;}')
    assert s.interval == 2 and s.event_repeat_freq_type == 1 and s.exdate == () and s.rt2_pf_flag is None
    assert s.event_repeat_on_day is None  # missing: checkEvent() would hide a type-2 row


def test_parse_reads_other_php_scalars_as_php_would_print_them() -> None:
    s = parse_recurrspec(
        'a:4:{s:17:"event_repeat_freq";d:2;s:22:"event_repeat_freq_type";b:1;s:6:"exdate";N;i:7;s:1:"x";}'
    )
    assert (s.event_repeat_freq, s.event_repeat_freq_type, s.exdate, s.extra) == ("2", 1, (), (("7", "x"),))


@pytest.mark.parametrize("raw", [None, "", b"  "])
def test_empty_column_is_the_default_spec(raw: bytes | str | None) -> None:
    assert parse_recurrspec(raw) == RecurrSpec()


def test_unknown_keys_and_odd_exdate_tokens_are_kept() -> None:
    raw = 'a:3:{s:17:"event_repeat_freq";s:1:"1";s:6:"exdate";s:19:"2026-01-05,20260112";s:3:"foo";s:3:"bar";}'
    s = parse_recurrspec(raw)
    assert s.extra == (("foo", "bar"),)
    assert s.exdate == ("2026-01-05", "20260112")
    assert s.excluded == {D(2026, 1, 12)}  # OpenEMR compares with "YYYYMMDD" only: the dashed one is inert
    assert "foo" in dump_recurrspec(s) and "2026-01-05,20260112" in dump_recurrspec(s)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ("not php at all", "pc_recurrspec"),
        ('a:1:{s:17:"event_repeat_freq";s:1:"1";', "pc_recurrspec"),  # truncated
        ('s:5:"hello";', "pc_recurrspec"),  # not an array
        ('O:8:"stdClass":0:{}', "pc_recurrspec"),  # objects refused, as allowed_classes => false
        ('a:1:{s:22:"event_repeat_freq_type";s:3:"abc";}', "event_repeat_freq_type"),
        ('a:1:{s:19:"event_repeat_on_num";a:0:{}}', "event_repeat_on_num"),
    ],
)
def test_garbage_is_a_located_error(raw: str, where: str) -> None:
    with pytest.raises(RecurrSpecError) as e:
        parse_recurrspec(raw)
    assert e.value.where == where and isinstance(e.value, ValueError)
    assert str(e.value).startswith(where)


# --------------------------------------------------------------------------- row values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0000-00-00", None),
        (None, None),
        ("", None),
        ("2026-03-01", D(2026, 3, 1)),
        (D(2026, 3, 1), D(2026, 3, 1)),
        (dt.datetime(2026, 3, 1, 5), D(2026, 3, 1)),
        (b"2026-03-01", D(2026, 3, 1)),
    ],
)
def test_db_dates_including_the_zero_date(value: object, expected: dt.date | None) -> None:
    assert parse_db_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10:00:00", dt.time(10)),
        ("9:5:00", dt.time(9, 5)),
        (dt.timedelta(hours=14, minutes=30), dt.time(14, 30)),
        (dt.time(8, 15), dt.time(8, 15)),
        (b"07:45", dt.time(7, 45)),
    ],
)
def test_db_times_as_drivers_return_them(value: object, expected: dt.time) -> None:
    assert parse_db_time(value) == expected


@pytest.mark.parametrize("value", ["2026-02-30", "soon", 20260101])
def test_bad_date_names_the_column(value: object) -> None:
    with pytest.raises(RecurrSpecError, match="pc_endDate"):
        parse_db_date(value, "pc_endDate")


@pytest.mark.parametrize("value", ["25:00:00", "noon", dt.timedelta(days=1), 3])
def test_bad_time_names_the_column(value: object) -> None:
    with pytest.raises(RecurrSpecError, match="pc_startTime"):
        parse_db_time(value)


def test_event_row_from_driver_values() -> None:
    ev = EventRow.from_db(
        pc_eventDate="2037-10-10",
        pc_endDate="2037-10-24",
        pc_startTime=dt.timedelta(hours=10),
        pc_recurrtype="1",
        pc_recurrspec=LIBREEHR_WEEKLY.encode(),
    )
    assert days_of(ev, D(2037, 10, 1), D(2037, 11, 30)) == [D(2037, 10, 10), D(2037, 10, 17), D(2037, 10, 24)]
    with pytest.raises(RecurrSpecError, match="pc_eventDate"):
        EventRow.from_db(
            pc_eventDate="0000-00-00", pc_endDate=None, pc_startTime="10:00", pc_recurrtype=0, pc_recurrspec=None
        )
    with pytest.raises(RecurrSpecError, match="pc_recurrtype"):
        EventRow.from_db(
            pc_eventDate="2026-01-01", pc_endDate=None, pc_startTime="10:00", pc_recurrtype="7", pc_recurrspec=None
        )
    with pytest.raises(RecurrSpecError, match="pc_recurrtype"):
        EventRow.from_db(
            pc_eventDate="2026-01-01", pc_endDate=None, pc_startTime="10:00", pc_recurrtype="x", pc_recurrspec=None
        )


# --------------------------------------------------------------------------- expansion

W = D(2026, 1, 1), D(2026, 12, 31)


@pytest.mark.parametrize(
    ("name", "ev", "expected"),
    [
        (
            "every 2 days",
            row(D(2026, 1, 1), D(2026, 1, 9), 1, spec1(2, r.DAY)),
            [D(2026, 1, 1), D(2026, 1, 3), D(2026, 1, 5), D(2026, 1, 7), D(2026, 1, 9)],
        ),
        (
            "every 2 weeks",
            row(D(2026, 1, 5), D(2026, 2, 16), 1, spec1(2, r.WEEK)),
            [D(2026, 1, 5), D(2026, 1, 19), D(2026, 2, 2), D(2026, 2, 16)],
        ),
        (
            "monthly on the 15th",
            row(D(2026, 1, 15), D(2026, 4, 15), 1, spec1(1, r.MONTH)),
            [D(2026, 1, 15), D(2026, 2, 15), D(2026, 3, 15), D(2026, 4, 15)],
        ),
        (
            "monthly from Jan 31: mktime overflows to Mar 3, then walks from the 3rd",
            row(D(2025, 1, 31), D(2025, 5, 31), 1, spec1(1, r.MONTH)),
            [D(2025, 1, 31), D(2025, 3, 3), D(2025, 4, 3), D(2025, 5, 3)],
        ),
        (
            "monthly from Jan 31 in a leap year: Feb 31 = Mar 2",
            row(D(2024, 1, 31), D(2024, 4, 30), 1, spec1(1, r.MONTH)),
            [D(2024, 1, 31), D(2024, 3, 2), D(2024, 4, 2)],
        ),
        (
            "every 2 months from the 31st drifts once a 30-day month comes",
            row(D(2025, 7, 31), D(2026, 2, 28), 1, spec1(2, r.MONTH)),
            [D(2025, 7, 31), D(2025, 10, 1), D(2025, 12, 1), D(2026, 2, 1)],
        ),
        (
            "yearly from Feb 29 becomes Mar 1",
            row(D(2024, 2, 29), D(2027, 12, 31), 1, spec1(1, r.YEAR)),
            [D(2024, 2, 29), D(2025, 3, 1), D(2026, 3, 1), D(2027, 3, 1)],
        ),
        (
            "every work day skips the weekend",
            row(D(2026, 1, 8), D(2026, 1, 14), 1, spec1(1, r.WORK_DAY)),
            [D(2026, 1, 8), D(2026, 1, 9), D(2026, 1, 12), D(2026, 1, 13), D(2026, 1, 14)],
        ),
        (
            "every 2nd work day from Thursday: Mon, Wed, Fri",
            row(D(2026, 1, 8), D(2026, 1, 16), 1, spec1(2, r.WORK_DAY)),
            [D(2026, 1, 8), D(2026, 1, 12), D(2026, 1, 14), D(2026, 1, 16)],
        ),
        (
            "a work-day series starting on Saturday shows the Saturday",
            row(D(2026, 1, 10), D(2026, 1, 13), 1, spec1(1, r.WORK_DAY)),
            [D(2026, 1, 10), D(2026, 1, 12), D(2026, 1, 13)],
        ),
        (
            "2nd Tuesday",
            row(D(2026, 1, 13), D(2026, 4, 30), 2, spec2(2, 2)),
            [D(2026, 1, 13), D(2026, 2, 10), D(2026, 3, 10), D(2026, 4, 14)],
        ),
        (
            "last Friday (5 = last: 5th when there is one, else 4th), exdates honoured",
            row(D(2026, 1, 30), D(2026, 5, 31), 2, parse_recurrspec(TYPE2_LAST_FRIDAY)),
            [D(2026, 2, 27), D(2026, 4, 24), D(2026, 5, 29)],
        ),
        (
            "4th Sunday every 2 months",
            row(D(2026, 1, 25), D(2026, 7, 31), 2, spec2(4, 0, 2)),
            [D(2026, 1, 25), D(2026, 3, 22), D(2026, 5, 24), D(2026, 7, 26)],
        ),
        (
            "type 2 without rt2_pf_flag from the 30th: Feb 30 overflows, February is skipped",
            row(D(2025, 1, 30), D(2025, 4, 30), 2, spec2(5, 4, flag=None)),
            [D(2025, 1, 30), D(2025, 3, 27), D(2025, 4, 24)],
        ),
        (
            "the same with rt2_pf_flag walks every month",
            row(D(2025, 1, 30), D(2025, 4, 30), 2, spec2(5, 4)),
            [D(2025, 1, 30), D(2025, 2, 27), D(2025, 3, 27), D(2025, 4, 24)],
        ),
        (
            "type 3 Mon and Wed",
            row(D(2026, 1, 5), D(2026, 1, 19), 3, parse_recurrspec(TYPE3_MON_WED)),
            [D(2026, 1, 5), D(2026, 1, 7), D(2026, 1, 12), D(2026, 1, 14), D(2026, 1, 19)],
        ),
        (
            "type 3 starting on an unlisted day shows that day first",
            row(D(2026, 1, 9), D(2026, 1, 14), 3, spec3("2,4")),
            [D(2026, 1, 9), D(2026, 1, 12), D(2026, 1, 14)],
        ),
        (
            "exdate hides a weekly session",
            row(D(2026, 1, 5), D(2026, 1, 26), 1, spec1(1, r.WEEK, ("20260112", "20260126"))),
            [D(2026, 1, 5), D(2026, 1, 19)],
        ),
        (
            "pc_endDate is inclusive",
            row(D(2026, 1, 5), D(2026, 1, 12), 1, spec1(1, r.WEEK)),
            [D(2026, 1, 5), D(2026, 1, 12)],
        ),
        ("a zero pc_endDate: OpenEMR's SQL never selects the row", row(D(2026, 1, 5), None, 1, spec1(1, r.WEEK)), []),
        (
            "checkEvent: empty event_repeat_freq hides a type 1 row",
            row(D(2026, 1, 5), D(2026, 2, 1), 1, spec1("0", r.WEEK)),
            [],
        ),
        (
            "checkEvent: missing freq type hides it",
            row(D(2026, 1, 5), D(2026, 2, 1), 1, RecurrSpec(event_repeat_freq="1")),
            [],
        ),
        (
            "checkEvent: type 2 without on_freq is hidden",
            row(D(2026, 1, 13), D(2026, 4, 1), 2, spec2(2, 2, freq=0)),
            [],
        ),
        ("a single appointment", row(D(2026, 3, 3), None, 0, parse_recurrspec(OPENEMR_HOLIDAY)), [D(2026, 3, 3)]),
    ],
)
def test_expansion_as_openemr_shows_it(name: str, ev: EventRow, expected: list[dt.date]) -> None:
    assert days_of(ev, D(2024, 1, 1), D(2027, 12, 31)) == expected, name


@pytest.mark.parametrize(
    ("name", "ev", "expected"),
    [
        ("day +3", row(D(2026, 1, 1), None, 1, spec1(3, r.DAY)), [D(2026, 1, 1), D(2026, 1, 4), D(2026, 1, 7)]),
        ("week +2", row(D(2026, 1, 5), None, 1, spec1(2, r.WEEK)), [D(2026, 1, 5), D(2026, 1, 19), D(2026, 2, 2)]),
        (
            "6 work days from Saturday: the count lands on a Saturday, +2 to Monday",
            row(D(2026, 1, 10), None, 1, spec1(6, r.WORK_DAY)),
            [D(2026, 1, 10), D(2026, 1, 19), D(2026, 1, 27)],
        ),
        (
            "type 3 from an unlisted Friday",
            row(D(2026, 1, 9), None, 3, spec3("2,4")),
            [D(2026, 1, 9), D(2026, 1, 12), D(2026, 1, 14)],
        ),
        (
            "type 2 with rt2_pf_flag from a day after the month's occurrence: the next month's first",
            row(D(2026, 1, 20), None, 2, spec2(2, 2)),
            [D(2026, 2, 10), D(2026, 3, 10), D(2026, 4, 14)],
        ),
    ],
)
def test_openemr_walk_step_by_step(name: str, ev: EventRow, expected: list[dt.date]) -> None:
    """The PHP emulation itself (used where no RRULE is exact), unit by unit."""
    walk = r._walk(ev, r.DEFAULT_WEEKEND)
    assert [next(walk) for _ in expected] == expected, name


@pytest.mark.parametrize(
    "spec",
    [spec1(1, r.MONTH), spec1(1, r.YEAR), spec1(1, r.DAY), spec1(2, r.WORK_DAY), spec2(2, 1), spec2(2, 1, flag=None)],
)
def test_walks_stop_at_the_end_of_the_calendar(spec: RecurrSpec) -> None:
    ev = row(D(9999, 11, 30), D(9999, 12, 31), 2 if spec.event_repeat_on_freq else 1, spec)
    got = occurrences(
        ev, dt.datetime(9999, 1, 1, tzinfo=UTC), dt.datetime(9999, 12, 31, 23, tzinfo=UTC), ZoneInfo("UTC")
    )
    assert got and all(x.year == 9999 for x in got)
    assert split_at(ev, dt.datetime(9999, 12, 31, 23, tzinfo=UTC), ZoneInfo("UTC")).kind == "nothing"


def test_work_days_with_a_one_day_weekend() -> None:
    ev = row(D(2026, 1, 9), D(2026, 1, 13), 1, spec1(1, r.WORK_DAY))  # Friday; weekend_days "0" (Sunday only)
    assert days_of(ev, *W, weekend_days=(0,)) == [D(2026, 1, 9), D(2026, 1, 10), D(2026, 1, 12), D(2026, 1, 13)]


def test_work_days_follow_the_weekend_days_global() -> None:
    ev = row(D(2026, 1, 7), D(2026, 1, 13), 1, spec1(1, r.WORK_DAY))  # a Wednesday
    # weekend_days "5,6" (Friday, Saturday): Thursday → Sunday
    assert days_of(ev, *W, weekend_days=(5, 6)) == [
        D(2026, 1, 7),
        D(2026, 1, 8),
        D(2026, 1, 11),
        D(2026, 1, 12),
        D(2026, 1, 13),
    ]


def test_window_is_half_open_and_in_utc() -> None:
    ev = row(D(2026, 1, 5), D(2026, 1, 26), 1, spec1(1, r.WEEK))
    at = local_to_utc(D(2026, 1, 12), dt.time(10), NY)
    assert occurrences(ev, at, at + dt.timedelta(days=7), NY) == [at]
    assert occurrences(ev, at + dt.timedelta(seconds=1), at + dt.timedelta(days=7, seconds=1), NY) == [
        local_to_utc(D(2026, 1, 19), dt.time(10), NY)
    ]
    assert occurrences(ev, at, at, NY) == []
    assert at == dt.datetime(2026, 1, 12, 15, tzinfo=UTC)


def test_wall_time_is_kept_across_dst() -> None:
    ev = row(D(2026, 10, 26), D(2026, 11, 9), 1, spec1(1, r.WEEK))
    got = occurrences(ev, dt.datetime(2026, 10, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC), NY)
    assert [x.hour for x in got] == [14, 15, 15]  # 10:00 EDT, then 10:00 EST


@pytest.mark.parametrize(
    ("day", "wall", "expected"),
    [
        (
            D(2026, 3, 8),
            dt.time(2, 30),
            dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        ),  # gap: offset before it (03:30 EDT)
        (D(2026, 11, 1), dt.time(1, 30), dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),  # fold: the first 01:30 (EDT)
        (D(2026, 7, 1), dt.time(9), dt.datetime(2026, 7, 1, 13, tzinfo=UTC)),
    ],
)
def test_local_to_utc_is_deterministic_in_gaps_and_folds(day: dt.date, wall: dt.time, expected: dt.datetime) -> None:
    assert local_to_utc(day, wall, NY) == expected
    assert local_to_utc(day, wall.replace(fold=1), NY) == expected  # the input's fold is ignored


def test_utc_to_local_refuses_naive() -> None:
    assert utc_to_local(dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC), NY) == (D(2026, 11, 1), dt.time(1, 30))
    with pytest.raises(ValueError, match="naive"):
        utc_to_local(dt.datetime(2026, 1, 1), NY)


def test_until_and_end_date_convert_inclusive_days_to_exclusive_instants() -> None:
    assert until_for_end_date(D(2026, 1, 12), NY) == dt.datetime(2026, 1, 13, 5, tzinfo=UTC)
    cutoff = local_to_utc(D(2026, 1, 12), dt.time(12), NY)
    assert end_date_for_until(cutoff, dt.time(10), NY) == D(2026, 1, 12)  # 10:00 session that day stays
    assert end_date_for_until(cutoff, dt.time(12), NY) == D(2026, 1, 11)  # a session at the cutoff goes
    assert end_date_for_until(cutoff, dt.time(15), NY) == D(2026, 1, 11)


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        (spec1("-1", r.WEEK), "event_repeat_freq"),
        (spec1(1, 5), "event_repeat_freq_type"),
        (spec3("2,9"), "event_repeat_freq"),
        (spec1("2,4", r.WEEK), "event_repeat_freq"),
    ],
)
def test_specs_php_would_loop_on_are_refused(spec: RecurrSpec, where: str) -> None:
    with pytest.raises(RecurrSpecError) as e:
        days_of(row(D(2026, 1, 5), D(2026, 2, 1), 1, spec), *W)
    assert e.value.where == where


@pytest.mark.parametrize(
    ("spec", "where"), [(spec2(6, 1), "event_repeat_on_num"), (spec2(1, 7), "event_repeat_on_day")]
)
def test_type2_out_of_range_is_refused(spec: RecurrSpec, where: str) -> None:
    with pytest.raises(RecurrSpecError) as e:
        days_of(row(D(2026, 1, 5), D(2026, 2, 1), 2, spec), *W)
    assert e.value.where == where


# --------------------------------------------------------------------------- RRULE


@pytest.mark.parametrize(
    ("rtype", "spec", "start", "end", "rule"),
    [
        (1, spec1(1, r.DAY), D(2026, 1, 5), None, "FREQ=DAILY"),
        (1, spec1(3, r.DAY), D(2026, 1, 5), None, "FREQ=DAILY;INTERVAL=3"),
        (1, spec1(2, r.WEEK), D(2026, 1, 5), None, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"),
        (1, spec1(1, r.MONTH), D(2026, 1, 15), None, "FREQ=MONTHLY;BYMONTHDAY=15"),
        (1, spec1(1, r.YEAR), D(2026, 3, 4), None, "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=4"),
        (1, spec1(1, r.WORK_DAY), D(2026, 1, 5), None, "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR"),
        (1, spec1(5, r.WORK_DAY), D(2026, 1, 7), None, "FREQ=WEEKLY;BYDAY=WE"),
        (2, spec2(2, 2), D(2026, 1, 13), None, "FREQ=MONTHLY;BYDAY=2TU"),
        (2, spec2(5, 5, 3), D(2026, 1, 30), None, "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR"),
        (3, spec3("1,2,4"), D(2026, 1, 5), None, "FREQ=WEEKLY;BYDAY=MO,WE,SU"),
        (1, spec1(1, r.WEEK), D(2026, 1, 5), D(2026, 3, 30), "FREQ=WEEKLY;BYDAY=MO;UNTIL=20260330T235959"),
    ],
)
def test_to_rrule_and_back(rtype: int, spec: RecurrSpec, start: dt.date, end: dt.date | None, rule: str) -> None:
    assert to_rrule(rtype, spec, start, end) == rule
    back = from_rrule(rule, start)
    assert (back.recurrtype, back.end_date) == (rtype, end)
    ev, ev2 = (
        row(start, end or D(2027, 12, 31), rtype, spec),
        row(start, end or D(2027, 12, 31), back.recurrtype, back.spec),
    )
    assert days_of(ev2, start, D(2027, 12, 31)) == days_of(ev, start, D(2027, 12, 31))


@pytest.mark.parametrize(
    ("rtype", "spec", "start", "why"),
    [
        (1, spec1(1, r.MONTH), D(2026, 1, 31), "overflows"),
        (1, spec1(1, r.YEAR), D(2024, 2, 29), "Feb 29"),
        (1, spec1(2, r.WORK_DAY), D(2026, 1, 5), "work days"),
        (1, spec1(1, r.WORK_DAY), D(2026, 1, 10), "weekend"),
        (3, spec3("2,4"), D(2026, 1, 9), "does not list"),
        (2, spec2(2, 2), D(2026, 1, 20), "own occurrence"),
        (2, spec2(5, 4, flag=None), D(2025, 1, 30), "skips months"),
    ],
)
def test_to_rrule_refuses_what_no_rrule_reproduces(rtype: int, spec: RecurrSpec, start: dt.date, why: str) -> None:
    with pytest.raises(UnrepresentableRecurrence, match=why):
        to_rrule(rtype, spec, start)


@pytest.mark.parametrize(
    ("rtype", "spec", "where"),
    [(0, RecurrSpec(), "pc_recurrtype"), (2, spec2(0, 1), "pc_recurrspec"), (1, spec1(1, 9), "event_repeat_freq_type")],
)
def test_to_rrule_refuses_non_recurrences(rtype: int, spec: RecurrSpec, where: str) -> None:
    with pytest.raises(RecurrSpecError) as e:
        to_rrule(rtype, spec, D(2026, 1, 5))
    assert e.value.where == where


def test_to_rrule_inexact_gives_the_intended_rule() -> None:
    assert to_rrule(1, spec1(1, r.MONTH), D(2026, 1, 31), exact=False) == "FREQ=MONTHLY;BYMONTHDAY=31"
    assert to_rrule(3, spec3("2,4"), D(2026, 1, 9), exact=False) == "FREQ=WEEKLY;BYDAY=MO,WE"


@pytest.mark.parametrize(
    ("rule", "start", "rtype", "spec"),
    [
        ("RRULE:FREQ=WEEKLY;BYDAY=MO", D(2026, 1, 5), 1, spec1(1, r.WEEK)),
        ("FREQ=WEEKLY;BYDAY=TU,TH;WKST=MO", None, 3, spec3("3,5")),
        ("FREQ=WEEKLY;BYDAY=MO,WE,FR", D(2026, 1, 7), 3, spec3("2,4,6")),
        ("FREQ=MONTHLY;BYDAY=-1MO", None, 2, spec2(5, 1)),
        ("FREQ=MONTHLY;INTERVAL=2", D(2026, 1, 10), 1, spec1(2, r.MONTH)),
        ("FREQ=YEARLY", None, 1, spec1(1, r.YEAR)),
    ],
)
def test_from_rrule_shapes(rule: str, start: dt.date | None, rtype: int, spec: RecurrSpec) -> None:
    got = from_rrule(rule, start)
    assert got.recurrtype == rtype
    assert got.spec.event_repeat_freq_type == spec.event_repeat_freq_type
    if rtype == 2:
        assert (got.spec.event_repeat_on_num, got.spec.event_repeat_on_day, got.spec.rt2_pf_flag) == (
            spec.event_repeat_on_num,
            spec.event_repeat_on_day,
            True,
        )
    else:
        assert got.spec.event_repeat_freq == spec.event_repeat_freq


@pytest.mark.parametrize(
    ("rule", "start", "message"),
    [
        ("FREQ=WEEKLY;COUNT=10", None, "COUNT"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=2", None, "BYSETPOS"),
        ("FREQ=MONTHLY;BYDAY=5MO", None, "1st-4th"),
        ("FREQ=MONTHLY;BYMONTHDAY=31", None, "29-31"),
        ("FREQ=MONTHLY", D(2026, 1, 30), "overflows"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE", None, "every week"),
        ("FREQ=HOURLY", None, "HOURLY"),
        ("FREQ=DAILY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR", None, "no OpenEMR"),
        ("FREQ=WEEKLY;UNTIL=20260105T150000Z", None, "UTC"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", None, "Feb 29"),
        ("FREQ=WEEKLY;BYDAY=MO,WE", D(2026, 1, 6), "not one of"),
        ("FREQ=WEEKLY;BYDAY=MO", D(2026, 1, 7), "not one of"),  # OpenEMR would also show the Wednesday start
        ("FREQ=MONTHLY;BYDAY=2TU", D(2026, 1, 6), "not the 2TU"),
        ("FREQ=WEEKLY;BYDAY=XX", None, "weekday list"),
        ("FREQ=WEEKLY;INTERVAL=0", None, "positive"),
        ("FREQ=DAILY;BYDAY=1MO", None, "MONTHLY"),
        ("FREQ=DAILY;BYMONTH=1", None, "BYMONTH"),
        ("FREQ=DAILY;;garbage", None, "NAME=VALUE"),
        ("FREQ=MONTHLY;BYDAY=1MO,2MO", None, "one numbered weekday"),
        ("FREQ=MONTHLY;BYMONTHDAY=10", D(2026, 1, 11), "not on BYMONTHDAY"),
        ("FREQ=YEARLY;BYDAY=MO", None, "YEARLY with BYDAY"),
        ("FREQ=YEARLY;BYMONTH=3", None, "both"),
        ("FREQ=YEARLY;BYMONTH=3,4;BYMONTHDAY=1", None, "single numbers"),
        ("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1", D(2026, 3, 2), "rule's date"),
        ("FREQ=YEARLY", D(2028, 2, 29), "Feb 29"),
        ("FREQ=WEEKLY;UNTIL=20261340", None, "not a date"),
        ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", D(2026, 1, 10), "work day"),
    ],
)
def test_from_rrule_refuses_what_openemr_cannot_show(rule: str, start: dt.date | None, message: str) -> None:
    with pytest.raises(UnrepresentableRecurrence, match=message):
        from_rrule(rule, start)


# --------------------------------------------------------------------------- split


def weekly(exdate: tuple[str, ...] = ()) -> EventRow:
    """Mondays 10:00 New York, Jan 5 – Mar 30 2026."""
    return row(D(2026, 1, 5), D(2026, 3, 30), 1, spec1(1, r.WEEK, exdate))


def at(day: dt.date, h: int, m: int = 0) -> dt.datetime:
    return local_to_utc(day, dt.time(h, m), NY)


@pytest.mark.parametrize(
    ("name", "ev", "cutoff", "expected"),
    [
        (
            "mid-series, between sessions",
            weekly(),
            at(D(2026, 2, 4), 9),
            Split("split", D(2026, 2, 3), None, D(2026, 2, 9), D(2026, 3, 30), spec1(1, r.WEEK)),
        ),
        (
            "exactly on a session: that session moves (OpenEMR: selected day - 1)",
            weekly(),
            at(D(2026, 2, 9), 10),
            Split("split", D(2026, 2, 8), None, D(2026, 2, 9), D(2026, 3, 30), spec1(1, r.WEEK)),
        ),
        (
            "on a session's day but after it: that session stays",
            weekly(),
            at(D(2026, 2, 9), 10, 1),
            Split("split", D(2026, 2, 9), None, D(2026, 2, 16), D(2026, 3, 30), spec1(1, r.WEEK)),
        ),
        (
            "exdates after the new start go to the new row, the old row keeps all",
            weekly(("20260112", "20260216", "20260323")),
            at(D(2026, 2, 4), 9),
            Split(
                "split", D(2026, 2, 3), None, D(2026, 2, 9), D(2026, 3, 30), spec1(1, r.WEEK, ("20260216", "20260323"))
            ),
        ),
        (
            "the new row starts on the first shown session",
            weekly(("20260209",)),
            at(D(2026, 2, 4), 9),
            Split("split", D(2026, 2, 3), None, D(2026, 2, 16), D(2026, 3, 30), spec1(1, r.WEEK)),
        ),
        ("after the last session: nothing", weekly(), at(D(2026, 3, 30), 11), Split("nothing")),
        (
            "a hidden (zero end) row: nothing",
            row(D(2026, 1, 5), None, 1, spec1(1, r.WEEK)),
            at(D(2026, 2, 1), 0),
            Split("nothing"),
        ),
        (
            "before the first session: the whole row; ending it keeps end >= start and excludes the first day",
            weekly(("20260302",)),
            at(D(2026, 1, 1), 9),
            Split(
                "whole",
                D(2026, 1, 5),
                spec1(1, r.WEEK, ("20260302", "20260105")),
                D(2026, 1, 5),
                D(2026, 3, 30),
                spec1(1, r.WEEK, ("20260302",)),
            ),
        ),
        (
            "on the first day before the session: the same",
            weekly(),
            at(D(2026, 1, 5), 9),
            Split(
                "whole", D(2026, 1, 5), spec1(1, r.WEEK, ("20260105",)), D(2026, 1, 5), D(2026, 3, 30), spec1(1, r.WEEK)
            ),
        ),
        (
            "only excluded sessions before the cutoff: end on the cutoff's day, no new exdate",
            weekly(("20260105", "20260112")),
            at(D(2026, 1, 14), 9),
            Split("whole", D(2026, 1, 13), None, D(2026, 1, 19), D(2026, 3, 30), spec1(1, r.WEEK)),
        ),
        (
            "first day excluded, cutoff before it: end on the first day, nothing to add",
            weekly(("20260105",)),
            at(D(2026, 1, 2), 9),
            Split("whole", D(2026, 1, 5), None, D(2026, 1, 12), D(2026, 3, 30), spec1(1, r.WEEK)),
        ),
    ],
)
def test_split_at(name: str, ev: EventRow, cutoff: dt.datetime, expected: Split) -> None:
    assert split_at(ev, cutoff, NY) == expected, name


def test_split_type2_new_row_gets_rt2_pf_flag() -> None:
    ev = row(D(2025, 1, 14), D(2025, 12, 31), 2, spec2(2, 2, flag=None))
    s = split_at(ev, at(D(2025, 5, 1), 0), NY)
    assert (
        s.kind == "split" and s.new_start_date == D(2025, 5, 13) and s.new_spec is not None and s.new_spec.rt2_pf_flag
    )


def test_split_needs_a_recurring_row_and_an_aware_cutoff() -> None:
    with pytest.raises(ValueError, match="recurring"):
        split_at(row(D(2026, 1, 5), None, 0, RecurrSpec()), at(D(2026, 1, 1), 0), NY)
    with pytest.raises(ValueError, match="aware"):
        split_at(weekly(), dt.datetime(2026, 2, 1), NY)


# --------------------------------------------------------------------------- properties

TZS = [NY, ZoneInfo("Europe/London"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("America/Santiago"), ZoneInfo("UTC")]
dates = st.dates(min_value=D(2020, 1, 1), max_value=D(2030, 12, 31))
times = st.times().map(lambda t: t.replace(microsecond=0))


@st.composite
def rows(draw: st.DrawFn, legacy_type2: bool = False) -> EventRow:
    start = draw(dates)
    end = start + dt.timedelta(days=draw(st.integers(0, 800)))
    kind = draw(st.sampled_from(["1", "2", "3"]))
    if kind == "1":
        ftype = draw(st.sampled_from([r.DAY, r.WEEK, r.MONTH, r.YEAR, r.WORK_DAY]))
        spec = spec1(draw(st.integers(1, 6)), ftype)
        rtype = 1
    elif kind == "2":
        spec = spec2(
            draw(st.integers(1, 5)),
            draw(st.integers(0, 6)),
            draw(st.integers(1, 6)),
            flag=draw(st.sampled_from([True, None])) if legacy_type2 else True,
        )
        rtype = 2
    else:
        days = draw(st.sets(st.integers(1, 7), min_size=1))
        spec = spec3(",".join(map(str, sorted(days))))
        rtype = 3
    ex = draw(st.lists(st.integers(0, 800), max_size=5))
    spec = spec.with_exdates(tuple(f"{start + dt.timedelta(days=i):%Y%m%d}" for i in ex))
    return row(start, end, rtype, spec, draw(times))


def all_of(ev: EventRow, tz: ZoneInfo) -> list[dt.datetime]:
    return occurrences(ev, dt.datetime(2019, 1, 1, tzinfo=UTC), dt.datetime(2034, 1, 1, tzinfo=UTC), tz)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(legacy_type2=True))
def test_dateutil_path_equals_openemr_walk(ev: EventRow) -> None:
    """Where an exact RRULE exists, dateutil's dates are OpenEMR's (the emulation's)."""
    rule = r._exact_rule(ev)
    assume(rule is not None)
    assert ev.end_date is not None
    walked = []
    for d in r._walk(ev, r.DEFAULT_WEEKEND):
        if d > ev.end_date:
            break
        walked.append(d)
    assert list(r._dates(ev, ev.event_date, ev.end_date, r.DEFAULT_WEEKEND)) == [
        d for d in walked if d not in ev.spec.excluded
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(), st.sampled_from(TZS), st.datetimes(min_value=dt.datetime(2019, 6, 1), max_value=dt.datetime(2033, 6, 1)))
def test_split_parts_are_the_original(ev: EventRow, tz: ZoneInfo, naive_cutoff: dt.datetime) -> None:
    cutoff = naive_cutoff.replace(tzinfo=UTC)
    original = all_of(ev, tz)
    s = split_at(ev, cutoff, tz)
    if s.kind == "nothing":
        assert all(x < cutoff for x in original)
        return
    assert s.old_end_date is not None and s.old_end_date >= ev.event_date  # never an end before the start
    old = replace_row(ev, end=s.old_end_date, spec=s.old_spec or ev.spec)
    assert s.new_start_date is not None and s.new_spec is not None
    new = replace_row(ev, start=s.new_start_date, end=s.new_end_date, spec=s.new_spec)
    before, after = all_of(old, tz), all_of(new, tz)
    assert before + after == original
    assert (s.kind == "whole") == (before == [])  # series.end of a "whole" row leaves no session
    assert all(x < cutoff for x in before) and all(x >= cutoff for x in after)
    assert after[0] == local_to_utc(s.new_start_date, ev.start_time, tz)


def replace_row(
    ev: EventRow, *, start: dt.date | None = None, end: dt.date | None = None, spec: RecurrSpec | None = None
) -> EventRow:
    return EventRow(start or ev.event_date, end, ev.start_time, ev.recurrtype, spec or ev.spec)


@settings(max_examples=300, deadline=None)
@given(rows())
def test_rrule_round_trip_keeps_the_dates(ev: EventRow) -> None:
    rule = r._exact_rule(ev)
    assume(rule is not None)
    assert rule is not None
    back = from_rrule(to_rrule(ev.recurrtype, ev.spec, ev.event_date, ev.end_date), ev.event_date)
    assert back.end_date == ev.end_date
    again = EventRow(
        ev.event_date, back.end_date, ev.start_time, back.recurrtype, back.spec.with_exdates(ev.spec.exdate)
    )
    assert all_of(again, NY) == all_of(ev, NY)


@settings(max_examples=200, deadline=None)
@given(
    rows(legacy_type2=True),
    st.dictionaries(st.text("abcxyz_", min_size=1, max_size=8), st.text(max_size=10), max_size=2),
)
def test_dump_parse_round_trip(ev: EventRow, extra: dict[str, str]) -> None:
    spec = RecurrSpec(**{**ev.spec.__dict__, "extra": tuple((f"x_{k}", v) for k, v in extra.items())})
    assert parse_recurrspec(dump_recurrspec(spec)) == spec


@settings(max_examples=200, deadline=None)
@given(dates, times, st.sampled_from(TZS))
def test_local_utc_round_trip_outside_gaps(day: dt.date, wall: dt.time, tz: ZoneInfo) -> None:
    instant = local_to_utc(day, wall, tz)
    back_day, back_wall = utc_to_local(instant, tz)
    naive = dt.datetime.combine(day, wall)
    if naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:  # wall time exists
        assert (back_day, back_wall) == (day, wall)
    else:  # in a gap: moved forward by the gap, never backwards
        assert dt.datetime.combine(back_day, back_wall) > naive
