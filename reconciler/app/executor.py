"""Apply a plan: decides nothing the plan did not say.

Order of work (SPEC §3.5, §4 "Saved plans and safety")::

    pure checks      every client.delete named by --confirm-delete; export file
                     names valid and not already present           -> PlanRefused / ExportError
    exports          only if the plan has export.write actions: a read that checks the
                     fingerprint and the deletion actor, then every export file (0600,
                     O_EXCL, fsync) — before the transaction starts
    lock + BEGIN     target.locked(...) (waits at most lock_timeout) -> LockHeld
    saved plan       ``session_checks`` (apply PLANFILE, app.saved): not already applied,
                     not stale by time, the config re-planned gives this very plan
                                                                     -> PlanRefused / StalePlan
    fingerprint      re-read plan.scope (session.read_scoped), compare with
                     plan.db_fingerprint                             -> StalePlan
                     (not again when the saved plan's checks just re-planned it to
                     the same plan_id in this transaction: that read was the same)
    deletion rules   the actor is an active owner / practice manager /
                     entire-practice staff id                        -> PlanRefused
    writers          one set-based writer per run of consecutive same-type actions,
                     in plan order (session.write; the target's writers)                -> ApplyFailed
    audit            one hash-chained event per action (executemany), with the
                     signer of each approved deletion and any time travel
    COMMIT

Everything from BEGIN to COMMIT is one transaction: an error rolls it back (and the
export files this apply created are removed again); a crash or kill leaves the
database as it was. Exports are written before the transaction, after a first
fingerprint and deletion check, so that a stale or refused plan never leaves a PHI
file behind; the checks are repeated under the lock. An export file is never overwritten; one already holding exactly the bytes this plan
would write (left by an interrupted apply of the same plan) is kept and reused, so
the plan can simply be applied again after a crash.

``after_group`` (an argument, default none) is called after each writer group, still
inside the open transaction: tests use it to pause there and kill the process.
"""

from __future__ import annotations

import datetime as dt
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from reconciler.errors import ApplyFailed, ExportError, PlanRefused, StalePlan
from reconciler.model.actions import Action, ActionType, Plan
from reconciler.model.limits import INT32_MAX
from reconciler.progress import progress_bar
from reconciler.timeutil import parse_iso_z

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.targets.base import ReadSession, Target


DELETE_ROLES = ("owner", "practice_manager")
DELETE_ACCESS = "entire_practice"
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ApplyResult:
    """What an apply did."""

    plan_id: str
    actions: int
    audit_events: int
    exports: tuple[Path, ...] = ()

    def summary_line(self) -> str:
        """``Apply complete: 25 actions, 25 audit events (plan plan-ab12...)``."""

        def n(count: int, word: str) -> str:
            return f"{count} {word}" if count == 1 else f"{count} {word}s"

        return (
            f"Apply complete: {n(self.actions, 'action')}, {n(self.audit_events, 'audit event')} (plan {self.plan_id})"
        )


@dataclass(frozen=True)
class PlannedExport:
    action: Action
    fmt: str
    path: Path
    of_client: bool  # a deleted client's records (else a leaving professional's)


# ---------------------------------------------------------------- checks before the lock
def check_confirmations(plan: Plan, confirm_delete: Sequence[str]) -> None:
    """Every ``client.delete`` target must be named by ``--confirm-delete``."""
    missing = sorted({a.target for a in plan.actions if a.type is ActionType.CLIENT_DELETE} - set(confirm_delete))
    if missing:
        flags = " ".join(f"--confirm-delete {m}" for m in missing)
        raise PlanRefused(
            f"the plan deletes client(s) {', '.join(missing)}: confirm each on the command line "
            f"({flags}); nothing was changed"
        )


def planned_exports(plan: Plan, export_dir: Path) -> list[PlannedExport]:
    """The export files the plan asks for, checked: a plain file name, a known
    format, no name twice. (Whether a file is already there is checked inside the
    lock, after the fingerprint: a re-applied plan is reported stale, not blocked.)"""
    out: list[PlannedExport] = []
    seen: set[str] = set()
    # The planner writes a client's export only ahead of that client's deletion.
    deleted = {a.target for a in plan.actions if a.type is ActionType.CLIENT_DELETE}
    for a in plan.actions:
        if a.type is not ActionType.EXPORT_WRITE:
            continue
        fmt = a.changes.get("format", (None, None))[1]
        name = a.changes.get("file", (None, None))[1]
        if fmt not in ("fhir", "csv"):
            raise ExportError(f"export.write {a.target} (action #{a.id}): unknown format {fmt!r}; nothing was changed")
        if not isinstance(name, str) or not _SAFE_FILE.match(name) or name in seen:
            raise ExportError(
                f"export.write {a.target} (action #{a.id}): unusable file name {name!r} "
                "(a plain name, once per plan); nothing was changed"
            )
        seen.add(name)
        path = export_dir / name
        out.append(PlannedExport(a, fmt, path, a.target in deleted))
    return out


