"""Planning against an OpenEMR database: the native planner over this target's reads,
plus the capability check (a plan that needs an action type the target does not
support is a validation error naming the entity and the target)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.engine import Engine

from reconciler.model.actions import Plan
from reconciler.model.desired import DesiredState
from reconciler.errors import DatabaseError, Location, Problem, ValidationFailed
from .write import CAPABILITIES, UNSUPPORTED

TARGET = "openemr"


def capability_problems(plan: Plan, desired: DesiredState) -> list[Problem]:
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for a in plan.actions:
        if a.type in CAPABILITIES:
            continue
        entity = a.type.entity if a.type.entity in ("staff", "client") else "staff"
        key = (entity, a.target if entity == a.type.entity else (a.staff or a.target))
        if key in seen:
            continue
        seen.add(key)
        loc = desired.where(f"{key[0]}:{key[1]}")
        if loc.entity is None:
            loc = dataclasses.replace(loc, entity=f"{key[0]} {key[1]}")
        out.append(Problem(loc, f"{a.type.value} is not supported by the {TARGET} target "
                                f"({UNSUPPORTED.get(a.type, 'no writer')})", "unsupported"))
    return out


def compute_plan(engine: Engine, desired: DesiredState, *, at_text: str | None, now: dt.datetime,
                 allow_mass_change: bool = False) -> Plan:
    """Read what the desired state touches from OpenEMR (one REPEATABLE READ
    transaction), plan (pure), refuse unsupported actions."""
    from reconciler.planner import plan as make_plan
    from reconciler.planner.scope import practice_timezone, read_scope
    from reconciler.timeutil import iso_z, local_date, resolve_at
    from reconciler.app.workflow import static_errors
    from .migrate import require_schema
    from .read import read_base, read_sets

    require_schema(engine)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        practice, staff = read_base(conn)
        if practice is None:
            raise DatabaseError("the OpenEMR database holds no practice settings: run "
                                "`reconciler db init --target openemr`")
        tz = practice_timezone(desired, practice)
        at = resolve_at(at_text, tz, now)
        try:
            today: dt.date | None = local_date(at, tz)
        except ValueError:
            today = None
        static_errors(desired, today=today, known_staff={sid: row.active for sid, row in staff.items()})
        scope = read_scope(desired, practice, staff, at)
        actual = read_sets(conn, scope, practice, staff)
    result = make_plan(desired, actual, at, allow_mass_change=allow_mass_change)
    problems = capability_problems(result, desired)
    if problems:
        raise ValidationFailed(problems[0].message if len(problems) == 1 else
                               f"the plan needs {len(problems)} changes the {TARGET} target cannot make", problems)
    return dataclasses.replace(result, generated_at=iso_z(now))
