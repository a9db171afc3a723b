"""Snapshots: a whole practice as one YAML or JSON document (SPEC §1 "Snapshot format").

``load_snapshot`` reads a file, validates all of it before touching the database
(pydantic models with unknown keys forbidden, then ids and references), and
inserts it into an *empty* database in one transaction; any problem is one
:class:`SnapshotError` naming file:line (YAML) or the entity
(``appointments[17] (A-18): unknown staff 'zz'``) and nothing is loaded.

Large practices (millions of appointments) load in bounded memory: a JSON file in
the layout ``db dump`` writes is streamed (``snapshot_stream``: read in pieces,
validated and inserted a batch at a time, problems located exactly as the detailed
pass would). Other files are read whole: a *fast pass* validates rows as plain
dicts and turns them straight into insert tuples (falling back to the detailed,
model-based pass, which locates problems, whenever it cannot vouch for the
document). Either way the bulk tables go in by a raw DBAPI executemany (SQLite) or
``COPY`` (PostgreSQL) with indexes, and on PostgreSQL foreign keys, rebuilt after.

``dump_snapshot`` writes the database back, deterministic and sorted by id, so
that dump -> load -> dump is byte-identical.

Conventions: times are ISO 8601 with an offset in the file (written in the
practice timezone) and naive UTC in the database; dates are ``YYYY-MM-DD``; money
is integer cents. Optional fields whose value is null are omitted on dump (and
may be omitted on load).
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import re
from contextlib import ExitStack
from itertools import islice
from json.scanner import make_scanner
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Annotated, Any, Iterable, Iterator, Literal, Mapping, Sequence

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from sqlalchemy import Table, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from typing_extensions import (  # pydantic needs typing_extensions' TypedDict before 3.12
    NotRequired,
    TypedDict,
)

from reconciler.errors import (
    DatabaseError,
    Location,
    NoPractice,
    Problem,
    SnapshotError,
)
from reconciler.model.desired import Access, ClientStatus, Role
from reconciler.model.limits import INT32_MAX
from reconciler.model.schema import ClientId, Slug, StrictInt32, StrictInt64
from reconciler.progress import bar_wanted
from reconciler.targets.native import schema
from reconciler.targets.native.bulkload import (
    BULK,
    CHUNK,
    COLUMNS,
    SECTIONS,
    LoadRows,
    Progress,
    column_index,
    insert_rows,
    require_empty,
)
from reconciler.targets.native.engine import require_schema, safe_url
from reconciler.timeutil import zone

# The schema's Core tables, under the names this module has always exported.
practice_t = schema.practice_t
staff_t = schema.staff_t
clients_t = schema.clients_t
series_t = schema.series_t
appointments_t = schema.appointments_t

MAX_PROBLEMS = 50
UTC = dt.timezone.utc

# ---------------------------------------------------------------- the file's models

RowId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Cents = StrictInt64  # balance_cents: BIGINT


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PracticeSnap(_Row):
    name: Name
    timezone: str
    owner: Slug | None = None
    clinical_director: Slug | None = None
    client_plan_limit: StrictInt32 | None = None
    seat_price_cents: StrictInt32 | None = None  # INTEGER
    billing_cycle_day: Annotated[StrictInt, Field(ge=1, le=28)] = 1

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        zone(v)  # ValueError "unknown IANA timezone ..." becomes a located problem
        return v


class StaffSnap(_Row):
    id: Slug
    name: Name
    role: Role
    access: Access
    active: StrictBool = True
    billing_role: Annotated[str, StringConstraints(max_length=64)] | None = None
    max_caseload: StrictInt32 | None = None
    deactivate_on: dt.date | None = None
    deactivated_at: AwareDatetime | None = None
    settings: dict[str, Any] | None = None


class ClientSnap(_Row):
    id: ClientId
    first_name: Name
    last_name: Name
    status: ClientStatus = ClientStatus.ACTIVE
    primary: Slug | None = None
    balance_cents: Cents = 0
    portal_access: StrictBool = False
    duplicate_of: ClientId | None = None
    deleted_at: AwareDatetime | None = None


class SeriesSnap(_Row):
    id: RowId
    client: ClientId
    staff: Slug
    rrule: Annotated[str, StringConstraints(min_length=1)]
    start: AwareDatetime
    duration_minutes: Annotated[StrictInt, Field(gt=0, le=INT32_MAX)] = 50
    until: AwareDatetime | None = None
    active: StrictBool = True


class AppointmentSnap(_Row):
    id: RowId
    client: ClientId
    staff: Slug
    start: AwareDatetime
    end: AwareDatetime
    status: Literal["scheduled", "cancelled", "completed", "no_show"] = "scheduled"
    series: RowId | None = None
    cancel_reason: str | None = None
    telehealth: StrictBool = False


class Snapshot(_Row):
    practice: PracticeSnap
    staff: list[StaffSnap] = Field(default_factory=list)
    clients: list[ClientSnap] = Field(default_factory=list)
    series: list[SeriesSnap] = Field(default_factory=list)
    appointments: list[AppointmentSnap] = Field(default_factory=list)


# ---------------------------------------------------------------- reading the file


class _Lines:
    """Maps a path in the document (``("appointments", 17, "staff")``) to a line number.

    YAML documents come from :func:`reconciler.safeyaml.safe_load_marked`, whose
    mappings and sequences remember their lines; JSON knows no lines.
    """

    def __init__(self, marked: Any = None) -> None:
        self.marked = marked

    def line(self, path: Sequence[str | int]) -> int | None:
        if self.marked is None:
            return None
        from reconciler.safeyaml import line_of

        return line_of(self.marked, path)


def _read_yaml(text: str, file: str) -> tuple[Any, _Lines]:
    """Safe YAML with line marks, bounded aliases, no duplicate keys (the config loader's rules)."""
    from reconciler.errors import ConfigError
    from reconciler.safeyaml import safe_load_marked

    try:
        data = safe_load_marked(text, file)
    except ConfigError as exc:
        raise SnapshotError(exc.args[0] if exc.args else str(exc), exc.problems) from None
    if data is None:
        raise SnapshotError("the snapshot is empty", location=Location(file, 1))
    return data, _Lines(data)


def _read_json(text: str, file: str) -> tuple[Any, _Lines]:
    try:
        return json.loads(text), _Lines()
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"invalid JSON: {exc.msg}", location=Location(file, exc.lineno)) from None
    except RecursionError:
        raise SnapshotError("JSON nesting too deep", location=Location(file)) from None