# ---------------------------------------------------------------- checks inside the lock
def check_database(session: "ReadSession", plan: Plan) -> None:
    """Refuse (PlanRefused) a plan whose ``extra.db_id`` (the identity of the database
    it was planned against, see :meth:`ReadSession.database_id`) is not this database's:
    such a plan is not stale, it was made against another database."""
    made_on = plan.extra.get("db_id") if plan.extra else None
    if made_on:
        here = session.database_id()
        if here is not None and here != made_on:
            raise PlanRefused(
                f"plan {plan.plan_id} was made against another database (database id "
                f"{str(made_on)[:12]}, this one is {here[:12]}): make the plan against this "
                "database; check --db / --target; nothing was changed"
            )


def check_fingerprint(session: "ReadSession", plan: Plan) -> None:
    """Refuse a plan made against another database (PlanRefused); re-read what the
    plan read and refuse (StalePlan) if it changed."""
    from reconciler.planner.scope import ReadScope

    check_database(session, plan)
    try:
        scope = ReadScope.from_json(plan.scope)
    except ValueError as exc:
        raise PlanRefused(
            f"plan {plan.plan_id} carries no usable read scope ({exc}): re-run plan; nothing was changed"
        ) from None
    now = session.read_scoped(scope).fingerprint()
    if now != plan.db_fingerprint:
        raise StalePlan(
            f"stale plan {plan.plan_id}: the rows it depends on changed since it was made "
            f"(fingerprint {plan.db_fingerprint[:19]}... is now {now[:19]}...); "
            "re-run plan and apply the new plan; nothing was changed"
        )


def _checks_and_fingerprint(
    session: "ReadSession", plan: Plan, session_checks: Callable[["ReadSession"], object] | None
) -> None:
    """``session_checks`` (a saved plan's), then the fingerprint check, unless the
    checks returned a re-plan made in this session with the plan's very id: the id
    digests the fingerprint and the scope, so that re-plan has already re-read the
    plan's rows here and found them unchanged (reading and digesting them again
    would cost a tenth of a large apply)."""
    replanned = session_checks(session) if session_checks is not None else None
    if isinstance(replanned, Plan) and replanned.plan_id == plan.plan_id:
        return
    check_fingerprint(session, plan)


def check_deletion_actor(session: "ReadSession", plan: Plan, actor: str) -> None:
    """``client.delete`` needs an active staff id whose role is owner or practice
    manager or whose access is the entire practice."""
    deletes = sorted(a.target for a in plan.actions if a.type is ActionType.CLIENT_DELETE)
    if not deletes:
        return
    need = (
        "--actor must be the staff id of an active owner, practice manager or staff member with entire-practice access"
    )
    row = session.staff_access(actor)
    if row is None:
        why = f"{actor!r} is not a staff id"
    elif not row.active:
        why = f"staff {actor} is inactive"
    elif row.role in DELETE_ROLES or row.access == DELETE_ACCESS:
        return
    else:
        why = f"staff {actor} is a {row.role} with {row.access} access"
    raise PlanRefused(f"the plan deletes client(s) {', '.join(deletes)}: {need}; {why}; nothing was changed")


