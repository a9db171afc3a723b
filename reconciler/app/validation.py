"""``reconciler validate``: static checks, then (with a database) references and a dry plan.

Without an engine nothing here imports SQLAlchemy: CI validates a pull request with
the config alone. With an engine the order is

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.planner.checks import check_desired
from reconciler.errors import DatabaseError, Location, PlanRefused, Problem, ValidationFailed
from reconciler.render.diagnostics import problem_key
from reconciler.timeutil import local_date, resolve_at, zone

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

    from reconciler.model.desired import DesiredState

# Ids per IN (...) query: far below SQLite's and PostgreSQL's bind-parameter limits.
_CHUNK = 500


@dataclass(frozen=True)
class DbFacts:
    """What validation needs from the database (ids and flags only, no client names)."""

    timezone: str | None
    staff: dict[str, bool]  # staff id -> active
    clients: frozenset[str]  # the config-referenced client ids that exist


def read_db_facts(engine: "Engine", client_ids: list[str]) -> DbFacts:
    """Read the practice timezone, all staff ids and which of ``client_ids`` exist."""
    from sqlalchemy import select
    from sqlalchemy import exc as sa_exc

    from reconciler.targets.native.read import read_base
    from reconciler.targets.native.schema import clients_t

    try:
        with engine.connect() as conn:
            practice, staff_rows = read_base(conn)
            tz = practice.timezone if practice is not None else None
            staff = {sid: row.active for sid, row in staff_rows.items()}
            found: set[str] = set()
            for start in range(0, len(client_ids), _CHUNK):
                chunk = client_ids[start:start + _CHUNK]
                found.update(conn.execute(
                    select(clients_t.c.id).where(clients_t.c.id.in_(chunk)).order_by(clients_t.c.id)).scalars())
    except sa_exc.DBAPIError as exc:
        first_line = (str(exc.orig) or type(exc.orig).__name__).splitlines()[0]
        raise DatabaseError(f"cannot read the database: {first_line}") from None
    return DbFacts(tz, staff, frozenset(found))


def db_reference_problems(desired: "DesiredState", facts: DbFacts) -> list[Problem]:
    """Client entries that do not exist, ``duplicate_of`` targets found nowhere. Pure."""
    problems: list[Problem] = []
    declared = {c.id for c in desired.clients}
    for c in desired.clients:
        if c.id not in facts.clients:
            problems.append(Problem(desired.where(f"client:{c.id}.id"),
                                    f"client {c.id} does not exist in the database", "unknown_client"))
        dup = c.duplicate_of
        if dup is not None and dup != c.id and dup not in declared and dup not in facts.clients:
            problems.append(Problem(desired.where(f"client:{c.id}.duplicate_of"),
                                    f"duplicate_of {dup}: no such client in the config or the database",
                                    "unknown_client"))
    return problems


def validation_day(at_text: str | None, now: dt.datetime, timezone: str | None) -> dt.date | None:
    """The practice-timezone date validation is for: ``--at``, else ``now``.

    None when the practice timezone is not known (no config value, no database) or
    not valid (the static checks report that): date-dependent checks are then
    skipped rather than guessed in UTC. A malformed ``--at`` is always an error.
    """
    if timezone is not None:
        try:
            zone(timezone)
        except ValueError:
            timezone = None
    at = resolve_at(at_text, timezone or "UTC", now)
    return local_date(at, timezone) if timezone is not None else None


def validate_config(
    desired: "DesiredState",
    engine: "Engine | None",
    *,
    at_text: str | None,
    now: dt.datetime,
) -> list[Problem]:
    """Every problem of ``desired`` (and, with ``engine``, against the database), sorted.

    Problems with severity ``"error"`` make validation fail; warnings do not.
    Raises :class:`DatabaseError` when the database is unusable.
    """
    if engine is None:
        today = validation_day(at_text, now, desired.practice.timezone)
        return check_desired(desired, today=today)

    from reconciler.targets.native.engine import require_schema

    require_schema(engine)
    referenced = sorted({c.id for c in desired.clients} | {c.duplicate_of for c in desired.clients if c.duplicate_of})
    facts = read_db_facts(engine, referenced)
    today = validation_day(at_text, now, desired.practice.timezone or facts.timezone)
    problems = check_desired(desired, today=today, known_staff=facts.staff)
    problems += db_reference_problems(desired, facts)
    if any(p.severity == "error" for p in problems):
        # Planning a config with broken references would only repeat them less clearly.
        return sorted(problems, key=problem_key)

    from reconciler.app.workflow import compute_plan

    try:
        plan: Any = compute_plan(engine, desired, at_text=at_text, now=now, allow_mass_change=True)
    except (ValidationFailed, PlanRefused) as exc:
        problems += list(exc.problems) or [Problem(Location(), str(exc), "plan")]
    else:
        problems += [Problem(Location(), str(w), "plan_warning", "warning") for w in plan.warnings]
    return sorted(problems, key=problem_key)