def read_document(path: Path) -> tuple[Any, _Lines]:
    """Parse ``path`` (JSON if it ends in ``.json``, else YAML) into plain data and a line map."""
    file = str(path)
    text = _read_text(path)
    if path.suffix.lower() == ".json":
        return _read_json(text, file)
    return _read_yaml(text, file)


# ---------------------------------------------------------------- validation


_WORD = re.compile(r"\w+")
#: Said instead of a value that may be a client's name (PHI never goes to stderr or CI logs).
HIDDEN = "<value not shown: it may be a client's name>"


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    """The strings in ``value`` (a scalar, or a list/mapping a few levels deep)."""
    if isinstance(value, str):
        yield value
    elif depth < 3 and isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k, depth + 1)
            yield from _strings(v, depth + 1)


def _name_words(data: Any) -> frozenset[str]:
    """Every word of every client's first and last name in the raw document, folded."""
    rows = data.get("clients") if isinstance(data, dict) else None
    words: set[str] = set()
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, dict):
            for key in NAME_FIELDS:
                for text in _strings(row.get(key)):
                    # A single letter or a number identifies nobody (and is in every id).
                    words.update(w.casefold() for w in _WORD.findall(text) if len(w) > 1 and not w.isdigit())
    return frozenset(words)


#: The client fields that hold PHI; their values are never echoed in a message.
NAME_FIELDS = ("first_name", "last_name")


class _Problems:
    def __init__(self, file: str, lines: _Lines, data: Any) -> None:
        self.file, self.lines, self.data = file, lines, data
        self.items: list[Problem] = []
        self.more = 0
        self.names = _name_words(data)

    def may_be_name(self, value: Any) -> bool:
        """Whether ``value`` holds a word of any client's name in this document."""
        return any(w.casefold() in self.names for text in _strings(value) for w in _WORD.findall(text))

    def shown(self, value: Any, path: Sequence[str | int] = ()) -> str:
        """``repr(value)`` for a message (shortened), unless it may be a client's name:
        a client name field, or a value holding a word of some client's name (a name
        typed into the wrong column, say)."""
        if (len(path) > 2 and path[0] == "clients" and path[2] in NAME_FIELDS) or self.may_be_name(value):
            return HIDDEN
        got = repr(value)
        return got if len(got) <= 60 else got[:57] + "..."

    def entity(self, section: str, index: int | None) -> str:
        if index is None:
            return section
        row = None
        if isinstance(self.data, dict) and isinstance(self.data.get(section), list):
            rows = self.data[section]
            row = rows[index] if 0 <= index < len(rows) else None
        rid = row.get("id") if isinstance(row, dict) else None
        if isinstance(rid, str) and not self.may_be_name(rid):
            return f"{section}[{index}] ({rid})"
        return f"{section}[{index}]"

    def add(self, path: Sequence[str | int], message: str, field: str | None = None) -> None:
        if len(self.items) >= MAX_PROBLEMS:
            self.more += 1
            return
        section = str(path[0]) if path else None
        index = path[1] if len(path) > 1 and isinstance(path[1], int) else None
        entity = self.entity(section, index) if section and len(path) > 1 else None
        loc = Location(self.file, self.lines.line(path), field, entity)
        self.items.append(Problem(loc, message, code="snapshot"))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        # Keep file order (sorted by line where known), not discovery order.
        self.items.sort(key=lambda p: (p.location.line or 0,))
        n = len(self.items) + self.more
        head = f"snapshot {self.file} is invalid ({n} problems); nothing was loaded"
        if self.more:
            self.items.append(
                Problem(
                    Location(self.file),
                    f"... and {self.more} more problems",
                    code="snapshot",
                )
            )
        if n == 1:
            head = self.items[0].message
        raise SnapshotError(head, self.items)