def seat_credits(plan: Plan) -> dict[str, int]:
    """Per-staff seat credit in cents from ``plan.extra["seat_credits"]`` (a mapping
    staff -> cents or -> {"credit_cents": n}, or a list of {"staff", "credit_cents"})."""
    raw: Any = plan.extra.get("seat_credits") if plan.extra else None
    out: dict[str, int] = {}
    items: list[tuple[Any, Any]] = []
    if isinstance(raw, Mapping):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = [(d.get("staff") or d.get("staff_id"), d) for d in raw if isinstance(d, Mapping)]
    for staff, v in items:
        cents = v.get("credit_cents") if isinstance(v, Mapping) else v
        if staff is not None and isinstance(cents, int) and not isinstance(cents, bool):
            if abs(cents) > INT32_MAX:  # seat events store it in an INTEGER column
                raise PlanRefused(f"seat credit {cents} for {staff} is out of range; nothing was changed")
            out[str(staff)] = cents
    return out


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _same_file(path: Path, data: bytes) -> bool:
    """``path`` is a private regular file (not a link) holding exactly ``data``."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o600 or st.st_size != len(data):
        return False
    return path.read_bytes() == data


def _write_exports(
    session: "ReadSession",
    exports: Sequence[PlannedExport],
    export_dir: Path,
    as_of: dt.datetime,
    created: list[Path],
    reused: list[Path],
) -> None:
    """Render every export from the locked state, refuse any file already there,
    then create them (0600, fsync). An export's bytes depend only on the database
    rows and the plan's ``as_of``; so a file holding exactly these bytes can only be
    the export of this very plan left by an interrupted apply: it is kept as it is
    (not rewritten), which lets the same plan be applied again after a crash."""
    from reconciler.app.exports import (
        ensure_dir,
        refuse_existing,
        render_export,
        write_new_file,
    )

    rendered: list[tuple[Path, bytes]] = []
    for e in exports:
        data = session.export_data(e.action.target, client=e.of_client)
        rendered.append((e.path, render_export(data, e.fmt, as_of)))
    fresh = []
    for path, body in rendered:  # every refusal before the first file is made
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


# ---------------------------------------------------------------- apply
def apply_plan(
    target: "Target",
    plan: Plan,
    *,
    actor: str,
    confirm_delete: tuple[str, ...] = (),
    export_dir: Path = Path("exports"),
    lock_timeout: float = 10.0,
    progress: bool = False,
    now: dt.datetime | None = None,
    after_group: Callable[[int], None] | None = None,
    on_commit: Callable[[], None] | None = None,
    after_commit: Callable[[], None] | None = None,
    session_checks: Callable[["ReadSession"], object] | None = None,
    signers: Mapping[str, str] | None = None,
    time_travel: dt.datetime | None = None,
) -> ApplyResult:
    """Apply ``plan`` exactly, all or nothing (see the module docstring for the order).

    ``now`` stamps the audit events (default: the wall clock); the database writes
    use the plan's ``as_of``. ``after_group(n)`` runs after the n-th writer group,
    inside the transaction (a test seam). ``on_commit()`` runs just before the COMMIT
    is sent (the CLI defers signals from there on: see ``reconciler.app.interrupts``);
    ``after_commit()`` right after it (a test seam). Raises PlanRefused, ExportError,
    LockHeld, StalePlan or ApplyFailed, each after changing nothing. ``session_checks``
    runs in the read before the export files and again first thing under the lock (a
    saved plan's checks); ``signers`` (client id -> staff id of its approval's signer)
    and ``time_travel`` (an ``--at`` far from the clock) go into the audit events.
    """
    from reconciler.app.audit import write_audit
    from reconciler.targets.base import WriteContext

    plan_id = plan.plan_id
    if plan.is_empty:
        return ApplyResult(plan_id, 0, 0)
    check_confirmations(plan, confirm_delete)
    missing = sorted({a.type.value for a in plan.actions} - {t.value for t in target.capabilities})
    if missing:
        raise PlanRefused(f"target {target.name} cannot apply {', '.join(missing)}; nothing was changed")
    exports = planned_exports(plan, export_dir)
    as_of = parse_iso_z(plan.as_of)
    ctx = WriteContext(plan_id=plan_id, as_of=as_of, seat_credits=seat_credits(plan))
    groups = target.writer_groups(plan.actions)
    created: list[Path] = []
    reused: list[Path] = []
    committing = False
    try:
        if exports:
            # Exports are written before the transaction starts (SPEC §3.1: before anything
            # changes), from a read that first checks the plan is current and the actor
            # may apply it, so that a stale or refused plan leaves no file of PHI behind.
            with target.reading() as session:
                _checks_and_fingerprint(session, plan, session_checks)
                check_deletion_actor(session, plan, actor)
                _write_exports(session, exports, export_dir, as_of, created, reused)
        with target.locked(
            actor=actor,
            plan_id=plan_id,
            timeout=lock_timeout,
            on_wait=lambda who: _say(progress, f"waiting for the apply lock held by {who}"),
        ) as tx:
            # Authoritative checks, under the lock: the database may have moved since.
            _checks_and_fingerprint(tx, plan, session_checks)
            check_deletion_actor(tx, plan, actor)
            with progress_bar(len(plan.actions), f"Applying {plan_id}", enabled=progress) as bar:
                for i, group in enumerate(groups, 1):
                    tx.write(group, ctx)
                    bar.advance(len(group))
                    if after_group is not None:
                        after_group(i)
            events = write_audit(
                tx,
                plan,
                actor=actor,
                plan_id=plan_id,
                at=now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
                signers=signers,
                time_travel=time_travel,
            )
            if on_commit is not None:
                on_commit()
            committing = True
        if after_commit is not None:
            after_commit()
    except BaseException as exc:
        if not committing:
            # Rolled back: the files this apply made describe a change that did not happen.
            for path in created:
                path.unlink(missing_ok=True)
        line = target.error_line(exc) if isinstance(exc, Exception) else None
        if line is not None:
            if not committing:
                # Most likely an uninitialised or outdated database: say so. (Checked only on
                # failure: the schema check imports Alembic, a large share of apply's budget,
                # and a plan is only made against a database at the current schema.)
                target.require_schema()
            if committing:
                raise ApplyFailed(
                    f"database error while committing plan {plan_id}: {line}; "
                    "run `reconciler plan` to see whether it took effect"
                ) from None
            raise ApplyFailed(
                f"database error while applying plan {plan_id}: {line}; "
                "the transaction was rolled back and nothing was changed"
            ) from None
        raise
    return ApplyResult(plan_id, len(plan.actions), events, tuple(sorted(created + reused)))


__all__ = [
    "ApplyResult",
    "apply_plan",
    "check_confirmations",
    "check_deletion_actor",
    "check_fingerprint",
    "planned_exports",
    "seat_credits",
]
