"""Invariants every plan (and ``validate``) checks (SPEC §3.3, §3.6, §3.8). Pure.

* :func:`config_problems` — the config on its own (plus the staff table when known):
  policies exist, successors are declared, acyclic and resolvable, the owner and
  clinical director are not leaving, client entries are consistent.
* :func:`after_plan` — the projected database after a plan: no active client
  without a primary or with an unknown/inactive one, no caseload above
  max_caseload for professionals receiving clients, the client plan limit.
* :func:`blast_radius` — the mass-change guard.
* :func:`check` — all of it, for ``validate``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Iterable, Mapping

from reconciler.errors import (
    Location,
    PlanRefused,
    Problem,
    ReconcilerError,
    problem_key,
)
from reconciler.model.actions import Action, ActionType
from reconciler.model.actual import ActualState, Client
from reconciler.model.desired import ClientStatus, DesiredState
from reconciler.planner.policies import balance_target_kind, needs_successor, policy_for
from reconciler.planner.scope import Roster, classify, max_caseload
from reconciler.planner.successors import SuccessorError, find_cycles, resolve


def _where(desired: DesiredState, key: str, entity: str) -> Location:
    return dataclasses.replace(desired.where(key), entity=entity)


def _staff_loc(desired: DesiredState, sid: str, fld: str | None = None) -> Location:
    return _where(desired, f"staff:{sid}.{fld}" if fld else f"staff:{sid}", f"staff {sid}")


def config_problems(desired: DesiredState, roster: Roster, *, with_db: bool) -> list[Problem]:
    """Problems of the config itself (``with_db``: the staff table is known too)."""
    out: list[Problem] = []
    declared = roster.declared
    if desired.policy(desired.practice.default_policy) is None:
        out.append(Problem(_where(desired, "practice.default_policy", "practice"),
                           f"unknown default policy {desired.practice.default_policy!r}", "policy"))
    for cyc in find_cycles(roster.successor_of):
        out.append(Problem(_staff_loc(desired, cyc[0], "successor"), "successor cycle: " + " -> ".join(cyc + [cyc[0]]), "successor"))
    cyclic = {s for cyc in find_cycles(roster.successor_of) for s in cyc}
    for sid, spec in sorted(declared.items()):
        if spec.successor is not None and spec.successor not in declared:
            out.append(Problem(_staff_loc(desired, sid, "successor"), f"staff {sid}: successor {spec.successor} is not declared", "reference"))
        policy = policy_for(desired, spec)
        if policy is None:
            if spec.offboarding is not None:
                out.append(Problem(_staff_loc(desired, sid, "offboarding"), f"staff {sid}: unknown offboarding policy {spec.offboarding!r}", "policy"))
            continue
        leaves = roster.leaves.get(sid)
        if leaves is None:
            continue
        if needs_successor(policy):
            if spec.successor is None and sid in roster.drift:
                pass  # inactive in the database: leftovers needing a successor are reported when planned
            elif spec.successor is None:
                out.append(Problem(_staff_loc(desired, sid), f"staff {sid} is leaving and policy {policy.name} hands over to a successor, but none is declared", "successor"))
            elif spec.successor in declared and sid not in cyclic:
                try:
                    resolve(sid, roster.successor_of, roster.leaves, max(leaves, roster.today))
                except SuccessorError as exc:
                    out.append(Problem(_staff_loc(desired, sid, "successor"), f"staff {sid}: {exc}", "successor"))
        if balance_target_kind(policy) == "staff":
            target = policy.clients_with_balance
            if target not in declared and (not with_db or target not in roster.db):
                out.append(Problem(_where(desired, f"policy:{policy.name}.clients_with_balance", f"policy {policy.name}"),
                                   f"policy {policy.name}: clients_with_balance names unknown staff {target}", "reference"))
    for role, named in roster.protected:
        if roster.leaves.get(named) is not None and (named in declared or with_db):
            where = "" if named in (desired.practice.owner, desired.practice.clinical_director) else " (in the database)"
            out.append(Problem(_staff_loc(desired, named), f"staff {named} is the practice's {role}{where} and cannot be deactivated while the practice names them", "protected"))
    for e in desired.clients:
        loc = _where(desired, f"client:{e.id}", f"client {e.id}")
        if e.duplicate_of is not None:
            if e.duplicate_of == e.id:
                out.append(Problem(loc, f"client {e.id} cannot be a duplicate of itself", "invalid"))
            if e.primary is not None or e.status in (ClientStatus.ACTIVE, ClientStatus.DELETED):
                out.append(Problem(loc, f"client {e.id}: duplicate_of marks the client inactive; it cannot also set primary or status {e.status.value if e.status else ''}".rstrip(), "conflict"))
        if e.primary is not None and e.status in (ClientStatus.INACTIVE, ClientStatus.DELETED):
            out.append(Problem(loc, f"client {e.id}: an {e.status.value} client has no primary", "conflict"))
        if e.primary is not None and e.status is not ClientStatus.INACTIVE and e.status is not ClientStatus.DELETED and e.duplicate_of is None:
            known = e.primary in declared or (with_db and e.primary in roster.db)
            if (with_db or e.primary in declared) and not known:
                out.append(Problem(loc, f"client {e.id}: primary {e.primary} is not a known professional", "reference"))
            elif known and not roster.active_today(e.primary):
                out.append(Problem(loc, f"client {e.id}: primary {e.primary} is not active on {roster.today.isoformat()}", "inactive"))
    return out


def after_plan(desired: DesiredState, actual: ActualState, roster: Roster, clients: Mapping[str, Client]) -> list[Problem]:
    """Invariants of the database as the plan leaves it (``clients``: projected rows)."""
    out: list[Problem] = []
    unassigned: list[str] = []
    for cid in sorted(clients):
        c = clients[cid]
        if c.status != "active":
            continue
        loc = _where(desired, f"client:{cid}", f"client {cid}")
        if c.primary is None:
            unassigned.append(cid)
            out.append(Problem(loc, f"client {cid} would be active without a primary professional (unassigned clients drop out of reports): add a clients: entry with primary or status", "unassigned"))
        elif c.primary not in roster.leaves:
            out.append(Problem(loc, f"client {cid} is assigned to {c.primary}, who is not a known professional", "reference"))
        elif not roster.active_today(c.primary):
            out.append(Problem(loc, f"client {cid} is assigned to {c.primary}, who is inactive on {roster.today.isoformat()}", "inactive"))
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
                out.append(Problem(_staff_loc(desired, sid, "max_caseload"),
                                   f"staff {sid} would have {total} active clients, above max_caseload {limit}", "caseload"))
    limit = desired.practice.client_plan_limit
    if limit is None and actual.practice is not None:
        limit = actual.practice.client_plan_limit
    gained = sum(1 for cid, c in clients.items() if c.status == "active") - sum(1 for c in actual.clients.values() if c.status == "active")
    if limit is not None and gained > 0 and actual.active_client_total + gained > limit:
        out.append(Problem(_where(desired, "practice.client_plan_limit", "practice"),
                           f"the plan would leave {actual.active_client_total + gained} active clients, above the client plan limit {limit}", "plan_limit"))
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
    for what, lost, total in (("active staff", staff_lost, staff_total), ("active clients", clients_lost, actual.active_client_total)):
        if total > 0 and lost * 100 > pct * total:
            share = round(lost * 100 / total, 1)
            verb = "deactivate" if what == "active staff" else "inactivate or delete"
            problems.append(Problem(Location(entity="practice", field="max_change_percent"),
                                    f"the plan would {verb} {lost} of {total} {what} ({share:g} %), more than {pct:g} %; "
                                    "refused (check the config, or pass --allow-mass-change)", "blast_radius"))
    if not problems:
        return None
    return PlanRefused("plan refused by the blast-radius guard" if len(problems) > 1 else problems[0].message, problems)


def check(desired: DesiredState, actual: ActualState | None, at: dt.datetime) -> list[Problem]:
    """Every problem ``validate`` reports: the config alone, or (with ``actual``) the
    config against the database, including a dry run of the planner."""
    if actual is None:
        roster = classify(desired, None, {}, at)
        return sorted(set(config_problems(desired, roster, with_db=False)), key=problem_key)
    from reconciler.planner import plan  # late: the planner uses this module

    try:
        result = plan(desired, actual, at, allow_mass_change=True)
    except ReconcilerError as exc:
        return sorted(set(exc.problems), key=problem_key)
    return [Problem(Location(), w, "warning", "warning") for w in result.warnings]
