"""Invariants every plan (and ``validate``) checks (SPEC §3.3, §3.6, §3.8). Pure.

(The config on its own is checked by :mod:`reconciler.planner.validator`, the one
validator of desired state.)
* :func:`after_plan` — the projected database after a plan: no active client
  without a primary or with an unknown/inactive one, no caseload above
  max_caseload for professionals receiving clients, the client plan limit.
* :func:`blast_radius` — the mass-change guard.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

from reconciler.errors import (
    Location,
    PlanRefused,
    Problem,
)
from reconciler.model.actions import Action, ActionType
from reconciler.model.actual import ActualState, Client
from reconciler.model.desired import DesiredState
from reconciler.planner.scope import Roster, max_caseload


def _where(desired: DesiredState, key: str, entity: str) -> Location:
    return dataclasses.replace(desired.where(key), entity=entity)


def _staff_loc(desired: DesiredState, sid: str, fld: str | None = None) -> Location:
    return _where(desired, f"staff:{sid}.{fld}" if fld else f"staff:{sid}", f"staff {sid}")


def after_plan(
    desired: DesiredState, actual: ActualState, roster: Roster, clients: Mapping[str, Client]
) -> list[Problem]:
    """Invariants of the database as the plan leaves it (``clients``: projected rows)."""
    out: list[Problem] = []
    for cid in sorted(clients):
        c = clients[cid]
        if c.status != "active":
            continue
        loc = _where(desired, f"client:{cid}", f"client {cid}")
        if c.primary is None:
            out.append(
                Problem(
                    loc,
                    f"client {cid} would be active without a primary professional (unassigned clients drop out of reports): add a clients: entry with primary or status",
                    "unassigned",
                )
            )
        elif c.primary not in roster.leaves:
            out.append(
                Problem(loc, f"client {cid} is assigned to {c.primary}, who is not a known professional", "reference")
            )
        elif not roster.active_today(c.primary):
            out.append(
                Problem(
                    loc,
                    f"client {cid} is assigned to {c.primary}, who is inactive on {roster.today.isoformat()}",
                    "inactive",
                )
            )
    # Caseloads: only professionals who gain clients in this plan are held to max_caseload.
    delta: dict[str, int] = {}
    for cid, after in clients.items():
        before = actual.clients.get(cid)
        was = before.primary if before is not None and before.status == "active" else None
        now = after.primary if after.status == "active" else None
        if was != now:
            if now is not None:
                delta[now] = delta.get(now, 0) + 1
            if was is not None:
                delta[was] = delta.get(was, 0) - 1
    for sid in sorted(delta):
        limit = max_caseload(roster, sid)
        if delta[sid] > 0 and limit is not None:
            total = actual.caseloads.get(sid, 0) + delta[sid]
            if total > limit:
                out.append(
                    Problem(
                        _staff_loc(desired, sid, "max_caseload"),
                        f"staff {sid} would have {total} active clients, above max_caseload {limit}",
                        "caseload",
                    )
                )
    limit = desired.practice.client_plan_limit
    if limit is None and actual.practice is not None:
        limit = actual.practice.client_plan_limit
    gained = sum(1 for cid, c in clients.items() if c.status == "active") - sum(
        1 for c in actual.clients.values() if c.status == "active"
    )
    if limit is not None and gained > 0 and actual.active_client_total + gained > limit:
        out.append(
            Problem(
                _where(desired, "practice.client_plan_limit", "practice"),
                f"the plan would leave {actual.active_client_total + gained} active clients, above the client plan limit {limit}",
                "plan_limit",
            )
        )
    return out


_CLIENT_LOSSES = (ActionType.CLIENT_INACTIVATE, ActionType.CLIENT_DELETE, ActionType.CLIENT_MARK_DUPLICATE)


def blast_radius(desired: DesiredState, actual: ActualState, actions: Iterable[Action]) -> PlanRefused | None:
    """The mass-change guard: None if within ``practice.max_change_percent``."""
    pct = desired.practice.max_change_percent
    acts = list(actions)
    staff_total = sum(1 for s in actual.staff.values() if s.active)
    staff_lost = sum(1 for a in acts if a.type is ActionType.STAFF_DEACTIVATE)
    clients_lost = sum(1 for a in acts if a.type in _CLIENT_LOSSES and a.changes.get("status", ("", ""))[0] == "active")
    problems: list[Problem] = []
    for what, lost, total in (
        ("active staff", staff_lost, staff_total),
        ("active clients", clients_lost, actual.active_client_total),
    ):
        if total > 0 and lost * 100 > pct * total:
            share = round(lost * 100 / total, 1)
            verb = "deactivate" if what == "active staff" else "inactivate or delete"
            problems.append(
                Problem(
                    Location(entity="practice", field="max_change_percent"),
                    f"the plan would {verb} {lost} of {total} {what} ({share:g} %), more than {pct:g} %; "
                    "refused (check the config, or pass --allow-mass-change)",
                    "blast_radius",
                )
            )
    if not problems:
        return None
    return PlanRefused("plan refused by the blast-radius guard" if len(problems) > 1 else problems[0].message, problems)
