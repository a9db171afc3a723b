"""The command line: parse, call the library, write, map errors to exit codes.

Exit codes (SPEC §4): 0 success / empty plan, 1 any error (usage errors too),
2 plan has actions (only with ``--detailed-exitcode``), 130 Ctrl-C (143 SIGTERM during
``apply``). An interrupted ``apply`` says whether anything changed: "Interrupted:
nothing was changed" before its commit started; after it, the normal success line and
"Interrupted after the changes were committed", with the same exit code
(``reconciler.app.interrupts``). Every
:class:`ReconcilerError` is printed once to stderr as a located message; any other
exception is one line that quotes no data (it could hold PHI); ``--debug`` shows
the traceback instead.
Heavy imports (SQLAlchemy, watchdog) happen inside the commands that need them, so
``reconciler validate`` without ``--db`` stays light.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, NoReturn, TypeVar

import click
from click.shell_completion import CompletionItem

from reconciler.app import commands
from reconciler.app.interrupts import Interrupted
from reconciler.errors import ConfigError, ReconcilerError, ValidationFailed
from reconciler.model.actions import ActionType
from reconciler.render import FORMATS as PLAN_FORMATS

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "practice"


class Ctx:
    debug: bool = False
    target: str | None = None


def _handle_errors(fn: F) -> F:
    """Render user errors once, exit 1; show a traceback only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Interrupted as exc:  # says whether anything changed (reconciler.app.interrupts)
            if Ctx.debug:
                raise
            _fail(str(exc), exc.exit_code, prefix="")
        except (ConfigError, ValidationFailed) as exc:
            if Ctx.debug:
                raise
            if not exc.problems:
                _fail(str(exc), exc.exit_code)
            # One shape for config problems in every command (validate's): a located
            # line per problem, then the count.
            from reconciler.render.diagnostics import format_problems

            _fail(format_problems(exc.problems), exc.exit_code, prefix="")
        except ReconcilerError as exc:
            if Ctx.debug:
                raise
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            if Ctx.debug:
                raise
            _fail("Interrupted.", 130, prefix="")
        except (SystemExit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
            if Ctx.debug:
                raise
            _fail(_unexpected(exc), 1)

    return wrapper  # type: ignore[return-value]


def _fail(message: str, code: int, prefix: str = "Error: ") -> NoReturn:
    click.echo(f"{prefix}{message}", err=True)
    sys.exit(code)


def _unexpected(exc: BaseException) -> str:
    """One line for an error no library function turned into a ReconcilerError.

    Never the exception's full text: a database error quotes its SQL parameters and a
    validation error its input, and either may hold a client's name (PHI). A file
    error names the file; a database error gives the driver's first line only.
    """
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return f"{where}{exc.strerror or exc.__class__.__name__}"
    from reconciler.targets import error_line

    line = error_line(exc)
    if line is not None:
        return f"database error: {line}"
    return f"unexpected {exc.__class__.__name__}; this is a bug in reconciler (re-run with --debug for the traceback)"


def _fewer_collections(fn: F) -> F:
    """Run a plan or apply command without the cyclic garbage collector.

    These commands build tens of thousands of small objects (rows, actions, JSON
    documents) that nearly all live until the command ends, over a heap of imported
    modules. With CPython's default thresholds (a collection every 700 new container
    objects) the collector walked them hundreds of times: about a fifth of a
    12,000-action plan's CPU and a sixth of a no-op plan's (raising the thresholds to
    100,000 still left a third of that). Both commands are bounded, one-shot work whose
    objects are freed by reference counting; the few reference cycles they leave
    (SQLAlchemy's, tracebacks) wait for the end of the command. The collector's state
    comes back afterwards (tests run many commands in one process; ``watch`` and
    ``db load`` never turn it off)."""
    import gc

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                # The command's survivors join the oldest generation unscanned: re-enabled
                # as they are, the next allocation would start a young collection over
                # every object made since the start (0.3 s after a large plan).
                gc.freeze()
                gc.unfreeze()
                gc.enable()

    return wrapper  # type: ignore[return-value]


def _echo(message: str, *, err: bool = False, nl: bool = True) -> None:
    click.echo(message, err=err, nl=nl)


def _done(code: int) -> None:
    """Exit with a command's non-zero code (0 returns normally)."""
    if code:
        sys.exit(code)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _seconds(
    allow_zero: bool,
) -> Callable[[click.Context, click.Parameter, float], float]:
    """A click callback: a finite number of seconds (> 0, or >= 0 with ``allow_zero``).
    nan and inf pass click's FLOAT type but would make a loop spin or a wait overflow."""
    import math

    def check(_ctx: click.Context, param: click.Parameter, value: float) -> float:
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            bound = "a finite number >= 0" if allow_zero else "a finite number > 0"
            raise click.BadParameter(f"{value} is not {bound} of seconds", param=param)
        return value

    return check


def _db_url(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--db ''`` is a mistake (an unset shell variable, say), not "the default database"."""
    if value is not None and not value.strip():
        raise click.BadParameter(
            "is empty: name a database URL, or leave --db out for the default",
            param=param,
        )
    return value


db_option = click.option(
    "--db",
    "db",
    metavar="URL",
    callback=_db_url,
    help="SQLAlchemy URL (default: $RECONCILER_DB, then sqlite:///practice.db).",
)
validate_db_option = click.option(
    "--db",
    "db",
    metavar="URL",
    callback=_db_url,
    help="Also check the config against this database. No database is used unless --db names one "
    "($RECONCILER_DB is not read here, so a CI job validates the files alone).",
)
config_option = click.option(
    "-c",
    "--config",
    "config_dir",
    default=DEFAULT_CONFIG,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Config directory.",
)
at_option = click.option(
    "--at",
    "at",
    metavar="TIME",
    help="Plan as of this ISO 8601 date or date-time instead of now.",
)


def _complete_target(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion of ``--target``: the known target names."""
    from reconciler.targets import known_names

    return [CompletionItem(name) for name in known_names() if name.startswith(incomplete)]


class _Group(click.Group):
    """A click group whose usage errors (unknown option, bad value, missing file)
    exit 1 like every other user error: exit 2 means "the plan has actions" under
    ``--detailed-exitcode`` (SPEC §4), and a CI job must not mistake a typo for it."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            setattr(exc, "exit_code", 1)  # click declares it per class; this one instance exits 1
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            setattr(exc, "exit_code", 1)  # click declares it per class; this one instance exits 1
            raise


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--target",
    "target",
    metavar="NAME",
    shell_complete=_complete_target,
    help="Where the practice records live (default: $RECONCILER_TARGET, then native).",
)
@click.version_option(package_name="reconciler")
def main(debug: bool, target: str | None) -> None:
    """GitOps for the people side of a health or therapy practice."""
    Ctx.debug = debug
    Ctx.target = target


# ---------------------------------------------------------------- validate
@main.command()
@config_option
@validate_db_option
@at_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@_handle_errors
def validate(config_dir: Path, db: str | None, at: str | None, fmt: str) -> None:
    """Check the config: schema, references, policies, invariants (and the database with --db)."""
    _done(commands.validate(_echo, config_dir, target=Ctx.target, db=db, at=at, fmt=fmt, now=_now()))


# ---------------------------------------------------------------- plan
@main.command()
@config_option
@db_option
@at_option
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan for `apply` (with --format html: write the HTML report there instead).",
)
@click.option("--format", "fmt", type=click.Choice(list(PLAN_FORMATS)), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has actions, 0 when empty.")
@click.option("--allow-mass-change", is_flag=True, help="Lift the blast-radius guard.")
@_handle_errors
@_fewer_collections
def plan(
    config_dir: Path,
    db: str | None,
    at: str | None,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    allow_mass_change: bool,
) -> None:
    """Show what apply would change, in execution order."""
    _done(
        commands.plan(
            _echo,
            config_dir,
            target=Ctx.target,
            db=db,
            at=at,
            out=out,
            fmt=fmt,
            detailed_exitcode=detailed_exitcode,
            allow_mass_change=allow_mass_change,
            now=_now(),
            color=sys.stdout.isatty(),
        )
    )


# ---------------------------------------------------------------- apply
@main.command()
@click.argument(
    "planfile",
    required=False,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@config_option
@db_option
@at_option
@click.option(
    "--actor",
    "actor",
    metavar="NAME",
    help="Who applies (default: $RECONCILER_ACTOR, then login name).",
)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--confirm-delete",
    "confirm_delete",
    multiple=True,
    metavar="ID",
    help="Allow deleting this client (repeat).",
)
@click.option(
    "--export-dir",
    "export_dir",
    default="exports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--allow-mass-change",
    is_flag=True,
    help="Lift the blast-radius guard (when planning here).",
)
@click.option(
    "--lock-timeout",
    default=10.0,
    show_default=True,
    type=float,
    callback=_seconds(True),
    help="Seconds to wait for another apply.",
)
@click.option(
    "--approval",
    "approvals",
    multiple=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A signed deletion approval (reconciler approve-delete or ssh-keygen -Y sign); repeat.",
)
@click.option(
    "--allow-time-travel",
    is_flag=True,
    help="Allow --at more than 5 minutes from the clock (tests, demos); recorded in the audit trail.",
)
@_handle_errors
@_fewer_collections
def apply(
    planfile: Path | None,
    config_dir: Path,
    db: str | None,
    at: str | None,
    actor: str | None,
    auto_approve: bool,
    confirm_delete: tuple[str, ...],
    export_dir: Path,
    allow_mass_change: bool,
    lock_timeout: float,
    approvals: tuple[Path, ...],
    allow_time_travel: bool,
) -> None:
    """Apply a saved plan exactly (checked against the config: -c), or plan and apply,
    in one transaction with an audit trail."""
    _done(
        commands.apply(
            _echo,
            planfile,
            config_dir,
            target=Ctx.target,
            db=db,
            at=at,
            actor=actor,
            auto_approve=auto_approve,
            confirm_delete=confirm_delete,
            export_dir=export_dir,
            allow_mass_change=allow_mass_change,
            lock_timeout=lock_timeout,
            now=_now(),
            confirm=lambda q: click.confirm(q, default=False),
            interactive=sys.stdin.isatty(),
            color=sys.stdout.isatty(),
            progress=sys.stderr.isatty(),
            approvals=approvals,
            allow_time_travel=allow_time_travel,
        )
    )


# ---------------------------------------------------------------- approve-delete
@main.command("approve-delete")
@click.argument("client_ids", nargs=-1, required=True, metavar="ID...")
@click.option(
    "--key",
    "key",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Your OpenSSH private key (its public half must be in your staff entry's signing_keys).",
)
@click.option(
    "--expires",
    "expires",
    default="7d",
    show_default=True,
    metavar="DURATION",
    help="How long the approval is valid: 7d, 12h, 30m.",
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--signer",
    "signer",
    metavar="STAFF_ID",
    help="Sign as this staff id (default: the key's owner).",
)
@config_option
@db_option
@_handle_errors
def approve_delete(
    client_ids: tuple[str, ...],
    key: Path,
    expires: str,
    out: Path,
    signer: str | None,
    config_dir: Path,
    db: str | None,
) -> None:
    """Sign an approval to delete clients (apply --approval FILE)."""
    _done(
        commands.approve_delete(
            _echo,
            client_ids,
            config_dir,
            target=Ctx.target,
            db=db,
            key=key,
            expires=expires,
            out=out,
            signer=signer,
            now=_now(),
        )
    )


@main.command()
@click.argument("plan_id", metavar="PLAN_ID")
@config_option
@db_option
@at_option
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Save the revert plan for `apply`.")
@click.option("--format", "fmt", type=click.Choice(list(PLAN_FORMATS)), default="text", show_default=True)
@click.option("--auto-approve", is_flag=True, help="Apply the revert plan without asking.")
@click.option("--actor", "actor", metavar="NAME", help="Recorded in the audit trail.")
@click.option(
    "--export-dir", "export_dir", default="exports", show_default=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option("--lock-timeout", default=10.0, show_default=True, type=float, metavar="SECONDS", callback=_seconds(True))
@click.option(
    "--allow-time-travel",
    is_flag=True,
    help="Apply with --at more than 5 minutes from the clock (tests, demos); recorded in the audit trail.",
)
@_handle_errors
def revert(
    plan_id: str,
    config_dir: Path,
    db: str | None,
    at: str | None,
    out: Path | None,
    fmt: str,
    auto_approve: bool,
    actor: str | None,
    export_dir: Path,
    lock_timeout: float,
    allow_time_travel: bool,
) -> None:
    """Restore what an applied plan changed (rows changed since are left alone); refused
    while the config still asks for the change."""
    _done(
        commands.revert(
            _echo,
            plan_id,
            config_dir,
            target=Ctx.target,
            db=db,
            at=at,
            out=out,
            fmt=fmt,
            auto_approve=auto_approve,
            actor=actor,
            export_dir=export_dir,
            lock_timeout=lock_timeout,
            now=_now(),
            confirm=lambda q: click.confirm(q, default=False),
            interactive=sys.stdin.isatty(),
            color=sys.stdout.isatty(),
            allow_time_travel=allow_time_travel,
        )
    )


# ---------------------------------------------------------------- watch
@main.command()
@config_option
@db_option
@click.option(
    "--interval",
    default=60.0,
    show_default=True,
    type=float,
    metavar="SECONDS",
    callback=_seconds(False),
)
@click.option("--auto-apply", is_flag=True, help="Apply plans instead of only printing them.")
@click.option(
    "--actor",
    "actor",
    metavar="NAME",
    help="Recorded in the audit trail when applying.",
)
@click.option(
    "--export-dir",
    "export_dir",
    default="exports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--git",
    "git",
    is_flag=True,
    help="Reconcile -c DIR as committed on the branch (newest commit of the git checkout around the "
    "current directory), never the working tree; re-plan when the branch head moves.",
)
@click.option(
    "--branch",
    "branch",
    metavar="NAME",
    help="With --git: the branch to follow (default: HEAD).",
)
@click.option(
    "--settle",
    default=10.0,
    show_default=True,
    type=float,
    metavar="SECONDS",
    callback=_seconds(True),
    help="Without --git, --auto-apply acts only on files unchanged for this long.",
)
@click.option(
    "--metrics-addr",
    "metrics_addr",
    metavar="HOST:PORT",
    help="Serve Prometheus /metrics and /healthz here (e.g. 127.0.0.1:9464).",
)
@_handle_errors
def watch(
    config_dir: Path,
    db: str | None,
    interval: float,
    auto_apply: bool,
    actor: str | None,
    export_dir: Path,
    log_format: str,
    git: bool,
    branch: str | None,
    settle: float,
    metrics_addr: str | None,
) -> None:
    """Reconcile on every config change and at every interval; Ctrl-C stops cleanly."""
    if branch is not None and not git:
        raise ReconcilerError("--branch needs --git")
    sys.exit(
        commands.watch(
            config_dir,
            target=Ctx.target,
            db=db,
            interval=interval,
            auto_apply=auto_apply,
            actor=actor,
            export_dir=export_dir,
            log_format=log_format,
            git=git,
            branch=branch,
            settle=settle,
            metrics_addr=metrics_addr,
        )
    )


# ---------------------------------------------------------------- import / export / audit / status
@main.command("import")
@db_option
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@_handle_errors
def import_(db: str | None, out: Path) -> None:
    """Write a config that describes the database as it is (the first plan is empty)."""
    _done(commands.import_(_echo, target=Ctx.target, db=db, out=out, now=_now()))


@main.command()
@click.option("--staff", "staff_id", required=True, metavar="ID")
@click.option("--format", "fmt", type=click.Choice(["fhir", "csv"]), required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@db_option
@_handle_errors
def export(staff_id: str, fmt: str, out: Path, db: str | None) -> None:
    """Write a professional's client records (mode 0600, never overwrites)."""
    _done(commands.export(_echo, target=Ctx.target, db=db, staff_id=staff_id, fmt=fmt, out=out))


@main.group(cls=_Group, invoke_without_command=True)
@db_option
@click.option("--plan", "plan_id", metavar="ID", help="Only events of this plan.")
@click.option("--staff", "staff", metavar="ID", help="Only events grouped under this professional.")
@click.option("--client", "client", metavar="ID", help="Only events about this client (and its sessions, series).")
@click.option("--actor", "actor", metavar="NAME", help="Only events applied by this actor.")
@click.option(
    "--type",
    "type_",
    metavar="ACTION-TYPE",
    type=click.Choice([t.value for t in ActionType]),
    help="Only events of this action type (e.g. client.reassign).",
)
@click.option("--since", "since", metavar="TIME", help="Events at or after this ISO date or date-time.")
@click.option("--until", "until", metavar="TIME", help="Events before this date-time (a date includes that day).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
@click.pass_context
@_handle_errors
def audit(
    ctx: click.Context,
    db: str | None,
    plan_id: str | None,
    staff: str | None,
    client: str | None,
    actor: str | None,
    type_: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
) -> None:
    """Show the audit trail, newest last (filters run in the database; csv for spreadsheets;
    `audit verify` checks its hash chain)."""
    if ctx.invoked_subcommand is not None:
        return
    _done(
        commands.audit(
            _echo,
            target=Ctx.target,
            db=db,
            plan_id=plan_id,
            fmt=fmt,
            staff=staff,
            client=client,
            actor=actor,
            type_=type_,
            since=since,
            until=until,
        )
    )


@audit.command("verify")
@db_option
@click.option(
    "--target",
    "target",
    metavar="NAME",
    help="Where the records live (as the top-level --target).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@_handle_errors
def audit_verify(db: str | None, target: str | None, fmt: str) -> None:
    """Recompute the audit hash chain: exit 0 with the count and head hash, exit 1
    naming the first edited, removed or reordered event."""
    parent = click.get_current_context().parent
    db = db or (parent.params.get("db") if parent is not None else None)
    _done(commands.audit_verify(_echo, target=target or Ctx.target, db=db, fmt=fmt))


@main.command()
@db_option
@at_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--check",
    is_flag=True,
    help="Compliance check: exit 1 listing every violation, 0 when none.",
)
@click.option(
    "-c",
    "--config",
    "config_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="With --check: the config's intent counts too.",
)
@_handle_errors
def status(db: str | None, at: str | None, fmt: str, check: bool, config_dir: Path | None) -> None:
    """Active staff and seats, scheduled deactivations, unassigned clients, purges due
    (--check: compliance violations)."""
    if config_dir is not None and not check:
        raise click.UsageError("-c/--config is used with --check only")
    _done(
        commands.status(
            _echo,
            target=Ctx.target,
            db=db,
            at=at,
            fmt=fmt,
            now=_now(),
            check=check,
            config_dir=config_dir,
        )
    )


@main.command()
@click.argument("kind", type=click.Choice(["staff", "client"]))
@click.argument("ident", metavar="ID")
@db_option
@click.option(
    "-c",
    "--config",
    "config_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Also show the config's view (successor, scheduled date, client entry).",
)
@at_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def show(kind: str, ident: str, db: str | None, config_dir: Path | None, at: str | None, fmt: str) -> None:
    """What a professional holds (clients, future sessions, series) or a client's state; ids only."""
    _done(
        commands.show(_echo, kind, ident, target=Ctx.target, db=db, config_dir=config_dir, at=at, fmt=fmt, now=_now())
    )


# ---------------------------------------------------------------- db
@main.group(cls=_Group)
def db() -> None:
    """Schema creation and migration; snapshot load and dump."""


@db.command("init")
@db_option
@_handle_errors
def db_init(db: str | None) -> None:
    """Create the schema (Alembic upgrade to head on an empty database)."""
    _done(commands.db_init(_echo, target=Ctx.target, db=db))


@db.command("upgrade")
@db_option
@_handle_errors
def db_upgrade(db: str | None) -> None:
    """Migrate the schema to the newest revision."""
    _done(commands.db_upgrade(_echo, target=Ctx.target, db=db))


@db.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@_handle_errors
def db_load(file: Path, db: str | None) -> None:
    """Load a YAML or JSON snapshot into an empty database (all or nothing)."""
    _done(commands.db_load(_echo, file, target=Ctx.target, db=db, progress=sys.stderr.isatty()))


@db.command("dump")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (.json writes JSON).",
)
@db_option
@_handle_errors
def db_dump(out: Path | None, db: str | None) -> None:
    """Write the practice as a snapshot (YAML to stdout, or to FILE)."""
    _done(commands.db_dump(_echo, target=Ctx.target, db=db, out=out))


# ---------------------------------------------------------------- demo
@main.command()
@click.option(
    "--dir",
    "workdir",
    default="reconciler-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to create the demo practice (config, exports; the SQLite file by default).",
)
@click.option(
    "--db",
    "db",
    metavar="URL",
    default=None,
    help="With --target openemr: an OpenEMR database holding no practice yet, to seed and use.",
)
@_handle_errors
def demo(workdir: Path, db: str | None) -> None:
    """Create a sample practice and walk through validate, plan and apply."""
    sys.exit(commands.demo(workdir, target=Ctx.target, db=db))


def run() -> NoReturn:
    """The ``reconciler`` program (console script and ``python -m reconciler``): :func:`main`
    as a whole process, which ends without the interpreter's teardown.

    At exit CPython collects and frees, one by one, every object still alive and every
    module: after a 12,000-action plan that is about a tenth of the process's time, spent
    when the output has long been written. Here, once the command has returned, the exit
    handlers run as they would (``atexit``: logging's flush and close, multiprocessing's,
    coverage's), the standard streams are flushed, and the process ends with
    ``os._exit``, the operating system reclaiming the memory at once. When another thread
    is still running (which the normal exit would wait for), or a tracer or profiler is
    attached, it exits the normal way."""
    try:
        main()  # click's standalone mode: always ends in SystemExit
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    main_thread = threading.main_thread()
    if (
        any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate())
        or sys.gettrace() is not None
        or sys.getprofile() is not None
    ):
        # A thread the normal exit would wait for, or a debugger, coverage tracer or
        # profiler (``python -m cProfile -m reconciler``) that reports when run() returns.
        sys.exit(code)
    _exit_at_once(code)


def _exit_at_once(code: Any) -> NoReturn:
    """``sys.exit(code)``'s exit status and message, without the interpreter's teardown."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF  # as the operating system truncates exit(code)
    else:
        print(code, file=sys.stderr)  # sys.exit("message") prints it and exits 1
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout:
                status = 120  # what CPython exits with when stdout cannot be flushed at exit
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
