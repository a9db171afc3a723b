"""One function per command (the shape of Alembic's ``command.py``).

Each takes the parsed options, does the work through the other ``app`` modules and
a target, writes through ``echo`` (``echo(text, err=False, nl=True)``) and returns
the exit code. ``cli.py`` only parses, calls one of these and maps errors to exit
codes. ``now`` is an argument everywhere: the clock is read once, at the edge.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from reconciler.errors import ReconcilerError

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.targets.base import Target


class Echo(Protocol):
    def __call__(self, message: str, *, err: bool = False, nl: bool = True) -> None: ...


def open_target(target: str | None, db: str | None, *, create: bool = False) -> "Target":
    """The target (``--target``/$RECONCILER_TARGET, default native) at ``--db``. Only
    ``create`` (``db init``, ``db upgrade``) may make a new SQLite file; every other
    command names a missing one instead of leaving an empty file behind."""
    from reconciler.targets import open_target as _open

    return _open(target, db, create=create)


def validate(
    echo: Echo,
    config_dir: Path,
    *,
    target: str | None,
    db: str | None,
    at: str | None,
    fmt: str,
    now: dt.datetime,
) -> int:
    from reconciler.app.validation import validate_config
    from reconciler.config.loader import load_config
    from reconciler.errors import ConfigError, Location, Problem
    from reconciler.render.diagnostics import format_problems

    try:
        desired = load_config(config_dir)
        tgt = open_target(target, db) if db else None
        problems = validate_config(desired, tgt, at_text=at, now=now)
    except ConfigError as exc:
        if fmt != "json":
            raise  # the CLI shows it in the same shape (format_problems)
        problems = list(exc.problems) or [Problem(exc.location or Location(), str(exc))]
    errors = [p for p in problems if p.severity == "error"]
    if fmt == "json":
        echo(
            json.dumps(
                {"valid": not errors, "problems": [p.to_json() for p in problems]},
                indent=2,
            )
        )
    else:
        if problems:
            echo(format_problems(problems), err=True)
        if not errors:
            echo(f"{config_dir}: valid")
    return 1 if errors else 0


def plan(
    echo: Echo,
    config_dir: Path,
    *,
    target: str | None,
    db: str | None,
    at: str | None,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    allow_mass_change: bool,
    now: dt.datetime,
    color: bool,
) -> int:
    from reconciler.app.workflow import compute_plan, render_plan, save_plan
    from reconciler.config.loader import load_config

    desired = load_config(config_dir)
    tgt = open_target(target, db)
    p = compute_plan(tgt, desired, at_text=at, now=now, allow_mass_change=allow_mass_change)
    if fmt == "html" and out is not None:  # the report is the file asked for (a saved plan is JSON)
        from reconciler.app.workflow import save_report

        save_report(render_plan(p, fmt), out)
        echo(f"Wrote the HTML report of {p.plan_id} to {out}", err=True)
        out = None
    else:
        echo(render_plan(p, fmt, color=color and fmt == "text"), nl=False)
    if out is not None:
        save_plan(p, out)
        echo(f"Saved plan {p.plan_id} to {out}", err=True)
    return 2 if detailed_exitcode and not p.is_empty else 0


def apply(
    echo: Echo,
    planfile: Path | None,
    config_dir: Path,
    *,
    target: str | None,
    db: str | None,
    at: str | None,
    actor: str | None,
    auto_approve: bool,
    confirm_delete: tuple[str, ...],
    export_dir: Path,
    allow_mass_change: bool,
    lock_timeout: float,
    now: dt.datetime,
    confirm: Callable[[str], bool],
    interactive: bool,
    color: bool,
    progress: bool,
    approvals: tuple[Path, ...] = (),
    allow_time_travel: bool = False,
) -> int:
    """Apply a saved plan (authenticated against the config, SPEC §7.4) or plan and apply.

    ``now`` is the real clock: it judges approvals' expiry and stamps the audit events;
    ``--at`` (``at``) is the apply's time for everything else, within five minutes of
    the clock unless ``allow_time_travel``."""
    from reconciler.app import saved
    from reconciler.app.approvals import check_approvals, practice_name
    from reconciler.app.executor import check_confirmations, check_database
    from reconciler.app.notify import send, summary
    from reconciler.app.workflow import (
        apply_plan,
        compute_plan,
        load_plan,
        render_plan,
        resolve_actor,
    )
    from reconciler.config.loader import load_config
    from reconciler.model.actions import ActionType

    who = resolve_actor(actor)
    session_checks: Callable[[Any], object] | None = None
    if planfile is not None:
        p = load_plan(planfile)  # a damaged or edited plan file is named before any database work
        desired = load_config(config_dir)
        tgt = open_target(target, db)
        tgt.require_schema()
        with tgt.reading() as session:
            check_database(session, p)  # a plan made elsewhere is not "stale" nor "config changed"
            saved.check_not_applied(session, p)
        saved.check_config(p, desired, config_dir)
        when = saved.apply_instant(
            at,
            saved.practice_tz(tgt, desired),
            now,
            allow_time_travel=allow_time_travel,
        )
        saved.check_times(p, when.at)

        # a revert plan (SPEC §8.6) is re-planned from the audit events of the plan it reverts
        reverted = saved.revert_of(p)
        events = tgt.read_audit(reverted) if reverted is not None else None

        def session_checks(session: Any) -> object:
            return saved.check_in_session(session, p, desired, at=when.at, now=now, revert_events=events)
    else:
        desired = load_config(config_dir)
        tgt = open_target(target, db)
        tgt.require_schema()
        when = saved.apply_instant(
            at,
            saved.practice_tz(tgt, desired),
            now,
            allow_time_travel=allow_time_travel,
        )
        p = compute_plan(tgt, desired, at_text=at, now=now, allow_mass_change=allow_mass_change)
    if p.is_empty:
        echo("No changes. The practice matches the configuration.")
        return 0
    deletes = [a.target for a in p.actions if a.type is ActionType.CLIENT_DELETE]
    signers: dict[str, str] = {}
    if deletes:
        check_confirmations(p, confirm_delete)
        signers = check_approvals(approvals, desired, practice_name(desired, tgt), deletes, now=now)
    if not auto_approve:
        echo(render_plan(p, "text", color=color), nl=False)
        if not interactive:
            raise ReconcilerError(
                "refusing to apply without confirmation: stdin is not a terminal (use --auto-approve)"
            )
        if not confirm("Apply these changes?"):
            raise ReconcilerError("apply cancelled; nothing was changed")
    from reconciler.app.interrupts import Interrupted, SignalRaised, apply_signals

    hooks = list(desired.practice.notify)
    with apply_signals() as signals:
        try:
            result = apply_plan(
                tgt,
                p,
                actor=who,
                confirm_delete=confirm_delete,
                export_dir=export_dir,
                lock_timeout=lock_timeout,
                progress=progress,
                session_checks=session_checks,
                signers=signers,
                time_travel=when.time_travel,
                on_commit=signals.start,
            )
        except KeyboardInterrupt as exc:  # before the commit started: rolled back
            signum = exc.signum if isinstance(exc, SignalRaised) else 2
            raise Interrupted("Interrupted: nothing was changed", signum) from None
        except ReconcilerError as exc:
            if hooks:  # SPEC §8.7: told, never changing the outcome (send never raises)
                send(hooks, "failed", summary("failed", p, actor=who, error=type(exc).__name__))
            if signals.received is not None:
                echo(
                    "Interrupted while committing; the error above says whether it took effect",
                    err=True,
                )
            raise
        echo(result.summary_line())
        if hooks:
            send(hooks, "applied", summary("applied", p, actor=who))
        if signals.received is not None:
            raise Interrupted(
                "Interrupted after the changes were committed (the apply is complete)",
                signals.received,
            )
    return 0


def approve_delete(
    echo: Echo,
    client_ids: tuple[str, ...],
    config_dir: Path,
    *,
    target: str | None,
    db: str | None,
    key: Path,
    expires: str,
    out: Path,
    signer: str | None,
    now: dt.datetime,
) -> int:
    """Write a signed approval for deleting ``client_ids`` (SPEC §7.2)."""
    from reconciler.app.approvals import make_approval_file
    from reconciler.config.loader import load_config

    desired = load_config(config_dir)
    tgt = open_target(target, db) if (db or not desired.practice.name) else None
    who, practice = make_approval_file(
        desired,
        tgt,
        list(client_ids),
        key=key,
        expires=expires,
        out=out,
        signer=signer,
        now=now,
    )
    echo(
        f"wrote {out}: approval by {who} to delete {', '.join(sorted(set(client_ids)))} in {practice}",
        err=True,
    )
    return 0


def watch(
    config_dir: Path,
    *,
    target: str | None,
    db: str | None,
    interval: float,
    auto_apply: bool,
    actor: str | None,
    export_dir: Path,
    log_format: str,
    git: bool = False,
    branch: str | None = None,
    settle: float = 10.0,
    metrics_addr: str | None = None,
) -> int:
    from reconciler.app.watch import run_watch
    from reconciler.app.workflow import resolve_actor

    if metrics_addr is not None:  # a bad flag is reported before the database is touched
        from reconciler.app.metrics import parse_address

        parse_address(metrics_addr)
    return run_watch(
        config_dir,
        open_target(target, db),
        interval=interval,
        auto_apply=auto_apply,
        actor=resolve_actor(actor),
        export_dir=export_dir,
        log_format=log_format,
        git=git,
        branch=branch,
        settle=settle,
        metrics_addr=metrics_addr,
    )


def import_(echo: Echo, *, target: str | None, db: str | None, out: Path, now: dt.datetime) -> int:
    from reconciler.app.importer import import_config

    for path in import_config(open_target(target, db), out, now=now):
        echo(f"wrote {path}")
    return 0


def export(
    echo: Echo,
    *,
    target: str | None,
    db: str | None,
    staff_id: str,
    fmt: str,
    out: Path,
) -> int:
    from reconciler.app.exports import export_staff
    from reconciler.app.workflow import require_parent

    require_parent(out, "cannot write the export")
    n = export_staff(open_target(target, db), staff_id, fmt, out)
    echo(f"wrote {out} ({n} clients)")
    return 0


def audit(
    echo: Echo,
    *,
    target: str | None,
    db: str | None,
    plan_id: str | None,
    fmt: str,
    staff: str | None = None,
    client: str | None = None,
    actor: str | None = None,
    type_: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> int:
    """The audit trail, filtered in the database (SPEC §8.5). ``--since``/``--until`` take
    an ISO date or date-time (naive: practice timezone); a date given to ``--until``
    includes that whole day."""
    from reconciler.app.audit import format_audit, read_audit
    from reconciler.model.records import AuditFilter
    from reconciler.timeutil import parse_at, start_of_day

    tgt = open_target(target, db)
    tz = "UTC"
    if since or until:
        tgt.require_schema()
        with tgt.reading() as rs:
            practice, _staff = rs.read_base()
        tz = practice.timezone if practice is not None else "UTC"

    def when(flag: str, text: str | None, *, end: bool) -> dt.datetime | None:
        if not text:
            return None
        try:
            if end and len(text.strip()) == 10:
                return start_of_day(dt.date.fromisoformat(text.strip()) + dt.timedelta(days=1), tz)
            return parse_at(text, tz)
        except ValueError as exc:
            raise ReconcilerError(str(exc).replace("--at", flag, 1)) from None

    where = AuditFilter(
        plan_id=plan_id,
        staff=staff,
        client=client,
        actor=actor,
        type=type_,
        since=when("--since", since, end=False),
        until=when("--until", until, end=True),
    )
    echo(format_audit(read_audit(tgt, where=where), fmt), nl=False)
    return 0


def revert(
    echo: Echo,
    plan_id: str,
    config_dir: Path,
    *,
    target: str | None,
    db: str | None,
    at: str | None,
    out: Path | None,
    fmt: str,
    auto_approve: bool,
    actor: str | None,
    export_dir: Path,
    lock_timeout: float,
    now: dt.datetime,
    confirm: Callable[[str], bool],
    interactive: bool,
    color: bool,
    allow_time_travel: bool = False,
) -> int:
    """``revert PLAN_ID`` (SPEC §8.6): build the revert plan; save it with ``--out``; apply it
    with ``--auto-approve`` (or after a confirmation on a terminal) with the checks of a
    saved plan (SPEC §7.4: ``--at`` within five minutes unless ``allow_time_travel``; in the
    locked transaction, re-planning the revert must give the same plan)."""
    from reconciler.app import saved
    from reconciler.app.notify import send, summary
    from reconciler.app.revert import build_revert, revert_events
    from reconciler.app.workflow import apply_plan, render_plan, resolve_actor, save_plan
    from reconciler.config.loader import load_config
    from reconciler.timeutil import iso_z, resolve_at

    who = resolve_actor(actor)
    desired = load_config(config_dir)
    tgt = open_target(target, db)
    tgt.require_schema()
    tz = saved.practice_tz(tgt, desired)
    may_apply = auto_approve or (out is None and interactive)
    # Applying takes the apply's time rules; only showing or saving reads --at as `plan` does.
    when = saved.apply_instant(at, tz, now, allow_time_travel=allow_time_travel) if may_apply else None
    at_ = when.at if when is not None else resolve_at(at, tz, now)
    events = revert_events(tgt, plan_id)
    result = build_revert(tgt, plan_id, desired, at=at_)
    p = dataclasses.replace(result.plan, generated_at=iso_z(now))
    echo(render_plan(p, fmt, color=color and fmt == "text"), nl=False)
    if out is not None:
        save_plan(p, out)
        echo(f"Saved plan {p.plan_id} to {out}", err=True)
    if p.is_empty or when is None:
        if not p.is_empty and out is None:
            echo("Not applied (use --auto-approve, or --out FILE and `reconciler apply FILE`).", err=True)
        return 0
    if not auto_approve and not confirm("Apply this revert?"):
        raise ReconcilerError("revert cancelled; nothing was changed")

    apply_at = when.at

    def session_checks(session: Any) -> object:
        return saved.check_in_session(session, p, desired, at=apply_at, now=now, revert_events=events)

    hooks = list(desired.practice.notify)
    try:
        applied = apply_plan(
            tgt,
            p,
            actor=who,
            confirm_delete=(),
            export_dir=export_dir,
            lock_timeout=lock_timeout,
            progress=False,
            session_checks=session_checks,
            time_travel=when.time_travel,
        )
    except ReconcilerError as exc:
        if hooks:  # SPEC §8.7: told, never changing the outcome (send never raises)
            send(hooks, "failed", summary("failed", p, actor=who, error=type(exc).__name__))
        raise
    echo(applied.summary_line())
    if hooks:
        send(hooks, "applied", summary("applied", p, actor=who))
    return 0


def show(
    echo: Echo,
    kind: str,
    ident: str,
    *,
    target: str | None,
    db: str | None,
    config_dir: Path | None,
    at: str | None,
    fmt: str,
    now: dt.datetime,
) -> int:
    """``show staff ID`` / ``show client ID`` (SPEC §8.4)."""
    from reconciler.app.show import format_show, show_client, show_staff

    desired = None
    if config_dir is not None:
        from reconciler.config.loader import load_config

        desired = load_config(config_dir)
    tgt = open_target(target, db)
    fn = show_staff if kind == "staff" else show_client
    echo(format_show(fn(tgt, ident, desired=desired, at_text=at, now=now), fmt), nl=False)
    return 0


def audit_verify(echo: Echo, *, target: str | None, db: str | None, fmt: str) -> int:
    from reconciler.app.audit import format_verify, verify_audit

    result = verify_audit(open_target(target, db))
    if not result.ok and fmt != "json":
        raise ReconcilerError(format_verify(result, fmt).rstrip("\n"))
    echo(format_verify(result, fmt), nl=False)
    return 0 if result.ok else 1


def status(
    echo: Echo,
    *,
    target: str | None,
    db: str | None,
    at: str | None,
    fmt: str,
    now: dt.datetime,
    check: bool = False,
    config_dir: Path | None = None,
) -> int:
    from reconciler.app.status import collect_status, format_status

    if check:
        return status_check(echo, target=target, db=db, at=at, fmt=fmt, now=now, config_dir=config_dir)
    echo(
        format_status(collect_status(open_target(target, db), at_text=at, now=now), fmt),
        nl=False,
    )
    return 0


def status_check(
    echo: Echo,
    *,
    target: str | None,
    db: str | None,
    at: str | None,
    fmt: str,
    now: dt.datetime,
    config_dir: Path | None,
) -> int:
    """SPEC §7.3: exit 1 listing every violation, 0 when there is none."""
    from reconciler.app.compliance import check_compliance, format_check
    from reconciler.config.loader import load_config

    desired = load_config(config_dir) if config_dir is not None else None
    result = check_compliance(open_target(target, db), desired, at_text=at, now=now)
    echo(format_check(result, fmt), nl=False)
    return 0 if result["ok"] else 1


def db_init(echo: Echo, *, target: str | None, db: str | None) -> int:
    if open_target(target, db, create=True).init_schema():
        echo("database initialised")
    return 0


def db_upgrade(echo: Echo, *, target: str | None, db: str | None) -> int:
    rev = open_target(target, db, create=True).upgrade_schema()
    echo(f"database at revision {rev}")
    return 0


def _native(target: str | None, db: str | None) -> Any:
    """Snapshots are the native schema's format (SPEC §1, §6: native only)."""
    from reconciler.errors import ReconcilerError
    from reconciler.targets import resolve_name

    if resolve_name(target) != "native":
        raise ReconcilerError(
            f"db load and db dump are for the native target only, not {resolve_name(target)} "
            "(SPEC §6); use import to describe that database in a config"
        )
    return open_target(target, db)


