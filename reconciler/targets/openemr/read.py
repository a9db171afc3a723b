"""Reading an OpenEMR database into the planner's values (the same
:mod:`reconciler.actual` values the native target returns, so the fingerprint of
equal values is equal).

Mapping (SPEC §6):

* staff: ``users`` rows with a non-empty ``username``; id = username, name =
  ``fname`` + " " + ``lname``, active = ``users.active``; role, access, billing role,
  max caseload, settings and the scheduled date from ``reconciler_staff`` (a staff
  member without a row there is a ``clinician`` with ``assigned_clients`` access);
* clients: ``patient_data``; id = ``pubpid``, primary = the username of
  ``providerID`` (0, NULL or a user without a username = unassigned), status =
  ``care_team_status`` (``inactive`` or else active), portal = ``allow_patient_portal
  = 'YES'``, balance as ``get_patient_balance($pid, true)`` in OpenEMR's
  ``library/patient.inc.php`` computes it, per encounter of ``form_encounter``:
  ``billing.fee`` with ``activity = 1`` plus ``drug_sales.fee`` less
  ``ar_activity.pay_amount + adj_amount`` not ``deleted`` — one set-based query;
  duplicate-of from ``reconciler_client_links``; names are never selected here;
* appointments: non-recurring ``openemr_postcalendar_events`` rows with a patient;
* series: the recurring rows (:mod:`.series`), active when an occurrence remains.

Every query has an ORDER BY; IN lists are chunked; zero dates read as None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, not_, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from reconciler.model.actual import (
    ActualState,
    Appointment,
    Client,
    Practice,
    Series,
    Staff,
)
from reconciler.model.records import ComplianceFacts
from reconciler.planner.scope import ReadScope
from reconciler.timeutil import UTC, zone

from . import recurrence as rec
from . import series as ser
from .tables import (
    ar_activity,
    billing,
    client_links,
    drug_sales,
    form_encounter,
    patient_data,
    staff_facts,
    users,
)
from .tables import (
    postcalendar_events as ev,
)
from .tables import (
    practice as practice_t,
)

CHUNK = 500
DEFAULT_ROLE = "clinician"
DEFAULT_ACCESS = "assigned_clients"
DEFAULT_TIMEZONE = "UTC"
#: pc_apptstatus values and what they mean (anything else is ``scheduled``).
STATUS_OF = {"x": "cancelled", "%": "cancelled", "?": "no_show", ">": "completed"}
NOT_SCHEDULED = tuple(sorted(STATUS_OF))
CANCELLED = "x"
#: What a revert restores a cancelled session to: OpenEMR's "-" (none), a booked session.
RESTORED = "-"


def appt_status(raw: str | None) -> str:
    return STATUS_OF.get((raw or "").strip(), "scheduled")


def _chunks(ids: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


def _aware(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None  # NULL, or a zero datetime (the driver's string)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def cents(value: Decimal | float | None) -> int:
    if value is None:
        return 0
    return int((Decimal(value) * 100).to_integral_value())


#: The calendar columns a series is read from (active series and rows read by id alike).
_SERIES_COLUMNS = (
    ev.c.pc_eid,
    ev.c.pc_aid,
    ev.c.pc_pid,
    ev.c.pc_eventDate,
    ev.c.pc_endDate,
    ev.c.pc_startTime,
    ev.c.pc_duration,
    ev.c.pc_recurrtype,
    ev.c.pc_recurrspec,
)


# ---------------------------------------------------------------- conditions shared with the writers
def scheduled_cond() -> ColumnElement[bool]:
    return not_(ev.c.pc_apptstatus.in_(NOT_SCHEDULED))


def client_active_cond() -> ColumnElement[bool]:
    return or_(patient_data.c.care_team_status.is_(None), patient_data.c.care_team_status != "inactive")


def named_users() -> Any:
    return select(users.c.id).where(users.c.username.is_not(None), users.c.username != "")


def unassigned_cond() -> ColumnElement[bool]:
    return or_(patient_data.c.providerID.is_(None), patient_data.c.providerID.not_in(named_users()))


# ---------------------------------------------------------------- base: practice and staff
def read_practice(conn: Connection) -> Practice | None:
    row = conn.execute(select(practice_t).order_by(practice_t.c.id).limit(1)).mappings().first()
    if row is None:
        return None
    return Practice(
        name=row["name"],
        timezone=row["timezone"],
        owner=row["owner_id"],
        clinical_director=row["clinical_director_id"],
        client_plan_limit=row["client_plan_limit"],
        seat_price_cents=row["seat_price_cents"],
        billing_cycle_day=row["billing_cycle_day"] or 1,
    )


def user_ids(conn: Connection) -> dict[str, int]:
    """username -> users.id for every user with a username."""
    q = (
        select(users.c.username, users.c.id)
        .where(users.c.username.is_not(None), users.c.username != "")
        .order_by(users.c.username, users.c.id)
    )
    out: dict[str, int] = {}
    for name, uid in conn.execute(q):
        out.setdefault(name, int(uid))
    return out


def read_base(conn: Connection) -> tuple[Practice | None, dict[str, Staff]]:
    """The practice settings and every staff member, by id."""
    q = (
        select(users.c.username, users.c.fname, users.c.lname, users.c.active, staff_facts)
        .select_from(users.outerjoin(staff_facts, staff_facts.c.username == users.c.username))
        .where(users.c.username.is_not(None), users.c.username != "")
        .order_by(users.c.username, users.c.id)
    )
    staff: dict[str, Staff] = {}
    for r in conn.execute(q).mappings():
        sid = r["username"]
        if sid in staff:
            continue
        name = " ".join(p for p in ((r["fname"] or "").strip(), (r["lname"] or "").strip()) if p)
        staff[sid] = Staff(
            id=sid,
            name=name or sid,
            role=r["role"] or DEFAULT_ROLE,
            access=r["access"] or DEFAULT_ACCESS,
            active=bool(r["active"]),
            billing_role=r["billing_role"],
            deactivate_on=ser.as_date(r["deactivate_on"]),
            deactivated_at=_aware(r["deactivated_at"]),
            settings=dict(r["settings"] or {}),
            max_caseload=r["max_caseload"],
        )
    return read_practice(conn), staff


# ---------------------------------------------------------------- clients
def _balance_col() -> ColumnElement[Any]:
    """``get_patient_balance($pid, true)``, summed over the patient's encounters.

    "An encounter of the patient" is an EXISTS probe of ``form_encounter``'s
    ``pid_encounter`` key per charge or payment row; ``encounter IN (SELECT ... WHERE
    pid = patient)`` means the same, but MariaDB re-materialises that subquery for every
    patient row (3.6 s for the 2,000 clients of 20 leavers at the bench's small size)."""
    pd = patient_data
    fe = form_encounter

    def of_patient(t: Any) -> ColumnElement[bool]:
        return exists().where(fe.c.pid == t.c.pid, fe.c.encounter == t.c.encounter)

    charges = (
        select(func.coalesce(func.sum(billing.c.fee), 0))
        .where(billing.c.pid == pd.c.pid, billing.c.activity == 1, of_patient(billing))
        .scalar_subquery()
    )
    sales = (
        select(func.coalesce(func.sum(drug_sales.c.fee), 0))
        .where(drug_sales.c.pid == pd.c.pid, of_patient(drug_sales))
        .scalar_subquery()
    )
    paid = (
        select(func.coalesce(func.sum(ar_activity.c.pay_amount + ar_activity.c.adj_amount), 0))
        .where(ar_activity.c.pid == pd.c.pid, ar_activity.c.deleted.is_(None), of_patient(ar_activity))
        .scalar_subquery()
    )
    return (charges + sales - paid).label("balance")


def _client_query(where: ColumnElement[bool]) -> Any:
    pd = patient_data
    owner = users.alias("owner")
    return (
        select(
            pd.c.pubpid,
            pd.c.care_team_status,
            pd.c.allow_patient_portal,
            owner.c.username.label("primary"),
            client_links.c.duplicate_of,
            _balance_col(),
        )
        .select_from(
            pd.outerjoin(
                owner, and_(owner.c.id == pd.c.providerID, owner.c.username.is_not(None), owner.c.username != "")
            ).outerjoin(client_links, client_links.c.pubpid == pd.c.pubpid)
        )
        .where(where, pd.c.pubpid != "")
        .order_by(pd.c.pubpid, pd.c.id)
    )


def _clients(conn: Connection, where: ColumnElement[bool], out: dict[str, Client]) -> None:
    for r in conn.execute(_client_query(where)):
        out[r.pubpid] = Client(
            id=r.pubpid,
            status="inactive" if (r.care_team_status or "").strip().lower() == "inactive" else "active",
            primary=r.primary,
            balance_cents=cents(r.balance),
            portal_access=(r.allow_patient_portal or "").upper() == "YES",
            duplicate_of=r.duplicate_of,
        )


# ---------------------------------------------------------------- appointments and series
def event_categories(conn: Connection) -> list[int]:
    """Every ``pc_catid`` in use (a loose scan of OpenEMR's ``basic_event`` key).

    OpenEMR has no index that starts with ``pc_aid``; its ``basic_event`` key is
    (pc_catid, pc_aid, pc_eventDate, pc_endDate, ...). Naming every category in use
    (a filter that keeps every row) lets the server range-scan that key for a
    professional's events instead of scanning the whole calendar.

    The categories are found one index dive at a time (the next ``pc_catid`` above the
    last one): a ``SELECT DISTINCT`` is a loose index scan only once InnoDB has
    statistics for the key, and read the whole key (165,000 entries, ~0.15 s at the
    bench's small size) on a freshly loaded or copied table.
    """
    out: list[int] = []
    step = select(ev.c.pc_catid).order_by(ev.c.pc_catid).limit(1)
    got = conn.execute(step).scalar()
    while got is not None:
        out.append(int(got))
        got = conn.execute(step.where(ev.c.pc_catid > got)).scalar()
    return out


def _event_filter(aids: Sequence[str] | None, pids: Any, cats: Sequence[int] | None) -> list[ColumnElement[bool]]:
    """The professionals' events (``aids``, with the :func:`event_categories` ``cats``
    read once by the caller) or the patients' (``pids``)."""
    if aids is not None:
        assert cats is not None, "the professionals' events need the categories in use"
        return [ev.c.pc_catid.in_(list(cats)), ev.c.pc_aid.in_(list(aids))]
    return [ev.c.pc_pid.in_(pids)]


def _pubpids(conn: Connection, pids: Iterable[Any]) -> dict[str, str]:
    """pc_pid (text) -> pubpid, through patient_data's unique ``pid`` key."""
    nums = sorted({int(p) for p in pids if p is not None and str(p).strip().isdigit()})
    out: dict[str, str] = {}
    for chunk in _chunks(nums):
        for pid, pubpid in conn.execute(
            select(patient_data.c.pid, patient_data.c.pubpid)
            .where(patient_data.c.pid.in_(chunk), patient_data.c.pubpid != "")
            .order_by(patient_data.c.pid)
        ):
            out[str(pid)] = pubpid
    return out


#: A slot's (start, end), or None for a zero date: memoised per (date, time, duration) text.
_Span = tuple[dt.datetime, dt.datetime] | None


def _appointments(
    conn: Connection,
    since: dt.datetime,
    tz: str,
    names: Mapping[str, str],
    out: dict[str, Appointment],
    *,
    aids: Sequence[str] | None = None,
    pids: Any = None,
    cats: Sequence[int] | None = None,
) -> None:
    """``scheduled`` non-recurring sessions starting at/after ``since`` of the
    professionals ``aids`` (users.id as text; ``cats``: the :func:`event_categories`)
    or the patients ``pids``."""
    if aids is not None and not aids:
        return
    since_day = since.astimezone(zone(tz)).date() - dt.timedelta(days=1)
    # The date and time as text: PyMySQL converts DATE and TIME values in Python, per row
    # (most of this read's time for the thousands of sessions of an offboarding), while
    # sessions share a few thousand slots, each parsed once below. The rows are unpacked
    # as tuples (a named attribute costs a lookup per column per row).
    rows = conn.execute(
        select(
            ev.c.pc_eid,
            ev.c.pc_aid,
            ev.c.pc_pid,
            cast(ev.c.pc_eventDate, String),
            cast(ev.c.pc_startTime, String),
            ev.c.pc_duration,
            ev.c.pc_apptstatus,
        )
        .where(
            *_event_filter(aids, pids, cats),
            ev.c.pc_recurrtype == 0,
            scheduled_cond(),
            ev.c.pc_eventDate >= since_day,
        )
        .order_by(ev.c.pc_eid)
    ).all()
    client_of = _pubpids(conn, (r[2] for r in rows))
    spans: dict[tuple[Any, Any, Any], _Span] = {}
    statuses: dict[Any, str] = {}
    for eid, aid, pid, day_text, time_text, duration, raw_status in rows:
        key = (day_text, time_text, duration)
        if key in spans:
            span = spans[key]
        else:
            day = ser.as_date(day_text)
            if day is None:
                span = None
            else:
                start = ser.local_instant(day, ser.as_time(time_text), tz)
                span = (start, start + dt.timedelta(seconds=int(duration or 0)))
            spans[key] = span
        client, staff = client_of.get(str(pid)), names.get(str(aid))
        if span is None or client is None or staff is None:
            continue  # no patient, or not a staff member's: not an appointment (SPEC §6)
        if span[0] < since:
            continue
        status = statuses.get(raw_status)
        if status is None:
            status = statuses[raw_status] = appt_status(raw_status)
        sid = str(eid)
        out[sid] = Appointment(id=sid, client=client, staff=staff, start=span[0], end=span[1], status=status)


def _series(
    conn: Connection,
    at: dt.datetime,
    tz: str,
    names: Mapping[str, str],
    out: dict[str, Series],
    *,
    aids: Sequence[str] | None = None,
    pids: Any = None,
    cats: Sequence[int] | None = None,
) -> None:
    """Recurring rows with a session at or after ``at`` (active series)."""
    if aids is not None and not aids:
        return
    day0 = at.astimezone(zone(tz)).date()
    rows = (
        conn.execute(
            select(*_SERIES_COLUMNS)
            .where(
                *_event_filter(aids, pids, cats),
                ev.c.pc_recurrtype > 0,
                ev.c.pc_apptstatus.not_in(("x", "%")),
                ev.c.pc_endDate >= day0,
            )
            .order_by(ev.c.pc_eid)
        )
        .mappings()
        .all()
    )
    client_of = _pubpids(conn, (r["pc_pid"] for r in rows))
    for r in rows:
        client, staff = client_of.get(str(r["pc_pid"])), names.get(str(r["pc_aid"]))
        if client is None or staff is None:
            continue
        try:
            er = ser.event_row(r)
        except rec.RecurrenceError:
            continue  # a row OpenEMR's calendar cannot show either
        if not ser.is_active(er, at, tz):
            continue
        sid = str(r["pc_eid"])
        out[sid] = Series(
            id=sid,
            client=client,
            staff=staff,
            rrule=ser.rrule_of(er),
            start=ser.local_instant(er.event_date, er.start_time, tz),
            duration_minutes=int(r["pc_duration"] or 0) // 60,
            until=ser.until_of(er, tz),
            active=True,
        )


# ---------------------------------------------------------------- the scoped read
def _uids(ids: Iterable[str], uid: Mapping[str, int]) -> list[str]:
    return sorted({str(uid[s]) for s in ids if s in uid})


def _caseloads(conn: Connection, staff_ids: Sequence[str], uid: Mapping[str, int]) -> dict[str, int]:
    out = {sid: 0 for sid in staff_ids}
    back = {v: k for k, v in uid.items()}
    ids = sorted(uid[s] for s in staff_ids if s in uid)
    for chunk in _chunks(ids):
        q = (
            select(patient_data.c.providerID, func.count())
            .where(patient_data.c.providerID.in_(chunk), client_active_cond(), patient_data.c.pubpid != "")
            .group_by(patient_data.c.providerID)
            .order_by(patient_data.c.providerID)
        )
        for pid, n in conn.execute(q):
            out[back[int(pid)]] = int(n)
    return out


def practice_tz(practice: Practice | None) -> str:
    return practice.timezone if practice is not None and practice.timezone else DEFAULT_TIMEZONE


def read_sets(conn: Connection, scope: ReadScope, practice: Practice | None, staff: dict[str, Staff]) -> ActualState:
    """Phase two: the rows ``scope`` names (as the native target's ``read_sets``)."""
    tz = practice_tz(practice)
    uid = user_ids(conn)
    pd = patient_data
    clients: dict[str, Client] = {}
    now_uids = [int(u) for u in _uids(scope.now_staff, uid)]
    for chunk in _chunks(now_uids):
        _clients(conn, and_(pd.c.providerID.in_(chunk), client_active_cond()), clients)
    for chunk in _chunks(list(scope.client_ids)):
        _clients(conn, pd.c.pubpid.in_(chunk), clients)
    _clients(conn, and_(unassigned_cond(), client_active_cond()), clients)
    names = {str(v): k for k, v in uid.items()}  # pc_aid (users.id as text) -> staff id
    cats = event_categories(conn)
    appointments: dict[str, Appointment] = {}
    for chunk in _chunks(_uids(scope.now_staff, uid)):
        _appointments(conn, scope.at, tz, names, appointments, aids=chunk, cats=cats)
    by_instant: dict[dt.datetime, list[str]] = {}
    for sid, instant in scope.scheduled_staff:
        by_instant.setdefault(instant, []).append(sid)
    for instant in sorted(by_instant):
        for chunk in _chunks(_uids(by_instant[instant], uid)):
            _appointments(conn, instant, tz, names, appointments, aids=chunk, cats=cats)
    closing_pids = select(cast(pd.c.pid, String)).where(pd.c.pubpid.in_(list(scope.closing_clients)))
    if scope.closing_clients:
        _appointments(conn, scope.at, tz, names, appointments, pids=closing_pids)
    series: dict[str, Series] = {}
    for chunk in _chunks(_uids(set(scope.now_staff) | {s for s, _ in scope.scheduled_staff}, uid)):
        _series(conn, scope.at, tz, names, series, aids=chunk, cats=cats)
    if scope.closing_clients:
        _series(conn, scope.at, tz, names, series, pids=closing_pids)
    active_total = conn.execute(
        select(func.count()).select_from(pd).where(client_active_cond(), pd.c.pubpid != "")
    ).scalar_one()
    return ActualState(
        practice=practice,
        staff=staff,
        clients={k: clients[k] for k in sorted(clients)},
        appointments={k: appointments[k] for k in sorted(appointments)},
        series={k: series[k] for k in sorted(series)},
        caseloads=_caseloads(conn, scope.caseload_staff, uid),
        active_client_total=int(active_total),
        active_staff_total=sum(1 for s in staff.values() if s.active),
    )


def read_scoped(conn: Connection, scope: ReadScope) -> ActualState:
    practice, staff = read_base(conn)
    return read_sets(conn, scope, practice, staff)


def read_compliance(conn: Connection, at: dt.datetime) -> ComplianceFacts:
    """What inactive professionals (``users.active = 0``) still hold at ``at`` (SPEC §7.3):
    scheduled sessions from ``at`` on, series with a session from ``at`` on, and active
    patients whose ``providerID`` they are; ids only, sorted."""
    practice, staff = read_base(conn)
    tz = practice_tz(practice)
    uid = user_ids(conn)
    inactive = sorted(s for s, row in staff.items() if not row.active and s in uid)
    names = {str(uid[s]): s for s in inactive}
    aids = sorted(names)
    appts: dict[str, Appointment] = {}
    series: dict[str, Series] = {}
    cats = event_categories(conn)
    _appointments(conn, at, tz, names, appts, aids=aids, cats=cats)
    _series(conn, at, tz, names, series, aids=aids, cats=cats)
    clients: dict[str, Client] = {}
    if aids:
        _clients(conn, and_(patient_data.c.providerID.in_([int(a) for a in aids]), client_active_cond()), clients)
    return ComplianceFacts(
        sorted((a.staff, a.id) for a in appts.values()),
        sorted((x.staff, x.id) for x in series.values()),
        sorted((c.primary, c.id) for c in clients.values() if c.primary),
    )


# ---------------------------------------------------------------- rows by id (revert)
def read_by_id(
    conn: Connection,
    appointment_ids: Sequence[str],
    series_ids: Sequence[str],
    client_ids: Sequence[str],
    *,
    at: dt.datetime,
) -> tuple[dict[str, Appointment], dict[str, Series], dict[str, Client]]:
    """Rows by id whatever their state (``revert`` compares them with an applied plan's
    after values): patients by ``pubpid``; calendar rows by ``pc_eid`` — a non-recurring
    row as an appointment (any status; OpenEMR keeps no cancellation reason), a recurring
    one as a series, active when it has a session at or after ``at``."""
    practice = read_practice(conn)
    tz = practice_tz(practice)
    uid = user_ids(conn)
    names = {str(v): k for k, v in uid.items()}
    clients: dict[str, Client] = {}
    for chunk in _chunks(sorted(client_ids)):
        _clients(conn, patient_data.c.pubpid.in_(chunk), clients)
    eids = sorted({int(i) for i in (*appointment_ids, *series_ids) if str(i).isdigit()})
    rows: list[Any] = []
    for chunk in _chunks(eids):
        rows.extend(
            conn.execute(
                select(*_SERIES_COLUMNS, ev.c.pc_apptstatus).where(ev.c.pc_eid.in_(chunk)).order_by(ev.c.pc_eid)
            )
            .mappings()
            .all()
        )
    client_of = _pubpids(conn, (r["pc_pid"] for r in rows))
    wanted_appts, wanted_series = set(appointment_ids), set(series_ids)
    appts: dict[str, Appointment] = {}
    series: dict[str, Series] = {}
    for r in rows:
        eid = str(r["pc_eid"])
        client, staff = client_of.get(str(r["pc_pid"])), names.get(str(r["pc_aid"]))
        if client is None or staff is None:
            continue
        if int(r["pc_recurrtype"] or 0) == 0 and eid in wanted_appts:
            day = ser.as_date(r["pc_eventDate"])
            if day is None:
                continue
            start = ser.local_instant(day, ser.as_time(r["pc_startTime"]), tz)
            appts[eid] = Appointment(
                id=eid,
                client=client,
                staff=staff,
                start=start,
                end=start + dt.timedelta(seconds=int(r["pc_duration"] or 0)),
                status=appt_status(r["pc_apptstatus"]),
            )
        elif int(r["pc_recurrtype"] or 0) > 0 and eid in wanted_series:
            try:
                er = ser.event_row(r)
            except rec.RecurrenceError:
                continue
            series[eid] = Series(
                id=eid,
                client=client,
                staff=staff,
                rrule=ser.rrule_of(er),
                start=ser.local_instant(er.event_date, er.start_time, tz),
                duration_minutes=int(r["pc_duration"] or 0) // 60,
                until=ser.until_of(er, tz),
                active=(r["pc_apptstatus"] or "") not in ("x", "%") and ser.is_active(er, at, tz),
            )
    return appts, series, clients


def as_planned_until(s: Series, planned: dt.datetime | None, tz: str) -> dt.datetime | None:
    """The ``until`` this target reads back after a writer set ``planned`` on ``s``:
    OpenEMR keeps an end *day* (the last day whose session starts before the cutoff, never
    before the first day), so the instant the plan named comes back as the start of the
    day after it."""
    if planned is None:
        return None
    zone_ = zone(tz)
    first_day = s.start.astimezone(zone_).date()
    wall = s.start.astimezone(zone_).time().replace(tzinfo=None)
    end = max(rec.end_date_for_until(planned, wall, zone_), first_day)
    return rec.until_for_end_date(end, zone_)
