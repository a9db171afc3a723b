"""Seed an *empty* OpenEMR database with a practice snapshot (SPEC §1's format), the way
OpenEMR's own screens would have created the rows: for ``reconciler demo --target
openemr``, the conformance suite and the benchmarks. It is not ``db load`` (that
command stays ``native`` only, SPEC §6): it refuses a database that already holds
OpenEMR users with a login, patients or calendar events, so it can never mix sample
rows into a real practice.

The mapping is SPEC §6 read backwards:

* staff -> ``users`` (username = id, ``fname`` / ``lname`` split at the first space,
  ``active`` 1/0) plus the config-only facts in ``reconciler_staff``;
* clients -> ``patient_data`` (``pubpid`` = id, ``providerID``, ``care_team_status``,
  ``allow_patient_portal``); a balance becomes one encounter with one fee-sheet charge,
  so OpenEMR's own balance gives it back; ``duplicate_of`` -> ``reconciler_client_links``.
  ``status: deleted`` has no OpenEMR form and is refused, naming the client;
* series -> a recurring ``openemr_postcalendar_events`` row (:func:`.recurrence.from_rrule`);
  an inactive series is not written (OpenEMR has no stopped series, only ended ones);
* appointments -> single rows; occurrences of a series (``series`` set) are not rows in
  OpenEMR, whose calendar computes them from the recurring row, so they are not written.

Numeric appointment and series ids become ``pc_eid`` as they are, so a world seeded
into OpenEMR and into ``native`` names its sessions alike (the conformance suite
compares the two plans byte for byte). Every NOT NULL column is filled with what
OpenEMR writes (values as in ``tests/openemr/fixture.py``, which names OpenEMR's code
paths), so the rows are valid under a strict ``sql_mode`` too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phpserialize
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reconciler.errors import DatabaseError, SnapshotError

from . import recurrence as rec
from .tables import client_links, practice, staff_facts

CHUNK = 2000
FACILITY_ID = 3  # OpenEMR's default facility ("Your Clinic Name Here")
FACILITY_NAME = "Your Clinic Name Here"
OFFICE_VISIT = 5  # pc_catid of "Office Visit"
STATUS = {"scheduled": "-", "cancelled": "x", "completed": ">", "no_show": "?"}
_LOCATION = phpserialize.dumps(
    {
        "event_location": "",
        "event_street1": "",
        "event_street2": "",
        "event_city": "",
        "event_state": "",
        "event_postal": "",
    }
).decode("utf-8")
#: A fixed creation time: seeded rows are the same on every run.
CREATED = dt.datetime(2026, 1, 1, 9, 0)


def _chunks(rows: Sequence[dict[str, Any]], size: int = CHUNK) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _insert_many(conn: Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """A multi-row INSERT of ``rows`` (same keys) into OpenEMR table ``table``, in chunks."""
    if not rows:
        return
    t = sa.table(table, *[sa.column(c) for c in rows[0]])
    for chunk in _chunks(rows):
        conn.execute(sa.insert(t), list(chunk))


def user_row(username: str, name: str, active: bool) -> dict[str, Any]:
    """A ``users`` row as ``usergroup_admin_add.php`` writes it (password in users_secure)."""
    fname, _, lname = name.partition(" ")
    return {
        "uuid": uuid.uuid5(uuid.NAMESPACE_URL, f"openemr-user:{username}").bytes,
        "username": username,
        "password": "NoLongerUsed",
        "authorized": 1,
        "info": "",
        "fname": fname,
        "mname": "",
        "lname": lname,
        "suffix": "",
        "federaltaxid": "",
        "federaldrugid": "",
        "upin": "",
        "npi": "",
        "facility": FACILITY_NAME,
        "facility_id": FACILITY_ID,
        "see_auth": 1,
        "active": int(active),
        "title": "",
        "specialty": "",
        "billname": "",
        "email": "",
        "email_direct": "",
        "url": "",
        "assistant": "",
        "organization": "",
        "valedictory": "",
        "notes": "",
        "cal_ui": 3,
        "taxonomy": "207Q00000X",
        "calendar": 1,
        "abook_type": "",
        "default_warehouse": "",
        "irnpool": "",
        "state_license_number": "",
        "physician_type": "",
        "main_menu_role": "standard",
        "patient_menu_role": "standard",
        "portal_user": 0,
        "supervisor_id": 0,
        "billing_facility": FACILITY_NAME,
        "billing_facility_id": FACILITY_ID,
    }


def patient_row(
    pid: int, pubpid: str, fname: str, lname: str, provider: int, status: str, portal: bool
) -> dict[str, Any]:
    """A ``patient_data`` row as ``newPatientData`` writes it."""
    row: dict[str, Any] = dict.fromkeys(
        (
            "title financial mname street postal_code city state country_code drivers_license ss occupation "
            "phone_home phone_biz phone_contact phone_cell status contact_relationship referrer referrerID email "
            "email_direct ethnoracial race ethnicity religion interpretter migrantseasonal family_size "
            "monthly_income billing_note homeless hipaa_mail hipaa_voice hipaa_notice hipaa_message"
        ).split(),
        "",
    )
    row.update(
        uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"openemr-patient:{pubpid}").bytes,
        language="english",
        fname=fname,
        lname=lname,
        DOB=dt.date(1985, 4, 12),
        pharmacy_id=0,
        date=CREATED,
        sex="Female",
        providerID=provider,
        ref_providerID=0,
        financial_review=None,
        pubpid=pubpid,
        pid=pid,
        hipaa_allowsms="NO",
        hipaa_allowemail="NO",
        regdate=CREATED,
        allow_patient_portal="YES" if portal else "NO",
        care_team_provider=str(provider) if provider else "",
        care_team_facility=str(FACILITY_ID),
        care_team_status=status,
        created_by=None,
        updated_by=None,
    )
    return row


def event_row(
    *,
    eid: int | None,
    pid: int,
    aid: int,
    day: dt.date,
    start: dt.time,
    duration_s: int,
    recurrtype: int = 0,
    spec: rec.RecurrSpec | None = None,
    end_date: dt.date | str = "0000-00-00",
    status: str = "-",
) -> dict[str, Any]:
    """An ``openemr_postcalendar_events`` row as ``InsertEvent`` writes it: a single
    appointment (recurrence type 0, the "no recurrence" spec, the zero end date) or a
    recurring one."""
    end = (dt.datetime.combine(day, start) + dt.timedelta(seconds=duration_s)).time()
    row: dict[str, Any] = {} if eid is None else {"pc_eid": eid}
    row.update(
        pc_catid=OFFICE_VISIT,
        pc_multiple=0,
        pc_aid=str(aid),
        pc_pid=str(pid),
        pc_gid=0,
        pc_title="Office Visit",
        pc_time=CREATED,
        pc_hometext="",
        pc_informant="1",
        pc_eventDate=day,
        pc_endDate=end_date,
        pc_duration=duration_s,
        pc_recurrtype=recurrtype,
        pc_recurrspec=rec.dump_recurrspec(spec or rec.RecurrSpec()),
        pc_recurrfreq=0,
        pc_startTime=start,
        pc_endTime=end,
        pc_alldayevent=0,
        pc_location=_LOCATION,
        pc_apptstatus=status,
        pc_prefcatid=0,
        pc_eventstatus=1,
        pc_sharing=1,
        pc_facility=FACILITY_ID,
        pc_billing_location=FACILITY_ID,
        pc_room="",
        uuid=(uuid.uuid4() if eid is None else uuid.uuid5(uuid.NAMESPACE_URL, f"openemr-event:{eid}")).bytes,
    )
    return row


def _numeric(ident: str) -> int | None:
    return int(ident) if ident.isdigit() and len(ident) < 10 and int(ident) > 0 else None


def _require_empty(conn: Connection) -> None:
    checks = (
        ("users", "username <> ''", "users with a login"),
        ("patient_data", "1=1", "patients"),
        ("openemr_postcalendar_events", "1=1", "calendar events"),
        ("reconciler_audit_events", "1=1", "reconciler audit events"),
    )
    for table, where, what in checks:
        if conn.execute(sa.text(f"SELECT 1 FROM `{table}` WHERE {where} LIMIT 1")).first() is not None:
            raise DatabaseError(
                f"the OpenEMR database already holds {what}: sample data is only ever seeded into an empty "
                "OpenEMR database (one with OpenEMR's tables and no practice in them); nothing was changed"
            )


def seed_snapshot(engine: Engine, path: Path) -> dict[str, int]:
    """Write the snapshot file ``path`` into the empty OpenEMR database behind ``engine``
    (``reconciler --target openemr db init`` done), in one transaction; returns the rows
    written per section. Raises :class:`SnapshotError` for a snapshot OpenEMR cannot hold
    and :class:`DatabaseError` for a database that is not empty."""
    from reconciler.targets.native.bulkload import COLUMNS
    from reconciler.targets.native.snapshot import read_rows

    from .migrate import require_schema

    require_schema(engine)
    rows = read_rows(path)
    clients = [dict(zip(COLUMNS["clients"], r)) for r in rows.bulk["clients"]]
    series = [dict(zip(COLUMNS["series"], r)) for r in rows.bulk["series"]]
    appts = [dict(zip(COLUMNS["appointments"], r)) for r in rows.bulk["appointments"]]
    for c in clients:
        if c["status"] == "deleted":
            raise SnapshotError(
                f"{path}: client {c['id']}: status deleted cannot be stored in OpenEMR (the openemr target has "
                "no soft delete); nothing was loaded"
            )
    p = rows.practice
    tz = ZoneInfo(p["timezone"])
    counts = {"practice": 1, "staff": 0, "clients": 0, "series": 0, "appointments": 0}
    with engine.begin() as conn:
        _require_empty(conn)
        conn.execute(
            practice.update()
            .where(practice.c.id == 1)
            .values(
                name=p["name"],
                timezone=p["timezone"],
                owner_id=p["owner_id"],
                clinical_director_id=p["clinical_director_id"],
                client_plan_limit=p["client_plan_limit"],
                seat_price_cents=p["seat_price_cents"],
                billing_cycle_day=p["billing_cycle_day"],
            )
        )
        _insert_many(conn, "users", [user_row(s["id"], s["name"], bool(s["active"])) for s in rows.staff])
        uid = {
            str(u): int(i)
            for u, i in conn.execute(sa.text("SELECT username, id FROM users WHERE username <> ''")).all()
        }
        if rows.staff:
            conn.execute(
                sa.insert(staff_facts),
                [
                    {
                        "username": s["id"],
                        "role": s["role"],
                        "access": s["access"],
                        "billing_role": s["billing_role"],
                        "max_caseload": s["max_caseload"],
                        "settings": s["settings"],
                        "deactivate_on": s["deactivate_on"],
                        "deactivated_at": s["deactivated_at"],
                    }
                    for s in rows.staff
                ],
            )
        counts["staff"] = len(rows.staff)
        _seed_clients(conn, clients, uid)
        counts["clients"] = len(clients)
        pid = {c["id"]: i + 1 for i, c in enumerate(clients)}
        counts["series"] = _seed_series(conn, path, series, uid, pid, tz)
        singles = []
        for a in appts:
            if a["series_id"] is not None:
                continue  # an occurrence: OpenEMR computes it from the recurring row
            start = a["start_at"].replace(tzinfo=dt.UTC)
            day, wall = rec.utc_to_local(start, tz)
            singles.append(
                event_row(
                    eid=_numeric(a["id"]),
                    pid=pid[a["client_id"]],
                    aid=uid[a["staff_id"]],
                    day=day,
                    start=wall,
                    duration_s=int((a["end_at"] - a["start_at"]).total_seconds()),
                    status=STATUS[a["status"]],
                )
            )
        _insert_many(conn, "openemr_postcalendar_events", singles)
        counts["appointments"] = len(singles)
    return counts


def _seed_clients(conn: Connection, clients: list[dict[str, Any]], uid: dict[str, int]) -> None:
    patients, encounters, charges, links = [], [], [], []
    for i, c in enumerate(clients):
        pid = i + 1
        provider = uid[c["primary_id"]] if c["primary_id"] else 0
        status = "inactive" if c["status"] == "inactive" or c["duplicate_of"] else "active"
        patients.append(
            patient_row(pid, c["id"], c["first_name"], c["last_name"], provider, status, bool(c["portal_access"]))
        )
        if c["duplicate_of"]:
            links.append({"pubpid": c["id"], "duplicate_of": c["duplicate_of"]})
        if c["balance_cents"]:
            # One visit with one charge: OpenEMR's balance (charges less payments) gives it back.
            encounters.append(
                {
                    "uuid": uuid.uuid5(uuid.NAMESPACE_URL, f"openemr-encounter:{pid}").bytes,
                    "date": CREATED,
                    "reason": "",
                    "facility": FACILITY_NAME,
                    "facility_id": FACILITY_ID,
                    "pid": pid,
                    "encounter": pid,
                    "onset_date": CREATED,
                    "sensitivity": "normal",
                    "billing_note": "",
                    "pc_catid": OFFICE_VISIT,
                    "provider_id": provider,
                    "supervisor_id": 0,
                    "billing_facility": FACILITY_ID,
                    "pos_code": 11,
                    "class_code": "AMB",
                    "referring_provider_id": 0,
                }
            )
            charges.append(
                {
                    "date": CREATED,
                    "code_type": "CPT4",
                    "code": "90837",
                    "pid": pid,
                    "provider_id": provider,
                    "user": 1,
                    "groupname": "Default",
                    "authorized": 1,
                    "encounter": pid,
                    "code_text": "Psychotherapy, 60 minutes",
                    "billed": 0,
                    "activity": 1,
                    "bill_process": 0,
                    "modifier": "",
                    "units": 1,
                    "fee": f"{c['balance_cents'] // 100}.{c['balance_cents'] % 100:02d}",
                    "justify": "",
                    "ndc_info": "",
                    "notecodes": "",
                    "pricelevel": "standard",
                    "revenue_code": "",
                    "chargecat": "",
                }
            )
    _insert_many(conn, "patient_data", patients)
    _insert_many(conn, "form_encounter", encounters)
    _insert_many(conn, "billing", charges)
    if links:
        conn.execute(sa.insert(client_links), links)


def _seed_series(
    conn: Connection,
    path: Path,
    series: list[dict[str, Any]],
    uid: dict[str, int],
    pid: dict[str, int],
    tz: ZoneInfo,
) -> int:
    out = []
    for s in series:
        if not s["active"]:
            continue  # OpenEMR has no stopped series: an inactive one is history only
        start = s["start_at"].replace(tzinfo=dt.UTC)
        day, wall = rec.utc_to_local(start, tz)
        try:
            parts = rec.from_rrule(s["rrule"], day)
        except rec.RecurrenceError as exc:
            raise SnapshotError(f"{path}: series {s['id']}: {exc}; nothing was loaded") from None
        end = parts.end_date
        if s["until"] is not None:
            end = rec.end_date_for_until(s["until"].replace(tzinfo=dt.UTC), wall, tz)
        out.append(
            event_row(
                eid=_numeric(s["id"]),
                pid=pid[s["client_id"]],
                aid=uid[s["staff_id"]],
                day=day,
                start=wall,
                duration_s=int(s["duration_minutes"]) * 60,
                recurrtype=parts.recurrtype,
                spec=parts.spec,
                # OpenEMR shows no recurring row with the zero end date, so an open-ended
                # series gets an end date ten years out.
                end_date=end or dt.date(day.year + 10, day.month, min(day.day, 28)),
            )
        )
    _insert_many(conn, "openemr_postcalendar_events", out)
    return len(out)