def db_load(echo: Echo, file: Path, *, target: str | None, db: str | None, progress: bool) -> int:
    counts = _native(target, db).load_snapshot(file, progress=progress)
    echo("loaded " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


def db_dump(echo: Echo, *, target: str | None, db: str | None, out: Path | None) -> int:
    fmt = "json" if out is not None and out.suffix.lower() == ".json" else "yaml"
    text = _native(target, db).dump_snapshot(fmt)
    if out is None:
        echo(text, nl=False)
    else:
        write_private_file(out, text)
    return 0


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600, whatever the
    umask): a snapshot holds client names (PHI), like an export file. An unwritable
    place is one :class:`ReconcilerError` naming the file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise ReconcilerError(f"{path}: cannot write the file ({exc.strerror})") from None
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ReconcilerError(f"{path}: cannot write the file ({exc.strerror})") from None


def demo(workdir: Path, *, target: str | None = None, db: str | None = None) -> int:
    from reconciler.app.demo import run_demo

    return run_demo(workdir, target_name=target, db=db)


__all__ = [
    "apply",
    "approve_delete",
    "audit",
    "audit_verify",
    "db_dump",
    "db_init",
    "db_load",
    "db_upgrade",
    "demo",
    "export",
    "import_",
    "open_target",
    "plan",
    "revert",
    "show",
    "status",
    "status_check",
    "validate",
    "watch",
    "write_private_file",
]
