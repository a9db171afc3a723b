"""Export reads of the openemr target: a professional's patients and sessions in the
shape :mod:`reconciler.exports` renders (FHIR R4 Bundle or CSV). Names are read here,
and only here (PHI goes to the 0600 export file, nowhere else)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from reconciler.errors import ExportError
from reconciler.model.records import ExportData

from . import series as ser
from .read import appt_status, practice_tz, read_practice, user_ids
from .tables import client_links, users
from .tables import patient_data as pd
from .tables import postcalendar_events as ev


def collect_staff(conn: Connection, staff_id: str) -> ExportData:
    """The professional's patients (primary, or with a session) and sessions."""
    uid = user_ids(conn)
    if staff_id not in uid:
        raise ExportError(f"staff {staff_id}: no such staff member; nothing was exported")
    tz = practice_tz(read_practice(conn))
    me = uid[staff_id]
    back = {v: k for k, v in uid.items()}
    appt_rows = conn.execute(
        select(
            ev.c.pc_eid,
            ev.c.pc_pid,
            ev.c.pc_aid,
            ev.c.pc_eventDate,
            ev.c.pc_startTime,
            ev.c.pc_duration,
            ev.c.pc_apptstatus,
            pd.c.pubpid,
        )
        .select_from(ev.join(pd, pd.c.pid == ev.c.pc_pid))
        .where(ev.c.pc_aid == str(me), ev.c.pc_recurrtype == 0, pd.c.pubpid != "")
        .order_by(ev.c.pc_eid)
    ).all()
    with_sessions = sorted({r.pubpid for r in appt_rows})
    crows = conn.execute(
        select(
            pd.c.pubpid,
            pd.c.fname,
            pd.c.lname,
            pd.c.care_team_status,
            pd.c.providerID,
            pd.c.allow_patient_portal,
            client_links.c.duplicate_of,
        )
        .select_from(pd.outerjoin(client_links, client_links.c.pubpid == pd.c.pubpid))
        .where(or_(pd.c.providerID == me, pd.c.pubpid.in_(with_sessions)), pd.c.pubpid != "")
        .order_by(pd.c.pubpid)
    ).all()
    clients = [
        SimpleNamespace(
            id=r.pubpid,
            first_name=r.fname,
            last_name=r.lname,
            status="inactive" if (r.care_team_status or "").lower() == "inactive" else "active",
            primary_id=back.get(int(r.providerID)) if r.providerID else None,
            balance_cents=0,
            portal_access=(r.allow_patient_portal or "").upper() == "YES",
            duplicate_of=r.duplicate_of,
        )
        for r in crows
    ]
    appts = []
    for r in appt_rows:
        day = ser.as_date(r.pc_eventDate)
        if day is None:
            continue
        start = ser.local_instant(day, ser.as_time(r.pc_startTime), tz)
        appts.append(
            SimpleNamespace(
                id=str(r.pc_eid),
                client_id=r.pubpid,
                staff_id=staff_id,
                start_at=start,
                end_at=start + dt.timedelta(seconds=int(r.pc_duration or 0)),
                status=appt_status(r.pc_apptstatus),
                series_id=None,
                telehealth=False,
                cancel_reason=None,
            )
        )
    appts.sort(key=lambda a: (a.client_id, a.start_at, a.id))
    referenced = sorted({staff_id} | {c.primary_id for c in clients if c.primary_id})
    srows = conn.execute(
        select(users.c.username, users.c.fname, users.c.lname, users.c.active)
        .where(users.c.username.in_(referenced))
        .order_by(users.c.username)
    ).all()
    practitioners = [
        SimpleNamespace(
            id=r.username,
            name=f"{r.fname or ''} {r.lname or ''}".strip() or r.username,
            active=bool(r.active),
            role=None,
        )
        for r in srows
    ]
    return ExportData(practitioners, clients, appts)
