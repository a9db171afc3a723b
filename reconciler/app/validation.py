"""``reconciler validate``: static checks, then (with a database) references and a dry plan.

Without a target nothing here imports SQLAlchemy: CI validates a pull request with
the config alone. With a target the order is

1. the schema must be there (``require_schema``);
2. a few small, ordered reads: the practice timezone, every staff id with its active
   flag, and which of the clients the config names exist;
3. the static checks again, now knowing the database's staff (a client's primary
   may be an unmanaged professional), plus: every client entry must exist, every
   ``duplicate_of`` must name a client in the config or the database;
4. only when all that is clean, a full plan (``allow_mass_change``: validation reports,
   it does not guard) whose invariant violations and warnings are reported too.

Warnings never make validation fail.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from reconciler.errors import (
    Location,
    PlanRefused,
    Problem,
    ValidationFailed,
    problem_key,
)
from reconciler.model.records import DbFacts
from reconciler.planner.validator import (
    check_desired,
    db_reference_problems,
    validation_day,
)

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.desired import DesiredState
    from reconciler.targets.base import Target


def read_db_facts(target: "Target", client_ids: list[str]) -> DbFacts:
    """Read the practice timezone, all staff ids and which of ``client_ids`` exist."""
    return target.read_db_facts(client_ids)


def validate_config(
    desired: "DesiredState",
    target: "Target | None",
    *,
    at_text: str | None,
    now: dt.datetime,
) -> list[Problem]:
    """Every problem of ``desired`` (and, with ``target``, against the database), sorted.

    Problems with severity ``"error"`` make validation fail; warnings do not.
    Raises :class:`DatabaseError` when the database is unusable.
    """
    if target is None:
        today = validation_day(at_text, now, desired.practice.timezone)
        return check_desired(desired, today=today)

    target.require_schema()
    referenced = sorted({c.id for c in desired.clients} | {c.duplicate_of for c in desired.clients if c.duplicate_of})
    facts = read_db_facts(target, referenced)
    today = validation_day(at_text, now, desired.practice.timezone or facts.timezone)
    problems = check_desired(desired, today=today, known_staff=facts.staff)
    problems += db_reference_problems(desired, facts)
    if any(p.severity == "error" for p in problems):
        # Planning a config with broken references would only repeat them less clearly.
        return sorted(problems, key=problem_key)

    from reconciler.app.workflow import compute_plan

    try:
        plan: Any = compute_plan(target, desired, at_text=at_text, now=now, allow_mass_change=True)
    except (ValidationFailed, PlanRefused) as exc:
        problems += list(exc.problems) or [Problem(Location(), str(exc), "plan")]
    else:
        problems += [Problem(Location(), str(w), "plan_warning", "warning") for w in plan.warnings]
    return sorted(problems, key=problem_key)
