"""``reconciler show staff ID`` / ``show client ID`` (SPEC §8.4): what a professional
holds, or a client's state, by id only (never a client's name).

Both read through the target's scoped reads (the same sets a plan reads), so they work
on every target: for a professional, the active clients whose primary they are, their
scheduled sessions from now on and their active series; for a client, its row, its
scheduled sessions from now on and its active series. Times are shown in the practice
timezone. With ``-c DIR`` the config's view is added (declared successor, scheduled
date, max caseload, the client's entry).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from reconciler.errors import NoPractice, ReconcilerError
from reconciler.model.actual import Appointment, Series
from reconciler.planner.scope import ReadScope
from reconciler.timeutil import iso_z, resolve_at, zone

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.desired import DesiredState
    from reconciler.targets.base import Target


def _local(value: dt.datetime, tz: str) -> str:
    return value.astimezone(zone(tz)).isoformat()


def _session(a: Appointment, tz: str) -> dict[str, Any]:
    return {
        "id": a.id,
        "client": a.client,
        "staff": a.staff,
        "start": _local(a.start, tz),
        "end": _local(a.end, tz),
        "series": a.series,
        "telehealth": a.telehealth,
    }


def _series(s: Series, tz: str) -> dict[str, Any]:
    return {
        "id": s.id,
        "client": s.client,
        "staff": s.staff,
        "rrule": s.rrule,
        "first_start": _local(s.start, tz),
        "until": _local(s.until, tz) if s.until is not None else None,
        "duration_minutes": s.duration_minutes,
    }


def show_staff(
    target: "Target", staff_id: str, *, desired: "DesiredState | None", at_text: str | None, now: dt.datetime
) -> dict[str, Any]:
    """A JSON-ready description of what ``staff_id`` holds as of ``--at`` or now."""
    target.require_schema()
    with target.reading(consistent=True) as rs:
        practice, staff = rs.read_base()
        if practice is None:
            raise NoPractice()
        row = staff.get(staff_id)
        if row is None:
            raise ReconcilerError(f"staff {staff_id} is not in the database")
        at = resolve_at(at_text, practice.timezone, now)
        state = rs.read_sets(ReadScope(at=at, now_staff=(staff_id,), caseload_staff=(staff_id,)), practice, dict(staff))
    tz = practice.timezone
    clients = sorted(cid for cid, c in state.clients.items() if c.primary == staff_id and c.status == "active")
    sessions = sorted(
        (a for a in state.appointments.values() if a.staff == staff_id and a.status == "scheduled" and a.start >= at),
        key=lambda a: (a.start, a.id),
    )
    series = sorted((s for s in state.series.values() if s.staff == staff_id and s.active), key=lambda s: s.id)
    spec = desired.staff_by_id().get(staff_id) if desired is not None else None
    roles = [
        r
        for r, sid in (("owner", practice.owner), ("clinical_director", practice.clinical_director))
        if sid == staff_id
    ]
    doc: dict[str, Any] = {
        "as_of": iso_z(at),
        "timezone": tz,
        "staff": {
            "id": row.id,
            "role": row.role,
            "access": row.access,
            "active": row.active,
            "practice_roles": roles,
            "deactivate_on": row.deactivate_on.isoformat() if row.deactivate_on else None,
            "deactivated_at": iso_z(row.deactivated_at) if row.deactivated_at else None,
            "caseload": state.caseloads.get(staff_id, len(clients)),
            "max_caseload": row.max_caseload,
        },
        "clients": clients,
        "sessions": [_session(a, tz) for a in sessions],
        "series": [_series(s, tz) for s in series],
    }
    if desired is not None:
        doc["config"] = {
            "declared": spec is not None,
            "active": spec.active if spec is not None else None,
            "deactivate_on": spec.deactivate_on.isoformat() if spec is not None and spec.deactivate_on else None,
            "successor": spec.successor if spec is not None else None,
            "offboarding": (spec.offboarding or desired.practice.default_policy) if spec is not None else None,
            "max_caseload": spec.max_caseload if spec is not None else None,
        }
    return doc


def show_client(
    target: "Target", client_id: str, *, desired: "DesiredState | None", at_text: str | None, now: dt.datetime
) -> dict[str, Any]:
    """A JSON-ready description of ``client_id`` (ids and flags only) as of ``--at`` or now."""
    target.require_schema()
    with target.reading(consistent=True) as rs:
        practice, staff = rs.read_base()
        if practice is None:
            raise NoPractice()
        at = resolve_at(at_text, practice.timezone, now)
        state = rs.read_sets(
            ReadScope(at=at, client_ids=(client_id,), closing_clients=(client_id,)), practice, dict(staff)
        )
    c = state.clients.get(client_id)
    if c is None:
        raise ReconcilerError(f"client {client_id} is not in the database")
    tz = practice.timezone
    sessions = sorted(
        (a for a in state.appointments.values() if a.client == client_id and a.status == "scheduled" and a.start >= at),
        key=lambda a: (a.start, a.id),
    )
    series = sorted((s for s in state.series.values() if s.client == client_id and s.active), key=lambda s: s.id)
    primary = staff.get(c.primary) if c.primary else None
    doc: dict[str, Any] = {
        "as_of": iso_z(at),
        "timezone": tz,
        "client": {
            "id": c.id,
            "status": c.status,
            "primary": c.primary,
            "primary_active": primary.active if primary is not None else None,
            "balance_cents": c.balance_cents,
            "portal_access": c.portal_access,
            "duplicate_of": c.duplicate_of,
            "deleted_at": iso_z(c.deleted_at) if c.deleted_at else None,
        },
        "sessions": [_session(a, tz) for a in sessions],
        "series": [_series(s, tz) for s in series],
    }
    if desired is not None:
        from reconciler.model.desired import written

        entry = desired.clients_by_id().get(client_id)
        doc["config"] = (
            {k: (v.value if hasattr(v, "value") else v) for k, v in written(entry).items()}
            if entry is not None
            else None
        )
    return doc


def _v(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _when(iso: str, tz: str) -> str:
    t = dt.datetime.fromisoformat(iso).astimezone(zone(tz))
    return t.strftime("%a %Y-%m-%d %H:%M %Z")


def _booking_lines(doc: dict[str, Any], *, by: str) -> list[str]:
    tz = doc["timezone"]
    lines = [f"Future sessions ({len(doc['sessions'])}):"]
    for a in doc["sessions"]:
        tele = " (telehealth)" if a["telehealth"] else ""
        series = f"  series {a['series']}" if a["series"] else ""
        lines.append(f"  {a['id']:<10} {_when(a['start'], tz)}  {by} {a[by]}{tele}{series}")
    if not doc["sessions"]:
        lines.append("  (none)")
    lines.append(f"Active series ({len(doc['series'])}):")
    for s in doc["series"]:
        until = f" until {_when(s['until'], tz)}" if s["until"] else ""
        lines.append(f"  {s['id']:<10} {s['rrule']}  first {_when(s['first_start'], tz)}{until}  {by} {s[by]}")
    if not doc["series"]:
        lines.append("  (none)")
    return lines


def format_show(doc: dict[str, Any], fmt: str) -> str:
    """``json`` (the document) or ``text``."""
    if fmt == "json":
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    lines: list[str] = []
    if "staff" in doc:
        s = doc["staff"]
        roles = f" ({', '.join(s['practice_roles'])} of the practice)" if s["practice_roles"] else ""
        limit = s["max_caseload"]
        lines.append(f"Staff {s['id']}: {s['role']}, {s['access']}, {'active' if s['active'] else 'inactive'}{roles}")
        lines.append(f"  as of {doc['as_of']} (times in {doc['timezone']})")
        lines.append(f"  caseload: {s['caseload']}" + (f" of {limit}" if limit is not None else " (no limit)"))
        lines.append(f"  scheduled deactivation: {_v(s['deactivate_on'])}")
        if s["deactivated_at"]:
            lines.append(f"  deactivated at: {s['deactivated_at']}")
        cfg = doc.get("config")
        if cfg is not None:
            if not cfg["declared"]:
                lines.append("  config: not declared (unmanaged)")
            else:
                lines.append(
                    f"  config: {'active' if cfg['active'] else 'inactive'}, deactivate_on {_v(cfg['deactivate_on'])}, "
                    f"successor {_v(cfg['successor'])}, policy {_v(cfg['offboarding'])}"
                )
        lines.append(f"Active clients ({len(doc['clients'])}): " + (", ".join(doc["clients"]) or "(none)"))
        lines.extend(_booking_lines(doc, by="client"))
    else:
        c = doc["client"]
        lines.append(f"Client {c['id']}: {c['status']}, primary {_v(c['primary'])}")
        lines.append(f"  as of {doc['as_of']} (times in {doc['timezone']})")
        if c["primary"] is not None and c["primary_active"] is False:
            lines.append(f"  primary {c['primary']} is inactive")
        lines.append(f"  balance: {c['balance_cents'] / 100:.2f}, portal access: {_v(c['portal_access'])}")
        if c["duplicate_of"]:
            lines.append(f"  duplicate of: {c['duplicate_of']}")
        if c["deleted_at"]:
            lines.append(f"  deleted at: {c['deleted_at']}")
        if "config" in doc:
            cfg = doc["config"]
            lines.append(
                "  config entry: "
                + (
                    ", ".join(f"{k}: {v}" for k, v in sorted(cfg.items()) if k != "id") or "(id only)"
                    if cfg
                    else "none"
                )
            )
        lines.extend(_booking_lines(doc, by="staff"))
    return "\n".join(lines) + "\n"
