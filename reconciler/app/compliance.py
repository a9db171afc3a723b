"""``reconciler status --check``: the compliance check of SPEC §7.3.

HIPAA's termination procedures (45 CFR 164.308(a)(3)(ii)(C)) expect access to end when
employment ends, and deleted records to go when they are due. A violation is one of:

==============================  ==============================================================
``leave_date_passed``           an active professional whose ``deactivate_on`` (the database's,
                                or with ``-c`` the config's) is today or earlier
``config_says_inactive``        (with ``-c``) the config says ``active: false``, the database
                                says active
``inactive_has_sessions``       an inactive professional still has scheduled sessions at or
                                after the instant checked
``inactive_has_series``         ... an active recurring series that runs past it
``inactive_has_clients``        ... active clients whose primary they are
``purge_overdue``               a client deleted more than 30 days ago is still there
``audit_chain_broken``          ``audit verify`` fails (the first broken event is named)
==============================  ==============================================================

Each violation is a JSON-ready dict of ids only (``kind``, ``staff`` or ``client``,
``ids`` where a list of rows is concerned, ``message``). ``watch`` logs each as one
structured event.
"""

from __future__ import annotations

import datetime as dt
import json
from itertools import groupby
from typing import TYPE_CHECKING, Any

from reconciler.timeutil import iso_z, local_date, resolve_at, to_utc

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.desired import DesiredState
    from reconciler.targets.base import Target

_SHOWN = 10


def _ids(ids: list[str]) -> str:
    return ", ".join(ids[:_SHOWN]) + (f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")


def check_compliance(
    target: "Target",
    desired: "DesiredState | None",
    *,
    at_text: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Every violation at ``--at`` (else ``now``): ``{"as_of", "ok", "violations"}``."""
    from reconciler.app.audit import verify_audit
    from reconciler.planner.scope import PURGE_AFTER

    facts = target.read_status()
    tz = desired.practice.timezone if desired is not None and desired.practice.timezone else facts.practice["timezone"]
    at = resolve_at(at_text, tz, now)
    today = local_date(at, tz)
    out: list[dict[str, Any]] = []
    active = {str(r["id"]): r for r in facts.staff}
    for sid, row in sorted(active.items()):
        on = row["deactivate_on"]
        if on is not None and on <= today:
            out.append(
                {
                    "kind": "leave_date_passed",
                    "staff": sid,
                    "date": on.isoformat(),
                    "source": "database",
                    "message": f"staff {sid}: leave date {on.isoformat()} has passed but the account is active",
                }
            )
    if desired is not None:
        flagged = {v["staff"] for v in out}
        for spec in sorted(desired.staff, key=lambda s: s.id):
            if spec.id not in active or spec.id in flagged:
                continue
            if not spec.active:
                out.append(
                    {
                        "kind": "config_says_inactive",
                        "staff": spec.id,
                        "source": "config",
                        "message": f"staff {spec.id}: the config says inactive but the account is active",
                    }
                )
            elif spec.deactivate_on is not None and spec.deactivate_on <= today:
                d = spec.deactivate_on.isoformat()
                out.append(
                    {
                        "kind": "leave_date_passed",
                        "staff": spec.id,
                        "date": d,
                        "source": "config",
                        "message": f"staff {spec.id}: leave date {d} (config) has passed but the account is active",
                    }
                )
    held = target.read_compliance(at)
    for kind, rows, what in (
        ("inactive_has_sessions", held.future_sessions, "future scheduled session(s)"),
        ("inactive_has_series", held.active_series, "active series"),
        ("inactive_has_clients", held.active_clients, "active client(s)"),
    ):
        for sid, group in groupby(rows, key=lambda r: r[0]):
            ids = [r[1] for r in group]
            out.append(
                {
                    "kind": kind,
                    "staff": sid,
                    "ids": ids,
                    "message": f"inactive staff {sid} still has {len(ids)} {what}: {_ids(ids)}",
                }
            )
    for r in facts.deleted:
        deleted_at = r["deleted_at"]
        if deleted_at is not None and to_utc(deleted_at) + PURGE_AFTER < at:
            out.append(
                {
                    "kind": "purge_overdue",
                    "client": r["id"],
                    "deleted_at": iso_z(deleted_at),
                    "message": f"client {r['id']}: deleted {iso_z(deleted_at)}, more than 30 days ago, and not purged",
                }
            )
    chain = verify_audit(target)
    if chain.failure is not None:
        out.append(
            {
                "kind": "audit_chain_broken",
                "event": chain.failure.event_id,
                "failure": chain.failure.kind,
                "message": f"audit chain does not verify: {chain.failure}",
            }
        )
    return {"as_of": iso_z(at), "ok": not out, "violations": out}


def format_check(result: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if result["ok"]:
        return f"compliance check as of {result['as_of']}: no violations\n"
    lines = [f"compliance check as of {result['as_of']}: {len(result['violations'])} violation(s)"]
    lines += [f"  {v['kind']}: {v['message']}" for v in result["violations"]]
    return "\n".join(lines) + "\n"


__all__ = ["check_compliance", "format_check"]