def _pydantic_message(err: Any, problems: _Problems) -> str:
    """pydantic's message for one error, with the bad value unless it may be PHI.

    The messages themselves never quote the input (``msg`` is fixed text; a value
    error's text is ours), so hiding ``input`` is enough."""
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        return f"unknown key {problems.shown(key)}"
    if kind == "missing":
        return f"missing required key {str(err['loc'][-1])!r}"
    got = problems.shown(err.get("input"), list(err["loc"]))
    msg = str(err["msg"])
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return f"{msg} (got {got})" if got != HIDDEN else f"{msg} ({got})"


def validate_document(data: Any, file: str, lines: _Lines) -> Snapshot:
    """The validated snapshot, or one :class:`SnapshotError` listing every located problem."""
    problems = _Problems(file, lines, data)
    if not isinstance(data, dict):
        problems.add([], "a snapshot is a mapping with keys " + ", ".join(SECTIONS))
        problems.raise_if_any()
    try:
        snap = Snapshot.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = list(err["loc"])
            # The field path after "section[index]" (or after "practice").
            head = 2 if len(loc) > 1 and isinstance(loc[1], int) else 1
            field = ".".join(str(p) for p in loc[head:]) or None
            if len(loc) == 1:
                field = str(loc[0])
            if err["type"] == "extra_forbidden" or err["type"] == "missing":
                field = ".".join(str(p) for p in loc[head:-1]) or None
            problems.add(loc, _pydantic_message(err, problems), field)
        problems.raise_if_any()
    _check_references(snap, problems)
    problems.raise_if_any()
    return snap


def _check_references(snap: Snapshot, problems: _Problems) -> None:
    def ids(section: str, rows: Sequence[Any]) -> set[str]:
        first: dict[str, int] = {}
        for i, row in enumerate(rows):
            if row.id in first:
                j = first[row.id]
                where = problems.lines.line([section, j])
                also = f"{section}[{j}]" + (f", line {where}" if where else "")
                problems.add(
                    [section, i, "id"],
                    f"duplicate id {problems.shown(row.id)} (also at {also})",
                )
            else:
                first[row.id] = i
        return set(first)

    staff = ids("staff", snap.staff)
    clients = ids("clients", snap.clients)
    series = ids("series", snap.series)
    ids("appointments", snap.appointments)

    def ref(path: list[str | int], value: str | None, known: set[str], what: str) -> None:
        if value is not None and value not in known:
            problems.add(path, f"unknown {what} {problems.shown(value)}")

    ref(["practice", "owner"], snap.practice.owner, staff, "staff")
    ref(
        ["practice", "clinical_director"],
        snap.practice.clinical_director,
        staff,
        "staff",
    )
    for i, c in enumerate(snap.clients):
        ref(["clients", i, "primary"], c.primary, staff, "staff")
        ref(["clients", i, "duplicate_of"], c.duplicate_of, clients, "client")
        if c.duplicate_of == c.id:
            problems.add(
                ["clients", i, "duplicate_of"],
                "a client cannot be a duplicate of itself",
            )
    for i, s in enumerate(snap.series):
        ref(["series", i, "client"], s.client, clients, "client")
        ref(["series", i, "staff"], s.staff, staff, "staff")
        if s.until is not None and s.until < s.start:
            problems.add(["series", i, "until"], "until is before start")
    for i, a in enumerate(snap.appointments):
        ref(["appointments", i, "client"], a.client, clients, "client")
        ref(["appointments", i, "staff"], a.staff, staff, "staff")
        ref(["appointments", i, "series"], a.series, series, "series")
        if a.end <= a.start:
            problems.add(["appointments", i, "end"], "end is not after start")


def parse_snapshot(path: Path) -> Snapshot:
    """Read and validate a snapshot file; raises :class:`SnapshotError` (located)."""
    data, lines = read_document(path)
    return validate_document(data, str(path), lines)


