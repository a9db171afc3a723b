"""Interim stand-in for ``recurrence.py`` (branch ``recurrence``) until it is merged:
the few functions :mod:`.series` needs. Type 1 (every N days/weeks/months/years/
work days) and type 2 (nth weekday of the month) only. Pure."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterator

import phpserialize  # type: ignore[import-untyped]

_UNITS = {0: "DAILY", 1: "WEEKLY", 2: "MONTHLY", 3: "YEARLY", 4: "DAILY"}
_DAYS = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"]


@dataclass(frozen=True)
class Rec:
    kind: int
    freq: int
    unit: int
    on_num: int
    on_day: int
    on_freq: int
    exdate: tuple[dt.date, ...]
    raw: dict[str, str]


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def parse_spec(spec: Any) -> dict[str, str]:
    if spec is None or spec == "":
        return {}
    data = spec.encode() if isinstance(spec, str) else spec
    loaded = phpserialize.loads(data)
    return {_s(k): _s(v) for k, v in loaded.items()}


def dump_spec(d: dict[str, str]) -> str:
    return phpserialize.dumps({k.encode(): v.encode() for k, v in d.items()}).decode()


def from_row(kind: int, spec: Any) -> Rec:
    d = parse_spec(spec)
    ex = []
    for part in (d.get("exdate") or "").split(","):
        part = part.strip()
        if len(part) == 8 and part.isdigit():
            ex.append(dt.date(int(part[:4]), int(part[4:6]), int(part[6:])))
    def num(key: str, default: int = 0) -> int:
        try:
            return int(d.get(key) or default)
        except ValueError:
            return default
    if kind == 1:
        return Rec(1, max(num("event_repeat_freq", 1), 1), num("event_repeat_freq_type"), 0, 0, 0, tuple(ex), d)
    if kind == 2:
        return Rec(2, 0, 0, num("event_repeat_on_num", 1), num("event_repeat_on_day"), max(num("event_repeat_on_freq", 1), 1),
                   tuple(ex), d)
    raise ValueError(f"pc_recurrtype {kind} is not supported yet")


def to_rrule(r: Rec) -> str:
    if r.kind == 1:
        if r.unit == 4:
            return f"FREQ=DAILY;INTERVAL={r.freq};BYDAY=MO,TU,WE,TH,FR"
        return f"FREQ={_UNITS[r.unit]};INTERVAL={r.freq}"
    n = -1 if r.on_num == 5 else r.on_num
    return f"FREQ=MONTHLY;INTERVAL={r.on_freq};BYDAY={n}{_DAYS[r.on_day]}"


def exdates(r: Rec) -> tuple[dt.date, ...]:
    return r.exdate


def _add_months(d: dt.date, n: int) -> dt.date | None:
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    if d.day > calendar.monthrange(y, m)[1]:
        return None
    return dt.date(y, m, d.day)


def occurrence_days(r: Rec, first: dt.date, since: dt.date, end: dt.date | None) -> Iterator[dt.date]:
    """Occurrence days >= since and <= end (bounded: 20 years when open-ended)."""
    end = end or (max(since, first) + dt.timedelta(days=366 * 20))
    if r.kind == 1 and r.unit in (0, 1):
        step = r.freq * (7 if r.unit == 1 else 1)
        k = max(0, -(-(since - first).days // step))
        day = first + dt.timedelta(days=k * step)
        while day <= end:
            yield day
            day += dt.timedelta(days=step)
        return
    if r.kind == 1 and r.unit == 4:
        day, i = first, 0
        while day <= end:
            if day.weekday() < 5:
                if i % r.freq == 0 and day >= since:
                    yield day
                i += 1
            day += dt.timedelta(days=1)
        return
    i = 0
    while True:
        if r.kind == 1:
            months = r.freq * (12 if r.unit == 3 else 1) * i
            day = _add_months(first, months)
            probe = _add_months(first.replace(day=1), months)
        else:
            probe = _add_months(first.replace(day=1), r.on_freq * i)
            assert probe is not None
            day = _nth_weekday(probe.year, probe.month, r.on_num, r.on_day)
        assert probe is not None
        if probe > end:
            return
        if day is not None and since <= day <= end and day >= first:
            yield day
        i += 1


def _nth_weekday(y: int, m: int, n: int, dow_sun0: int) -> dt.date | None:
    py = (dow_sun0 - 1) % 7  # Python Monday=0
    days = [dt.date(y, m, d) for d in range(1, calendar.monthrange(y, m)[1] + 1) if dt.date(y, m, d).weekday() == py]
    if n == 5:
        return days[-1]
    return days[n - 1] if n - 1 < len(days) else None


def with_exdates_from(spec: Any, keep_from: dt.date) -> str | None:
    """The spec with only the exdates on or after ``keep_from`` (for a successor row)."""
    if spec is None or spec == "":
        return spec
    d = parse_spec(spec)
    if d.get("exdate"):
        kept = [p for p in d["exdate"].split(",") if p.strip() and p.strip() >= keep_from.strftime("%Y%m%d")]
        d["exdate"] = ",".join(kept)
    return dump_spec(d)
