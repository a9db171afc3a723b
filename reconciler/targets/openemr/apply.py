"""Apply a plan to an OpenEMR database (the native executor's order, this target's pieces)::

    capabilities     every action type supported                  -> PlanRefused
    engines          every table the plan writes is InnoDB        -> PlanRefused (naming the table)
    exports          a fingerprint check, then the files (0600, never overwrite), before the transaction
    GET_LOCK + BEGIN                                              -> LockHeld
    fingerprint      re-read plan.scope, compare                  -> StalePlan
    writers          one conditional set-based writer per run      -> ApplyFailed
    audit            reconciler_audit_events (chained) + OpenEMR's log rows
    COMMIT, RELEASE_LOCK

All from BEGIN to COMMIT is one InnoDB transaction: an error rolls it back, a crash
or kill leaves the database as it was (and the server drops the named lock).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from reconciler.model.actions import ActionType as T, Plan
from reconciler.errors import ApplyFailed, PlanRefused, StalePlan
from reconciler.app.executor import (
    ApplyResult,
    _maybe_pause,
    _same_file,
    check_confirmations,
    planned_exports,
    seat_credits,
)
from reconciler.planner.scope import ReadScope
from reconciler.timeutil import parse_iso_z
from reconciler.app.audit import audit_rows

from .audit import write_audit, write_openemr_log
from .lock import locked_transaction
from .read import practice_tz, read_practice, read_scoped, user_ids
from .tables import client_links, log_comment_encrypt, seat_events, staff_facts
from .write import CAPABILITIES, UNSUPPORTED, WRITERS, WriteContext, writer_groups

_ENTITY_TABLES = {
    "staff": ("users", staff_facts.name, seat_events.name),
    "appointment": ("openemr_postcalendar_events",),
    "series": ("openemr_postcalendar_events",),
    "client": ("patient_data", client_links.name),
    "export": (),
}
_ALWAYS = ("log", "reconciler_audit_events")


def tables_written_by_types(kinds: set[T] | frozenset[T], with_checksums: bool) -> list[str]:
    """Every table an apply of these action types writes (OpenEMR's and the reconciler's)."""
    names = set(_ALWAYS) | ({log_comment_encrypt.name} if with_checksums else set())
    for kind in kinds:
        names.update(_ENTITY_TABLES[kind.entity])
    return sorted(names)


def tables_written(plan: Plan, with_checksums: bool) -> list[str]:
    return tables_written_by_types({a.type for a in plan.actions}, with_checksums)


def check_capabilities(plan: Plan) -> None:
    bad = [a for a in plan.actions if a.type not in CAPABILITIES]
    if bad:
        a = bad[0]
        raise PlanRefused(f"{a.type.entity} {a.target}: {a.type.value} is not supported by the openemr target "
                          f"({UNSUPPORTED.get(a.type, 'no writer')}); nothing was changed")


def check_transactional(conn: Connection, tables: Sequence[str]) -> None:
    """Refuse when a table the apply would write is not InnoDB (old installations have MyISAM)."""
    rows = conn.execute(text("SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES "
                             "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME")).all()
    engines = {name: eng for name, eng in rows}
    missing = [t for t in tables if t not in engines]
    if missing:
        raise PlanRefused(f"table {missing[0]} does not exist in this database "
                          "(run `reconciler db init --target openemr` on an OpenEMR database); nothing was changed")
    bad = [(t, engines[t]) for t in tables if (engines[t] or "").lower() != "innodb"]
    if bad:
        t, eng = bad[0]
        raise PlanRefused(f"table {t} uses the {eng} storage engine, which is not transactional: the apply "
                          f"could not be all or nothing, so it is refused; convert it (ALTER TABLE {t} ENGINE=InnoDB, "
                          "after a backup) and apply again; nothing was changed")


def has_checksum_table(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                                  "AND TABLE_NAME = 'log_comment_encrypt'")).scalar())


def check_fingerprint(conn: Connection, plan: Plan) -> None:
    try:
        scope = ReadScope.from_json(plan.scope)
    except ValueError as exc:
        raise PlanRefused(f"plan {plan.plan_id} carries no usable read scope ({exc}): re-run plan; "
                          "nothing was changed") from None
    now = read_scoped(conn, scope).fingerprint()
    if now != plan.db_fingerprint:
        raise StalePlan(f"stale plan {plan.plan_id}: the rows it depends on changed since it was made "
                        f"(fingerprint {plan.db_fingerprint[:19]}... is now {now[:19]}...); "
                        "re-run plan and apply the new plan; nothing was changed")


def apply_plan(engine: Engine, plan: Plan, *, actor: str, confirm_delete: tuple[str, ...] = (),
               export_dir: Path = Path("exports"), lock_timeout: float = 10.0, progress: bool = False,
               now: dt.datetime | None = None) -> ApplyResult:
    """Apply ``plan`` to OpenEMR, all or nothing (see the module docstring)."""
    from reconciler.app.exports import ensure_dir, refuse_existing, render_export, write_new_file
    from .exports import collect_staff

    plan_id = plan.plan_id
    if plan.is_empty:
        return ApplyResult(plan_id, 0, 0)
    check_capabilities(plan)
    check_confirmations(plan, confirm_delete)
    exports = planned_exports(plan, export_dir)
    as_of = parse_iso_z(plan.as_of)
    created: list[Path] = []
    reused: list[Path] = []
    committing = False
    try:
        with engine.connect() as conn:
            checksums = has_checksum_table(conn)
            check_transactional(conn, tables_written(plan, checksums))
            if exports:
                check_fingerprint(conn, plan)
                rendered = [(e.path, render_export(collect_staff(conn, e.action.target), e.fmt, as_of)) for e in exports]
                fresh = []
                for path, body in rendered:
                    if _same_file(path, body):
                        reused.append(path)
                    else:
                        refuse_existing(path)
                        fresh.append((path, body))
                if fresh:
                    ensure_dir(export_dir)
                for path, body in fresh:
                    write_new_file(path, body)
                    created.append(path)
        with locked_transaction(engine, timeout=lock_timeout) as conn:
            check_fingerprint(conn, plan)
            ctx = WriteContext(plan_id=plan_id, as_of=as_of, tz=practice_tz(read_practice(conn)), uid=user_ids(conn),
                               seat_credits=seat_credits(plan))
            for i, group in enumerate(writer_groups(plan.actions), 1):
                WRITERS[group[0].type](conn, group, ctx)
                _maybe_pause(i)
            stamp = now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            rows = audit_rows(plan, actor=actor, at=stamp, plan_id=plan_id)
            events = write_audit(conn, rows)
            write_openemr_log(conn, rows, notes=ctx.notes, with_checksums=checksums)
            committing = True
    except BaseException as exc:
        if not committing:
            for path in created:
                path.unlink(missing_ok=True)
        if isinstance(exc, sa_exc.DBAPIError):
            first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [exc.__class__.__name__])[0]
            if committing:
                raise ApplyFailed(f"database error while committing plan {plan_id}: {first}; "
                                  "run `reconciler plan` to see whether it took effect") from None
            raise ApplyFailed(f"database error while applying plan {plan_id}: {first}; "
                              "the transaction was rolled back and nothing was changed") from None
        raise
    return ApplyResult(plan_id, len(plan.actions), events, tuple(sorted(created + reused)))
