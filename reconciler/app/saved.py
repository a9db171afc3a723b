"""A saved plan is authentic, applies once, and only while it is still true (SPEC §7.4).

``apply PLANFILE`` never trusts the file. It reads the config (``-c DIR``) and checks,
each refusal exiting 1 with nothing changed and a message naming the failed check:

1. *edited plan* — the file's ``plan_id`` is the digest of its content
   (:func:`reconciler.app.workflow.load_plan`);
2. *already applied* — the plan id appears in the audit trail;
3. *config changed* — the config's digest is not the plan's ``config_digest``;
4. *stale* — the plan's ``as_of`` lies after the apply time, or a session it cancels or
   moves has started by then;
5. *authentic and current* — the config, planned against the database at the plan's
   ``as_of``, gives exactly this plan (same ``plan_id``: actions, fingerprint, seats,
   scope — everything but ``generated_at``; export file names carry the ``as_of`` so they
   match too). Otherwise the difference is explained: the database rows the plan read
   are unchanged (same fingerprint) yet the actions differ → *edited plan*; the plan
   names staff or clients this database does not have → *made against another
   database*; else the rows it read changed → *stale*. Before all of these, a plan
   whose ``extra.db_id`` is not this database's identity is refused as *made against
   another database* (:func:`reconciler.app.executor.check_database`).
   A revert plan (``extra.revert_of``, SPEC §8.6) is re-planned as what it is: the revert
   of that applied plan, planned from its audit events and the config at the plan's
   ``as_of`` (:mod:`reconciler.app.revert`), must give exactly this plan.

Checks 2, 4 and 5 read the database: :func:`check_in_session` runs them in the read
that precedes the export files and again inside the locked apply transaction (the
authoritative time), so nothing is written for a refused plan.

``--at`` is for tests and demos: :func:`apply_instant` refuses one more than
:data:`MAX_CLOCK_SKEW` from the clock unless time travel is allowed (the audit events of
such an apply then say so, see :mod:`reconciler.app.audit`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from reconciler.errors import PlanRefused, ReconcilerError, StalePlan, ValidationFailed
from reconciler.model.actions import ActionType, Plan
from reconciler.timeutil import iso_z, parse_iso_z, to_utc

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.desired import DesiredState
    from reconciler.targets.base import ReadSession, Target

MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
# A revert's appointment.restore brings a session back: stale too once it has started.
_MOVED_SESSIONS = (ActionType.APPOINTMENT_CANCEL, ActionType.APPOINTMENT_TRANSFER, ActionType.APPOINTMENT_RESTORE)
_NOTHING = "; nothing was changed"


@dataclass(frozen=True)
class ApplyTime:
    """When an apply happens: ``at`` (the ``--at`` instant, else the clock) and, when
    ``--at`` travelled further than :data:`MAX_CLOCK_SKEW`, that instant again as
    ``time_travel`` (recorded in every audit event)."""

    at: dt.datetime
    time_travel: dt.datetime | None = None


def apply_instant(at_text: str | None, tz: str, now: dt.datetime, *, allow_time_travel: bool) -> ApplyTime:
    """The apply time for ``--at`` (read in the practice timezone ``tz``) or the clock
    ``now``; refuses ``--at`` more than five minutes away unless ``allow_time_travel``."""
    from reconciler.timeutil import resolve_at

    if not at_text:
        return ApplyTime(to_utc(now))
    at = resolve_at(at_text, tz, now)
    if abs(at - to_utc(now)) <= MAX_CLOCK_SKEW:
        return ApplyTime(at)
    if not allow_time_travel:
        raise PlanRefused(
            f"apply --at {iso_z(at)} is more than 5 minutes from the clock ({iso_z(now)}): "
            "--at is for tests and demos; add --allow-time-travel to apply at that time anyway "
            "(the audit trail records it)" + _NOTHING
        )
    return ApplyTime(at, at)


def check_config(plan: Plan, desired: "DesiredState", config_dir: object) -> None:
    """The config read from ``-c`` must be the one the plan was made from."""
    if desired.config_digest != plan.config_digest:
        raise PlanRefused(
            f"config changed: the config in {config_dir} (digest {desired.config_digest[:19]}...) is not the one "
            f"plan {plan.plan_id} was made from ({plan.config_digest[:19]}...); check out the commit the plan was "
            "made from, or re-run plan" + _NOTHING
        )


def check_not_applied(session: "ReadSession", plan: Plan) -> None:
    if session.audit_has_plan(plan.plan_id):
        raise PlanRefused(
            f"plan {plan.plan_id} was already applied (its id is in the audit trail): a saved plan "
            "applies at most once; re-run plan" + _NOTHING
        )


def check_times(plan: Plan, at: dt.datetime) -> None:
    """Stale when the plan's ``as_of`` lies after the apply time, or when a session it
    cancels or moves has started by then."""
    as_of = parse_iso_z(plan.as_of)
    if as_of > at:
        raise StalePlan(
            f"stale plan {plan.plan_id}: its as_of {plan.as_of} lies in the future "
            f"(apply time {iso_z(at)}); re-run plan" + _NOTHING
        )
    started = []
    for a in plan.actions:
        if a.type in _MOVED_SESSIONS:
            start = a.context.get("start") if a.context else None
            if isinstance(start, str) and parse_iso_z(start) < at:  # as the planner: "at or after now" is still ahead
                started.append(a.target)
    if started:
        shown = ", ".join(started[:5]) + (f" and {len(started) - 5} more" if len(started) > 5 else "")
        raise StalePlan(
            f"stale plan {plan.plan_id}: session(s) it cancels or moves have started by "
            f"{iso_z(at)} ({shown}); re-run plan" + _NOTHING
        )


def revert_of(plan: Plan) -> str | None:
    """The id of the plan ``plan`` reverts (``extra.revert_of``), or None for a plan of the config."""
    value = plan.extra.get("revert_of") if plan.extra else None
    return str(value) if value else None


def check_replan(
    session: "ReadSession",
    plan: Plan,
    desired: "DesiredState",
    *,
    now: dt.datetime,
    revert_events: Sequence[Mapping[str, Any]] | None = None,
) -> bool:
    """Planning ``desired`` against the database at the plan's ``as_of`` must give
    exactly ``plan`` (then True: this session's read of the plan's scope gave the plan's
    ``db_fingerprint``, which ``plan_id`` digests); otherwise say whether the file was
    edited, made against another database, or is stale. A revert plan is planned again as a revert of the same plan,
    from ``revert_events`` (that plan's audit events)."""
    from reconciler.app.workflow import plan_in_session

    reverted = revert_of(plan)
    try:
        if reverted is not None:
            from reconciler.app.revert import revert_in_session

            if not revert_events:
                raise PlanRefused(
                    f"plan {plan.plan_id} reverts plan {reverted}, which is not in this database's audit trail; "
                    "check --db / --target" + _NOTHING
                )
            again = revert_in_session(session, reverted, revert_events, desired, at=parse_iso_z(plan.as_of)).plan
        else:
            again = plan_in_session(session, desired, at_text=plan.as_of, now=now, allow_mass_change=True)
    except ValidationFailed as exc:
        raise StalePlan(
            f"stale plan {plan.plan_id}: its config, planned against the database now, is invalid "
            f"({exc}); re-run plan" + _NOTHING
        ) from None
    except PlanRefused as exc:
        if reverted is None or "cannot be reverted" not in str(exc):
            raise
        raise StalePlan(f"stale plan {plan.plan_id}: {exc}" + _NOTHING) from None
    if again.plan_id == plan.plan_id:
        return True
    first = _first_difference(plan, again)
    rows_same = reverted is None or again.extra.get("rows_fingerprint") == plan.extra.get("rows_fingerprint")
    if again.db_fingerprint == plan.db_fingerprint and rows_same:
        raise PlanRefused(
            f"edited plan {plan.plan_id}: the config asks for other actions than the file holds "
            f"({first}), though the database rows it read are unchanged; "
            "apply only plans saved by `reconciler plan`" + _NOTHING
        )
    unknown = _unknown_ids(session, plan)
    if unknown:
        raise PlanRefused(
            f"plan {plan.plan_id} was made against another database: it names {unknown} which "
            "this database does not hold; check --db / --target" + _NOTHING
        )
    raise StalePlan(
        f"stale plan {plan.plan_id}: the rows it depends on changed since it was made ({first}); "
        "re-run plan and apply the new plan" + _NOTHING
    )


def _first_difference(plan: Plan, again: Plan) -> str:
    mine = [a.to_json() for a in plan.actions]
    theirs = [a.to_json() for a in again.actions]
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if a != b:
            return f"action #{a.get('id', i + 1)} {a.get('type')} {a.get('target')} differs"
    if len(mine) != len(theirs):
        return f"the file holds {len(mine)} actions, the config gives {len(theirs)}"
    return "the actions agree; the plan's other fields differ"


def _unknown_ids(session: "ReadSession", plan: Plan) -> str:
    """Staff ids the plan names that this database has no row for ("" if none)."""
    _, staff = session.read_base()
    named = {a.staff for a in plan.actions if a.staff} | {a.target for a in plan.actions if a.type.entity == "staff"}
    missing = sorted(s for s in named if s not in staff)
    return ("staff " + ", ".join(missing[:5])) if missing else ""


def check_in_session(
    session: "ReadSession",
    plan: Plan,
    desired: "DesiredState",
    *,
    at: dt.datetime,
    now: dt.datetime,
    revert_events: Sequence[Mapping[str, Any]] | None = None,
) -> bool:
    """Every database check of a saved plan (2, 4, 5 of the module docstring), after
    the database's identity (a plan made against another database is not stale);
    ``revert_events`` are the audit events of the plan a revert plan reverts. True: the
    session re-read the plan's scope and found the plan's fingerprint (the executor
    need not read it again)."""
    from reconciler.app.executor import check_database

    check_database(session, plan)
    check_not_applied(session, plan)
    check_times(plan, at)
    return check_replan(session, plan, desired, now=now, revert_events=revert_events)


def practice_tz(target: "Target", desired: "DesiredState") -> str:
    """The practice timezone: the config's, else the database's (for reading ``--at``)."""
    if desired.practice.timezone:
        return desired.practice.timezone
    with target.reading() as session:
        practice, _ = session.read_base()
    if practice is None:
        from reconciler.errors import NoPractice

        raise NoPractice()
    return practice.timezone


__all__ = [
    "ApplyTime",
    "MAX_CLOCK_SKEW",
    "ReconcilerError",
    "apply_instant",
    "check_config",
    "check_in_session",
    "check_not_applied",
    "check_replan",
    "check_times",
    "practice_tz",
    "revert_of",
]
