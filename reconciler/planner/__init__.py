"""The planner: ``plan(desired, actual, at) -> Plan``. Pure and deterministic.

No I/O and no clock: ``at`` is an argument, inputs are values, every iteration is
over sorted keys. Execution order (action ids 1..n):

0. ``practice.update`` (owner, clinical director, timezone, client plan limit);
1. staff: create / update / reactivate / withdrawn deactivation dates, by id;
2. professionals leaving now, by id: export → sessions and series → clients →
   ``staff.deactivate`` (depends on all of that professional's actions);
3. scheduled deactivations, by date then id: the date recorded once, bookings
   at/after it moved or cancelled now;
4. drift: leftovers of professionals already inactive, by id;
5. remaining ``clients:`` entries, by client id; 6. purges, by client id.

Then the invariants (ValidationFailed) and the blast-radius guard (PlanRefused).
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from reconciler.errors import ValidationFailed
from reconciler.model.actions import ActionType, Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import clients, offboarding, staff
from reconciler.planner.context import Ctx
from reconciler.planner.invariants import after_plan, blast_radius
from reconciler.planner.scope import Roster, classify, scope_from_roster
from reconciler.planner.seats import prorated_credit_cents
from reconciler.planner.validator import check_desired

__all__ = ["plan"]


#: Practice settings the config may change (SPEC §8.1): config field -> Practice attribute.
PRACTICE_FIELDS = ("owner", "clinical_director", "timezone", "client_plan_limit")


def _practice_update(ctx: Ctx) -> None:
    """One ``practice.update`` for the settings that differ, before every staff action
    (SPEC §8.1); the owner and clinical-director rules apply to the settings after it."""
    p, db = ctx.desired.practice, ctx.actual.practice
    if db is None:
        return
    changes: dict[str, tuple[object, object]] = {}
    for fld in PRACTICE_FIELDS:
        want, have = getattr(p, fld), getattr(db, fld)
        if want is not None and want != have:
            changes[fld] = (have, want)
    if changes:
        ctx.add(
            ActionType.PRACTICE_UPDATE,
            "practice",
            None,
            changes,
            f"practice: declared {', '.join(sorted(changes))} differ from the database: updated",
        )


def _seats(ctx: Ctx) -> tuple[dict[str, int], list[dict[str, object]]]:
    before = sum(1 for s in ctx.actual.staff.values() if s.active)
    delta = 0
    credits: list[dict[str, object]] = []
    practice = ctx.desired.practice
    price = practice.seat_price_cents
    cycle_day = practice.billing_cycle_day
    if price is None and ctx.actual.practice is not None:
        price = ctx.actual.practice.seat_price_cents
        if "billing_cycle_day" not in practice.given:
            cycle_day = ctx.actual.practice.billing_cycle_day
    for a in ctx.actions:
        if a.type is ActionType.STAFF_DEACTIVATE:
            delta -= 1
            if price is not None:
                credits.append(
                    {
                        "staff": a.target,
                        "action": a.id,
                        "credit_cents": prorated_credit_cents(price, cycle_day, ctx.at, ctx.roster.tz),
                    }
                )
        elif a.type is ActionType.STAFF_REACTIVATE or (a.type is ActionType.STAFF_CREATE and a.changes["active"][1]):
            delta += 1
    return {"before": before, "after": before + delta}, credits


def plan(
    desired: DesiredState,
    actual: ActualState,
    at: dt.datetime,
    *,
    allow_mass_change: bool = False,
    roster: Roster | None = None,
    fingerprint: Callable[[], str] | None = None,
) -> Plan:
    """The ordered actions that make ``actual`` match ``desired`` as of ``at`` (aware).

    Raises :class:`ValidationFailed` (every located problem at once) or
    :class:`PlanRefused` (blast-radius guard, unless ``allow_mass_change``).
    ``roster``: the classification the caller already made for the read scope
    (``classify`` runs once per plan); made here when not given. ``fingerprint``: gives
    ``actual.fingerprint()`` when the caller has it computed elsewhere (on another core
    while this plans); asked for once the plan is otherwise complete.
    """
    if at.tzinfo is None:
        raise ValueError("plan(): `at` must be timezone-aware")
    if roster is None or roster.at != at:
        roster = classify(desired, actual.practice, actual.staff, at)
    ctx = Ctx(desired, actual, roster)
    known = {sid: row.active for sid, row in actual.staff.items()}
    for p in check_desired(desired, today=roster.today, known_staff=known, roster=roster):
        ctx.error(p.location, p.message, p.code)
    _practice_update(ctx)
    staff.plan_staff(ctx)
    for sid in roster.offboard:
        offboarding.offboard(ctx, sid)
    for sid, _day in sorted(roster.scheduled.items(), key=lambda kv: (kv[1], kv[0])):
        offboarding.scheduled(ctx, sid, roster.scheduled[sid])
    for sid in roster.drift:
        offboarding.leftovers(ctx, sid)
    clients.plan_explicit(ctx)
    clients.plan_purge(ctx)
    clients.warn_kept_bookings(ctx)
    for p in after_plan(desired, actual, roster, ctx.clients):
        ctx.error(p.location, p.message, p.code)
    errors = ctx.problems.errors
    if errors:
        n = len(errors)
        raise ValidationFailed(errors[0].message if n == 1 else f"the plan is invalid ({n} problems)", errors)
    if not allow_mass_change:
        refused = blast_radius(desired, actual, ctx.actions)
        if refused is not None:
            raise refused
    seats, credits = _seats(ctx)
    # Renderers show session times in the practice's local time.
    extra: dict[str, object] = {"timezone": roster.tz}
    if credits:
        extra["seat_credits"] = credits
    return Plan(
        as_of=ctx.as_of,
        db_fingerprint=fingerprint() if fingerprint is not None else actual.fingerprint(),
        config_digest=desired.config_digest,
        actions=tuple(ctx.actions),
        warnings=tuple(sorted(ctx.warnings)),
        seats=seats,
        scope=scope_from_roster(desired, roster).to_json(),
        extra=extra,
    )
