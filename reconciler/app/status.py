"""``reconciler status``: what an administrator checks on a Monday morning.

Active staff and seats, scheduled deactivations (with days left), unassigned active
clients, inactive clients, deleted clients awaiting purge (due 30 days after
deletion), and the last apply. Ids only: no client name is ever read here.

:func:`collect_status` runs a handful of set-based, ordered queries and returns a
JSON-ready dict; :func:`format_status` turns it into text or JSON (format, then
print).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from reconciler.errors import ReconcilerError
from reconciler.render.text import format_cents
from reconciler.timeutil import iso_z, local_date, resolve_at, to_utc

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.targets.base import Target

#: A deleted client is purged once it has been deleted this long (SPEC §3.5).
from reconciler.planner.scope import PURGE_AFTER  # noqa: E402 - the one definition (SPEC §3.5)


def collect_status(target: "Target", *, at_text: str | None, now: dt.datetime) -> dict[str, Any]:
    """The practice's status as of ``--at`` (``at_text``) or ``now``, as a JSON-ready dict.

    Raises :class:`DatabaseError` when the database is not initialised or holds no
    practice, and :class:`ReconcilerError` for an unreadable ``--at``.
    """
    facts = target.read_status()
    practice = facts.practice
    tz = practice["timezone"]
    at = resolve_at(at_text, tz, now)
    today = local_date(at, tz)
    staff_rows, inactive_staff, unassigned = facts.staff, facts.inactive_staff, facts.unassigned
    orphaned, by_status, deleted = facts.orphaned, facts.by_status, facts.deleted
    last_apply: dict[str, Any] | None = None
    if facts.last_apply is not None:
        last = facts.last_apply
        last_apply = {
            "plan_id": last["plan_id"],
            "at": iso_z(last["at"]),
            "actor": last["actor"],
            "actions": int(last["actions"]),
        }

    seat_price = practice["seat_price_cents"]
    seats = len(staff_rows)
    return {
        "as_of": iso_z(at),
        "practice": {
            "name": practice["name"],
            "timezone": tz,
            "owner": practice["owner_id"],
            "clinical_director": practice["clinical_director_id"],
            "client_plan_limit": practice["client_plan_limit"],
        },
        "seats": {
            "active_staff": seats,
            "inactive_staff": int(inactive_staff),
            "seat_price_cents": seat_price,
            "monthly_cents": seats * seat_price if seat_price is not None else None,
        },
        "staff": [
            {
                "id": r["id"],
                "role": r["role"],
                "access": r["access"],
                "caseload": int(r["caseload"]),
                "max_caseload": r["max_caseload"],
            }
            for r in staff_rows
        ],
        "scheduled_deactivations": [
            {"staff": r["id"], "date": r["deactivate_on"].isoformat(), "days_left": (r["deactivate_on"] - today).days}
            for r in sorted(
                (r for r in staff_rows if r["deactivate_on"] is not None), key=lambda r: (r["deactivate_on"], r["id"])
            )
        ],
        "clients": {
            "active": int(by_status.get("active", 0)),
            "inactive": int(by_status.get("inactive", 0)),
            "deleted": int(by_status.get("deleted", 0)),
        },
        "unassigned_clients": {"count": len(unassigned), "ids": list(unassigned)},
        "clients_with_inactive_primary": [{"client": r["id"], "primary": r["primary_id"]} for r in orphaned],
        "awaiting_purge": [_purge_entry(r["id"], r["deleted_at"], at) for r in deleted],
        "last_apply": last_apply,
    }


def _purge_entry(client_id: str, deleted_at: dt.datetime | None, at: dt.datetime) -> dict[str, Any]:
    if deleted_at is None:  # deleted outside the tool without a time: purge date unknown
        return {"client": client_id, "deleted_at": None, "purge_due": None, "due": False}
    due = to_utc(deleted_at) + PURGE_AFTER
    return {"client": client_id, "deleted_at": iso_z(deleted_at), "purge_due": iso_z(due), "due": due <= at}


def format_status(status: dict[str, Any], fmt: str) -> str:
    """``json`` (stable, indented) or ``text`` (for a terminal); ends with a newline."""
    if fmt == "json":
        return json.dumps(status, indent=2, ensure_ascii=False) + "\n"
    if fmt != "text":
        raise ReconcilerError(f"unknown status format {fmt!r} (expected text or json)")
    p, seats = status["practice"], status["seats"]
    out = [f"{p['name']} ({p['timezone']}) — status as of {status['as_of']}", ""]
    seat_line = f"Seats: {seats['active_staff']} active staff"
    if seats["seat_price_cents"] is not None:
        seat_line += f" × {format_cents(seats['seat_price_cents'])} = {format_cents(seats['monthly_cents'])} per cycle"
    out += [seat_line, ""]
    out.append("Active staff:")
    width = max((len(s["id"]) for s in status["staff"]), default=0)
    role_w = max((len(s["role"]) for s in status["staff"]), default=0)
    for s in status["staff"]:
        cap = f"/{s['max_caseload']}" if s["max_caseload"] is not None else ""
        out.append(f"  {s['id']:<{width}}  {s['role']:<{role_w}}  {s['caseload']}{cap} clients")
    if not status["staff"]:
        out.append("  (none)")

    out += ["", "Scheduled deactivations:"]
    for d in status["scheduled_deactivations"]:
        left = d["days_left"]
        when = (
            "today"
            if left == 0
            else (
                f"in {left} day{'s' if left != 1 else ''}"
                if left > 0
                else f"{-left} day{'s' if left != -1 else ''} overdue"
            )
        )
        out.append(f"  {d['staff']}  {d['date']}  ({when})")
    if not status["scheduled_deactivations"]:
        out.append("  (none)")

    un = status["unassigned_clients"]
    out += ["", f"Unassigned active clients: {un['count']}" + (f" ({', '.join(un['ids'])})" if un["ids"] else "")]
    if status["clients_with_inactive_primary"]:
        pairs = ", ".join(f"{c['client']}→{c['primary']}" for c in status["clients_with_inactive_primary"])
        out.append(f"Active clients of inactive staff: {len(status['clients_with_inactive_primary'])} ({pairs})")
    c = status["clients"]
    out.append(f"Clients: {c['active']} active, {c['inactive']} inactive, {c['deleted']} deleted")

    out += ["", "Deleted clients awaiting purge:"]
    for d in status["awaiting_purge"]:
        if d["purge_due"] is None:
            out.append(f"  {d['client']}  deleted at an unknown time")
        else:
            flag = "  (due: the next plan purges it)" if d["due"] else ""
            out.append(f"  {d['client']}  deleted {d['deleted_at']}  purge due {d['purge_due']}{flag}")
    if not status["awaiting_purge"]:
        out.append("  (none)")

    last = status["last_apply"]
    out.append("")
    out.append(
        f"Last apply: {last['plan_id']} at {last['at']} by {last['actor']} ({last['actions']} actions)"
        if last
        else "Last apply: never"
    )
    return "\n".join(out) + "\n"