# ---------------------------------------------------------------- to database rows


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def snapshot_rows(snap: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """The database rows of a validated snapshot, per table (``practice``, ``staff`` ...).

    Clients' ``duplicate_of`` is included here; the loader sets it in a second pass
    because it may point at a client inserted later.
    """
    return {
        "practice": [_practice_row(snap.practice)],
        "staff": [_staff_row(s) for s in snap.staff],
        "clients": [_client_row(c) for c in snap.clients],
        "series": [_series_row(s) for s in snap.series],
        "appointments": [_appointment_row(a) for a in snap.appointments],
    }


def _client_row(c: ClientSnap) -> dict[str, Any]:
    return dict(
        id=c.id,
        first_name=c.first_name,
        last_name=c.last_name,
        status=c.status.value,
        primary_id=c.primary,
        balance_cents=c.balance_cents,
        portal_access=c.portal_access,
        duplicate_of=c.duplicate_of,
        deleted_at=_utc(c.deleted_at),
    )


def _series_row(s: SeriesSnap) -> dict[str, Any]:
    return dict(
        id=s.id,
        client_id=s.client,
        staff_id=s.staff,
        rrule=s.rrule,
        start_at=_utc(s.start),
        duration_minutes=s.duration_minutes,
        until=_utc(s.until),
        active=s.active,
    )


def _appointment_row(a: AppointmentSnap) -> dict[str, Any]:
    return dict(
        id=a.id,
        client_id=a.client,
        staff_id=a.staff,
        start_at=_utc(a.start),
        end_at=_utc(a.end),
        status=a.status,
        series_id=a.series,
        cancel_reason=a.cancel_reason,
        telehealth=a.telehealth,
    )


#: A validated row model to its database row, per bulk section.
MODEL_ROWS: dict[str, Any] = {"clients": _client_row, "series": _series_row, "appointments": _appointment_row}


def _practice_row(p: PracticeSnap) -> dict[str, Any]:
    return dict(
        id=1,
        name=p.name,
        timezone=p.timezone,
        owner_id=p.owner,
        clinical_director_id=p.clinical_director,
        client_plan_limit=p.client_plan_limit,
        seat_price_cents=p.seat_price_cents,
        billing_cycle_day=p.billing_cycle_day,
    )


def _staff_row(s: StaffSnap) -> dict[str, Any]:
    return dict(
        id=s.id,
        name=s.name,
        role=s.role.value,
        access=s.access.value,
        billing_role=s.billing_role,
        active=s.active,
        deactivate_on=s.deactivate_on,
        deactivated_at=_utc(s.deactivated_at),
        settings=s.settings,
        max_caseload=s.max_caseload,
    )


def _rows_from_snapshot(snap: Snapshot) -> LoadRows:
    rows = snapshot_rows(snap)
    return LoadRows(
        rows["practice"][0],
        rows["staff"],
        {s: [tuple(r[c] for c in COLUMNS[s]) for r in rows[s]] for s in BULK},
    )


# ---------------------------------------------------------------- the fast pass
#
# Validating two million rows through the pydantic models, then turning the models
# into rows, costs about a minute and several GB. The fast pass checks the same
# rules more cheaply and builds the insert tuples as it goes: pydantic-core
# validates plain dicts against TypedDicts with the models' own field types (no
# model instances), times are parsed once per distinct string, references are
# checked with set operations. It only vouches for a document it fully accepts:
# on anything else (a problem, or a form it does not handle, such as a date-time
# without seconds or a YAML timestamp) it gives up with _NotFast and the detailed
# pass (the models, ``validate_document``) decides, locating every problem exactly
# as before. So the fast pass may be stricter than the models, never looser: a
# test holds it to that.


class _NotFast(Exception):
    """The fast pass cannot vouch for the document; the detailed pass decides."""


# Defaults are written out again here (a TypedDict cannot take them from the
# model); a test holds them, the fields and their requiredness to the models'.
class _ClientIn(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    id: ClientId
    first_name: Name
    last_name: Name
    status: NotRequired[Annotated[ClientStatus, Field(default=ClientStatus.ACTIVE)]]
    primary: NotRequired[Annotated[Slug | None, Field(default=None)]]
    balance_cents: NotRequired[Annotated[Cents, Field(default=0)]]
    portal_access: NotRequired[Annotated[StrictBool, Field(default=False)]]
    duplicate_of: NotRequired[Annotated[ClientId | None, Field(default=None)]]
    deleted_at: NotRequired[Annotated[str | None, Field(default=None)]]  # a time: checked by _Times


class _SeriesIn(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    id: RowId
    client: ClientId
    staff: Slug
    rrule: Annotated[str, StringConstraints(min_length=1)]
    start: str  # a time: checked by _Times
    duration_minutes: NotRequired[Annotated[StrictInt, Field(gt=0, le=INT32_MAX, default=50)]]
    until: NotRequired[Annotated[str | None, Field(default=None)]]  # a time: checked by _Times
    active: NotRequired[Annotated[StrictBool, Field(default=True)]]


class _AppointmentIn(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    id: RowId
    client: ClientId
    staff: Slug
    start: str  # a time: checked by _Times
    end: str  # a time: checked by _Times
    status: NotRequired[
        Annotated[
            Literal["scheduled", "cancelled", "completed", "no_show"],
            Field(default="scheduled"),
        ]
    ]
    series: NotRequired[Annotated[RowId | None, Field(default=None)]]
    cancel_reason: NotRequired[Annotated[str | None, Field(default=None)]]
    telehealth: NotRequired[Annotated[StrictBool, Field(default=False)]]


# The row model each TypedDict mirrors.
FAST_MODELS: dict[str, tuple[type[Any], type[_Row]]] = {
    "clients": (_ClientIn, ClientSnap),
    "series": (_SeriesIn, SeriesSnap),
    "appointments": (_AppointmentIn, AppointmentSnap),
}
_ADAPTERS: dict[str, TypeAdapter[list[Any]]] = {
    s: TypeAdapter(list[td])  # type: ignore[valid-type]
    for s, (td, _m) in FAST_MODELS.items()
}

# The file's key for each column of a bulk table, in column order.
_SOURCE: dict[str, tuple[str, ...]] = {
    "clients": (
        "id",
        "first_name",
        "last_name",
        "status",
        "primary",
        "balance_cents",
        "portal_access",
        "duplicate_of",
        "deleted_at",
    ),
    "series": (
        "id",
        "client",
        "staff",
        "rrule",
        "start",
        "duration_minutes",
        "until",
        "active",
    ),
    "appointments": (
        "id",
        "client",
        "staff",
        "start",
        "end",
        "status",
        "series",
        "cancel_reason",
        "telehealth",
    ),
}
_TIME_KEYS = frozenset({"deleted_at", "start", "until", "end"})

# RFC 3339 with seconds and an offset (what `db dump` writes). pydantic accepts
# these and more; the rest is left to the detailed pass.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)")


class _Times(dict[str | None, dt.datetime | None]):
    """Date-time strings (or None) to naive UTC datetimes, parsed once per distinct string.

    Sessions start on a grid, so two million appointments hold a few thousand
    distinct times: the memo turns four million parses into dictionary look-ups
    (``map(times.__getitem__, ...)`` runs in C, calling ``__missing__`` only for
    a new string) and shares one datetime object between rows. It is cleared when
    it grows past ``LIMIT`` entries, so that a file of all-distinct times cannot
    make it large.
    """

    LIMIT = 100_000

    def __missing__(self, text: str | None) -> dt.datetime | None:
        value = None
        if text is not None:
            if not _RFC3339.fullmatch(text):
                raise _NotFast
            try:
                aware = dt.datetime.fromisoformat(text)
            except ValueError:  # out-of-range fields: the detailed pass words the problem
                raise _NotFast from None
            value = aware.astimezone(UTC).replace(tzinfo=None)
        if len(self) >= self.LIMIT:
            self.clear()
        self[text] = value
        return value


def _tuples(section: str, rows: list[dict[str, Any]], times: _Times) -> list[tuple[Any, ...]]:
    """Validated rows (every key present: the TypedDicts fill in defaults) as insert
    tuples. Built column by column with ``map`` and ``zip``, which run in C: a
    Python-level loop per row was a fifth of the whole load."""
    columns: list[Iterator[Any]] = []
    for key in _SOURCE[section]:
        values: Iterator[Any] = map(itemgetter(key), rows)
        if key in _TIME_KEYS:
            values = map(times.__getitem__, values)
        elif section == "clients" and key == "status":
            values = map(attrgetter("value"), values)  # ClientStatus -> its string
        columns.append(values)
    return list(zip(*columns))


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


def _fast_rows(sections: Iterable[tuple[str, Any]]) -> LoadRows:
    """The rows of a document given as its top-level ``(key, value)`` pairs, list
    values as iterators (consumed, and so freed, one row at a time); raises
    :class:`_NotFast` unless the whole document is valid."""
    practice: dict[str, Any] | None = None
    staff: list[dict[str, Any]] = []
    bulk: dict[str, list[tuple[Any, ...]]] = {s: [] for s in BULK}
    times = _Times()
    seen: set[str] = set()
    try:
        for key, value in sections:
            if key not in SECTIONS or key in seen:
                raise _NotFast
            seen.add(key)
            if key == "practice":
                practice = _practice_row(PracticeSnap.model_validate(value))
                continue
            if not isinstance(value, Iterator):
                raise _NotFast
            if key == "staff":
                staff = [_staff_row(StaffSnap.model_validate(r)) for r in value]
                continue
            adapter, out = _ADAPTERS[key], bulk[key]
            for batch in _batches(value, CHUNK):
                out.extend(_tuples(key, adapter.validate_python(batch), times))
    except ValidationError:
        raise _NotFast from None
    if practice is None:
        raise _NotFast
    rows = LoadRows(practice, staff, bulk)
    if not _references_hold(rows):
        raise _NotFast
    return rows


def _references_hold(rows: LoadRows) -> bool:
    """Ids are unique, references resolve, times are in order (``_check_references``'s rules).

    Set operations over columns (``map(itemgetter(i), rows)`` runs in C) keep this
    to about a second for two million appointments.
    """

    def column(section: str, name: str) -> Iterator[Any]:
        return map(itemgetter(column_index(section, name)), rows.bulk[section])

    def unique(ids: list[Any]) -> set[Any] | None:
        found = set(ids)
        return found if len(found) == len(ids) else None

    def refs(section: str, name: str, known: set[Any]) -> bool:
        return set(column(section, name)) - {None} <= known

    staff = unique([s["id"] for s in rows.staff])
    clients = unique(list(column("clients", "id")))
    series = unique(list(column("series", "id")))
    if staff is None or clients is None or series is None or unique(list(column("appointments", "id"))) is None:
        return False
    p = rows.practice
    if not {p["owner_id"], p["clinical_director_id"]} - {None} <= staff:
        return False
    if not (
        refs("clients", "primary_id", staff)
        and refs("clients", "duplicate_of", clients)
        and refs("series", "client_id", clients)
        and refs("series", "staff_id", staff)
        and refs("appointments", "client_id", clients)
        and refs("appointments", "staff_id", staff)
        and refs("appointments", "series_id", series)
    ):
        return False
    if any(map(operator.eq, column("clients", "id"), column("clients", "duplicate_of"))):
        return False
    # "until is before start" and "end is not after start", pairwise over columns.
    untils = column("series", "until")
    if any(u is not None and u < s for u, s in zip(untils, column("series", "start_at"))):
        return False
    return all(
        map(
            operator.gt,
            column("appointments", "end_at"),
            column("appointments", "start_at"),
        )
    )


# ---------------------------------------------------------------- streaming JSON

_WS = re.compile(r"[ \t\n\r]*")
_COMMA = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")


class _JsonSections:
    """The top-level ``(key, value)`` pairs of the JSON object in ``text``, without
    building the whole document: an array value comes as an iterator that decodes
    one item at a time, so each row can be converted and dropped (two million rows
    as Python dicts take several times the file's size).

    Anything else — not an object, a syntax error, trailing data — raises
    :class:`_NotFast`, and ``json.loads`` then reads the text and reports it.
    Values are decoded by the ``json`` module's own scanner, so they are exactly
    what ``json.loads`` would give.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        # json's C scanner (typeshed types make_scanner as a class, hence the ignore).
        self._scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
        self._array_open = False

    def _skip(self, pos: int) -> None:
        match = _WS.match(self.text, pos)
        self.pos = match.end() if match else pos

    def _take(self, char: str) -> bool:
        """Consume ``char`` (and the whitespace after it) if it comes next."""
        if not self.text.startswith(char, self.pos):
            return False
        self._skip(self.pos + 1)
        return True

    def _expect(self, char: str) -> None:
        if not self._take(char):
            raise _NotFast

    def _value(self) -> Any:
        try:
            value, end = self._scan(self.text, self.pos)
        except (StopIteration, json.JSONDecodeError, RecursionError):
            raise _NotFast from None
        self._skip(end)
        return value

    def _items(self) -> Iterator[Any]:
        self._array_open = True
        self._expect("[")
        if not self._take("]"):
            # The hot loop of a large load: one scan and one separator match per item.
            text, scan, comma = self.text, self._scan, _COMMA.match
            pos = self.pos
            while True:
                try:
                    value, pos = scan(text, pos)
                except (StopIteration, json.JSONDecodeError, RecursionError):
                    raise _NotFast from None
                yield value
                sep = comma(text, pos)
                if sep is None:
                    break
                pos = sep.end()
            self._skip(pos)
            self._expect("]")
        self._array_open = False

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        self._skip(0)
        self._expect("{")
        if not self._take("}"):
            while True:
                key = self._value()
                if not isinstance(key, str):
                    raise _NotFast
                self._expect(":")
                if self.text.startswith("[", self.pos):
                    yield key, self._items()
                    if self._array_open:  # the consumer must read each array to its end
                        raise _NotFast
                else:
                    yield key, self._value()
                if not self._take(","):
                    self._expect("}")
                    break
        if self.pos != len(self.text):
            raise _NotFast


# ---------------------------------------------------------------- read and validate


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SnapshotError(f"snapshot file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"cannot read snapshot file {path}: {exc}") from None


def read_rows(path: Path) -> LoadRows:
    """Read and validate the snapshot file ``path`` into the rows to insert.

    The fast pass first; if it cannot vouch for the document, the detailed pass
    (``validate_document``) raises the located :class:`SnapshotError` — or, for a
    valid document in a form the fast pass leaves alone, returns it.
    """
    file = str(path)
    if path.suffix.lower() == ".json":
        text = _read_text(path)
        try:
            return _fast_rows(_JsonSections(text))
        except _NotFast:
            pass
        data, lines = _read_json(text, file)
        del text
    else:
        data, lines = _read_yaml(_read_text(path), file)
        if isinstance(data, dict):
            try:
                return _fast_rows((k, iter(v) if isinstance(v, list) else v) for k, v in data.items())
            except _NotFast:
                pass
    return _rows_from_snapshot(validate_document(data, file, lines))


# ---------------------------------------------------------------- load


def load_snapshot(engine: Engine, path: Path, progress: bool = False) -> dict[str, int]:
    """Load the snapshot file ``path`` into the empty database behind ``engine``.

    Validates the whole file first; any problem raises one :class:`SnapshotError`
    (file:line or entity) and loads nothing. A database that is not initialised or
    not empty raises :class:`DatabaseError`. All rows go in one transaction, in
    chunks of ``CHUNK`` rows. Returns the number of rows loaded per section, in
    SPEC order. ``progress`` shows a progress bar on stderr.
    """
    require_schema(engine)
    with engine.connect() as conn:
        require_empty(conn, engine)  # fail fast, before reading a large file
    with ExitStack() as stack:
        bar = Progress(bar_wanted(progress), stack)  # never in CI or off a terminal
        # COPY reports errors with the driver's own exception, not SQLAlchemy's.
        driver_error = getattr(engine.dialect.loaded_dbapi, "Error", sa_exc.DBAPIError)
        try:
            if path.suffix.lower() == ".json":
                # A JSON snapshot in the layout `db dump` writes streams: read,
                # validated and inserted a batch at a time, in bounded memory.
                from reconciler.targets.native.snapshot_stream import NotStreamable, load_json_stream

                try:
                    counts = load_json_stream(engine, path, bar)
                except NotStreamable:
                    pass  # another layout: read whole, below
                else:
                    _vacuum(engine)
                    return counts
            done = bar.task(f"reading {path.name}", None)
            rows = read_rows(path)
            done(1)
            insert_rows(engine, rows, bar)
            _vacuum(engine)
        except (sa_exc.DBAPIError, driver_error) as exc:
            raise load_failed(path, engine, driver_first_line(exc)) from None
    return rows.counts()


def _vacuum(engine: Engine) -> None:
    """PostgreSQL, after the load committed: VACUUM the clients table, so that its pages
    are marked all-visible now rather than whenever autovacuum comes by. Until then
    counting the active clients (every plan does) reads the whole table: the index
    alone cannot tell which freshly loaded rows are visible. (The other tables are only
    read through selective indexes; vacuuming two million appointments would take
    seconds.)"""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) clients")


def driver_first_line(exc: BaseException) -> str:
    """A database error as a failed load words it: the driver's first line."""
    lines = str(getattr(exc, "orig", exc)).strip().splitlines()
    return lines[0] if lines else exc.__class__.__name__


def load_failed(path: Path, engine: Engine, detail: str) -> DatabaseError:
    """The one error of a load the database refused (nothing was loaded)."""
    return DatabaseError(f"loading {path} into {safe_url(engine.url)} failed, nothing was loaded: {detail}")


# ---------------------------------------------------------------- dump

_NATURAL = re.compile(r"(\d+)")


def natural_key(value: str) -> tuple[Any, ...]:
    """Sort key putting ``A-2`` before ``A-10`` (the same on every backend and locale)."""
    parts = _NATURAL.split(value)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _rows_of(conn: Connection, table: Table) -> list[Any]:
    rows = list(conn.execute(select(table).order_by(table.c.id)).mappings())
    rows.sort(key=lambda r: natural_key(r["id"]))
    return rows


def _compact(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A row mapping without the optional fields that are null."""
    return {k: v for k, v in pairs if v is not None}


class DocumentRows:
    """Turns database rows (mappings with the schema's column names) into snapshot rows.

    Shared by ``db dump`` and ``bench/generate.py`` so that both write the same bytes.
    """

    def __init__(self, timezone: str) -> None:
        self.tz = zone(timezone)

    def t(self, value: dt.datetime | None) -> str | None:
        return None if value is None else value.replace(tzinfo=UTC).astimezone(self.tz).isoformat()

    @staticmethod
    def practice(p: Mapping[Any, Any]) -> dict[str, Any]:
        return _compact(
            [
                ("name", p["name"]),
                ("timezone", p["timezone"]),
                ("owner", p["owner_id"]),
                ("clinical_director", p["clinical_director_id"]),
                ("client_plan_limit", p["client_plan_limit"]),
                ("seat_price_cents", p["seat_price_cents"]),
                # The default billing cycle day is left out, like the SPEC example.
                (
                    "billing_cycle_day",
                    None if p["billing_cycle_day"] == 1 else p["billing_cycle_day"],
                ),
            ]
        )

    def staff(self, s: Mapping[Any, Any]) -> dict[str, Any]:
        d, settings = s["deactivate_on"], s["settings"]
        return _compact(
            [
                ("id", s["id"]),
                ("name", s["name"]),
                ("role", s["role"]),
                ("access", s["access"]),
                ("active", s["active"]),
                ("billing_role", s["billing_role"]),
                ("max_caseload", s["max_caseload"]),
                ("deactivate_on", None if d is None else d.isoformat()),
                ("deactivated_at", self.t(s["deactivated_at"])),
                (
                    "settings",
                    None if settings is None else dict(sorted(settings.items())),
                ),
            ]
        )

    def clients(self, c: Mapping[Any, Any]) -> dict[str, Any]:
        return _compact(
            [
                ("id", c["id"]),
                ("first_name", c["first_name"]),
                ("last_name", c["last_name"]),
                ("status", c["status"]),
                ("primary", c["primary_id"]),
                ("balance_cents", c["balance_cents"]),
                ("portal_access", c["portal_access"]),
                ("duplicate_of", c["duplicate_of"]),
                ("deleted_at", self.t(c["deleted_at"])),
            ]
        )

    def series(self, s: Mapping[Any, Any]) -> dict[str, Any]:
        return _compact(
            [
                ("id", s["id"]),
                ("client", s["client_id"]),
                ("staff", s["staff_id"]),
                ("rrule", s["rrule"]),
                ("start", self.t(s["start_at"])),
                ("duration_minutes", s["duration_minutes"]),
                ("until", self.t(s["until"])),
                ("active", s["active"]),
            ]
        )

    def appointments(self, a: Mapping[Any, Any]) -> dict[str, Any]:
        return _compact(
            [
                ("id", a["id"]),
                ("client", a["client_id"]),
                ("staff", a["staff_id"]),
                ("start", self.t(a["start_at"])),
                ("end", self.t(a["end_at"])),
                ("status", a["status"]),
                ("series", a["series_id"]),
                ("cancel_reason", a["cancel_reason"]),
                ("telehealth", a["telehealth"]),
            ]
        )


def snapshot_document(conn: Connection) -> dict[str, Any]:
    """The database as a snapshot document (plain data, deterministic order)."""
    practice = conn.execute(select(practice_t).order_by(practice_t.c.id)).mappings().first()
    if practice is None:
        raise NoPractice()
    conv = DocumentRows(practice["timezone"])
    return {
        "practice": conv.practice(practice),
        "staff": [conv.staff(r) for r in _rows_of(conn, staff_t)],
        "clients": [conv.clients(r) for r in _rows_of(conn, clients_t)],
        "series": [conv.series(r) for r in _rows_of(conn, series_t)],
        "appointments": [conv.appointments(r) for r in _rows_of(conn, appointments_t)],
    }


def json_row(value: Any) -> str:
    """One snapshot row as compact one-line JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def iter_json(practice: dict[str, Any], sections: Mapping[str, Iterable[dict[str, Any]]]) -> Iterator[str]:
    """A JSON snapshot in pieces, one row per line: diffable, fast to write and read,
    and streamable (``bench/generate.py`` writes millions of rows this way)."""
    yield "{\n"
    yield f'  "practice": {json_row(practice)}'
    for section in SECTIONS[1:]:
        yield f',\n  "{section}": ['
        sep = "\n    "
        for r in sections.get(section, ()):
            yield sep + json_row(r)
            sep = ",\n    "
        yield "]" if sep == "\n    " else "\n  ]"
    yield "\n}\n"


def _to_json(doc: dict[str, Any]) -> str:
    return "".join(iter_json(doc["practice"], {k: doc[k] for k in SECTIONS[1:]}))


def _to_yaml(doc: dict[str, Any]) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    # default_flow_style=None: each row whose values are scalars is one flow mapping.
    return yaml.dump(
        doc,
        Dumper=dumper,
        default_flow_style=None,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 30,
    )


def dump_snapshot(engine: Engine, fmt: str) -> str:
    """The database as a snapshot: ``fmt`` is ``"yaml"`` or ``"json"``.

    Deterministic: rows sorted by id (naturally, ``A-2`` before ``A-10``), fixed key
    order, times in the practice timezone with offset, null optional fields
    omitted; so dump -> load -> dump is byte-identical.
    """
    if fmt not in ("yaml", "json"):
        raise ValueError(f"unknown snapshot format {fmt!r}")
    require_schema(engine)
    with engine.connect() as conn:
        doc = snapshot_document(conn)
    return _to_json(doc) if fmt == "json" else _to_yaml(doc)
