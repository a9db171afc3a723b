"""The command line: parse, call the library, write, map errors to exit codes.

Exit codes (SPEC §4): 0 success / empty plan, 1 any error (usage errors too),
2 plan has actions (only with ``--detailed-exitcode``), 130 Ctrl-C. Every
:class:`ReconcilerError` is printed once to stderr as a located message; any other
exception is one line that quotes no data (it could hold PHI); ``--debug`` shows
the traceback instead.
Heavy imports (SQLAlchemy, watchdog) happen inside the commands that need them, so
``reconciler validate`` without ``--db`` stays light.
"""

from __future__ import annotations

import sys
import datetime as dt
import functools
import json
import os
from pathlib import Path
from typing import Any, Callable, NoReturn, TypeVar

import click

from reconciler.errors import ReconcilerError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "practice"


class Ctx:
    debug: bool = False


def _handle_errors(fn: F) -> F:
    """Render user errors once, exit 1; show a traceback only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
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
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        lines = str(exc.orig or exc.__class__.__name__).strip().splitlines()
        return f"database error: {lines[0] if lines else exc.__class__.__name__}"
    return (f"unexpected {exc.__class__.__name__}; this is a bug in reconciler "
            "(re-run with --debug for the traceback)")


def _engine(db: str | None, *, create: bool = False) -> Any:
    """The engine for ``--db``. Only ``create`` (``db init``, ``db upgrade``) may make a
    new SQLite file; every other command names a missing one instead of leaving an
    empty file behind."""
    from reconciler.targets.native.engine import make_engine, resolve_url

    return make_engine(resolve_url(db), must_exist=not create)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _seconds(allow_zero: bool) -> Callable[[click.Context, click.Parameter, float], float]:
    """A click callback: a finite number of seconds (> 0, or >= 0 with ``allow_zero``).
    nan and inf pass click's FLOAT type but would make a loop spin or a wait overflow."""
    import math

    def check(_ctx: click.Context, param: click.Parameter, value: float) -> float:
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            bound = "a finite number >= 0" if allow_zero else "a finite number > 0"
            raise click.BadParameter(f"{value} is not {bound} of seconds", param=param)
        return value

    return check


db_option = click.option("--db", "db", metavar="URL", help="SQLAlchemy URL (default: $RECONCILER_DB, then sqlite:///practice.db).")
config_option = click.option(
    "-c", "--config", "config_dir", default=DEFAULT_CONFIG, show_default=True,
    type=click.Path(file_okay=False, path_type=Path), help="Config directory.",
)
at_option = click.option("--at", "at", metavar="TIME", help="Plan as of this ISO 8601 date or date-time instead of now.")


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
@click.version_option(package_name="reconciler")
def main(debug: bool) -> None:
    """GitOps for the people side of a health or therapy practice."""
    Ctx.debug = debug


# ---------------------------------------------------------------- validate
@main.command()
@config_option
@db_option
@at_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def validate(config_dir: Path, db: str | None, at: str | None, fmt: str) -> None:
    """Check the config: schema, references, policies, invariants (and the database with --db)."""
    from reconciler.config.loader import load_config
    from reconciler.errors import ConfigError, Problem
    from reconciler.render.diagnostics import format_problems
    from reconciler.app.validation import validate_config

    try:
        desired = load_config(config_dir)
        engine = _engine(db) if db else None
        problems = validate_config(desired, engine, at_text=at, now=_now())
    except ConfigError as exc:
        if fmt != "json":
            raise
        problems = list(exc.problems) or [Problem(exc.location or _no_loc(), str(exc))]
    errors = [p for p in problems if p.severity == "error"]
    if fmt == "json":
        click.echo(json.dumps({"valid": not errors, "problems": [p.to_json() for p in problems]}, indent=2))
    else:
        if problems:
            click.echo(format_problems(problems), err=True)
        if not errors:
            click.echo(f"{config_dir}: valid")
    if errors:
        sys.exit(1)


def _no_loc() -> Any:
    from reconciler.errors import Location

    return Location()


# ---------------------------------------------------------------- plan
@main.command()
@config_option
@db_option
@at_option
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan for `apply`.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has actions, 0 when empty.")
@click.option("--allow-mass-change", is_flag=True, help="Lift the blast-radius guard.")
@_handle_errors
def plan(config_dir: Path, db: str | None, at: str | None, out: Path | None, fmt: str,
         detailed_exitcode: bool, allow_mass_change: bool) -> None:
    """Show what apply would change, in execution order."""
    from reconciler.config.loader import load_config
    from reconciler.app.workflow import compute_plan, render_plan, save_plan

    desired = load_config(config_dir)
    engine = _engine(db)
    p = compute_plan(engine, desired, at_text=at, now=_now(), allow_mass_change=allow_mass_change)
    click.echo(render_plan(p, fmt, color=sys.stdout.isatty() and fmt == "text"), nl=False)
    if out is not None:
        save_plan(p, out)
        click.echo(f"Saved plan {p.plan_id} to {out}", err=True)
    if detailed_exitcode and not p.is_empty:
        sys.exit(2)


# ---------------------------------------------------------------- apply
@main.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@config_option
@db_option
@at_option
@click.option("--actor", "actor", metavar="NAME", help="Who applies (default: $RECONCILER_ACTOR, then login name).")
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--confirm-delete", "confirm_delete", multiple=True, metavar="ID", help="Allow deleting this client (repeat).")
@click.option("--export-dir", "export_dir", default="exports", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--allow-mass-change", is_flag=True, help="Lift the blast-radius guard (when planning here).")
@click.option("--lock-timeout", default=10.0, show_default=True, type=float, callback=_seconds(True),
              help="Seconds to wait for another apply.")
@_handle_errors
def apply(planfile: Path | None, config_dir: Path, db: str | None, at: str | None, actor: str | None,
          auto_approve: bool, confirm_delete: tuple[str, ...], export_dir: Path, allow_mass_change: bool,
          lock_timeout: float) -> None:
    """Apply a saved plan exactly, or plan and apply, in one transaction with an audit trail."""
    from reconciler.app.workflow import apply_plan, compute_plan, default_actor, load_plan, render_plan

    if planfile is not None:
        p = load_plan(planfile)  # a damaged plan file is named before any database work
        engine = _engine(db)
    else:
        from reconciler.config.loader import load_config

        desired = load_config(config_dir)
        engine = _engine(db)
        p = compute_plan(engine, desired, at_text=at, now=_now(), allow_mass_change=allow_mass_change)
    if p.is_empty:
        click.echo("No changes. The practice matches the configuration.")
        return
    if not auto_approve:
        click.echo(render_plan(p, "text", color=sys.stdout.isatty()), nl=False)
        if not sys.stdin.isatty():
            raise ReconcilerError("refusing to apply without confirmation: stdin is not a terminal (use --auto-approve)")
        if not click.confirm("Apply these changes?", default=False):
            raise ReconcilerError("apply cancelled; nothing was changed")
    result = apply_plan(
        engine, p, actor=actor or default_actor(), confirm_delete=confirm_delete,
        export_dir=export_dir, lock_timeout=lock_timeout, progress=sys.stderr.isatty(),
    )
    click.echo(result.summary_line())


# ---------------------------------------------------------------- watch
@main.command()
@config_option
@db_option
@click.option("--interval", default=60.0, show_default=True, type=float, metavar="SECONDS", callback=_seconds(False))
@click.option("--auto-apply", is_flag=True, help="Apply plans instead of only printing them.")
@click.option("--actor", "actor", metavar="NAME", help="Recorded in the audit trail when applying.")
@click.option("--export-dir", "export_dir", default="exports", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def watch(config_dir: Path, db: str | None, interval: float, auto_apply: bool, actor: str | None,
          export_dir: Path, log_format: str) -> None:
    """Reconcile on every config change and at every interval; Ctrl-C stops cleanly."""
    from reconciler.app.watch import run_watch
    from reconciler.app.workflow import default_actor

    sys.exit(run_watch(config_dir, _engine(db), interval=interval, auto_apply=auto_apply,
                       actor=actor or default_actor(), export_dir=export_dir, log_format=log_format))


# ---------------------------------------------------------------- import / export / audit / status
@main.command("import")
@db_option
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@_handle_errors
def import_(db: str | None, out: Path) -> None:
    """Write a config that describes the database as it is (the first plan is empty)."""
    from reconciler.app.importer import import_config

    written = import_config(_engine(db), out, now=_now())
    for path in written:
        click.echo(f"wrote {path}")


@main.command()
@click.option("--staff", "staff_id", required=True, metavar="ID")
@click.option("--format", "fmt", type=click.Choice(["fhir", "csv"]), required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@db_option
@_handle_errors
def export(staff_id: str, fmt: str, out: Path, db: str | None) -> None:
    """Write a professional's client records (mode 0600, never overwrites)."""
    from reconciler.app.exports import export_staff

    n = export_staff(_engine(db), staff_id, fmt, out)
    click.echo(f"wrote {out} ({n} clients)")


@main.command()
@db_option
@click.option("--plan", "plan_id", metavar="ID", help="Only events of this plan.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def audit(db: str | None, plan_id: str | None, fmt: str) -> None:
    """Show the audit trail, newest last."""
    from reconciler.app.audit import format_audit, read_audit

    click.echo(format_audit(read_audit(_engine(db), plan_id=plan_id), fmt), nl=False)


@main.command()
@db_option
@at_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def status(db: str | None, at: str | None, fmt: str) -> None:
    """Active staff and seats, scheduled deactivations, unassigned clients, purges due."""
    from reconciler.app.status import collect_status, format_status

    click.echo(format_status(collect_status(_engine(db), at_text=at, now=_now()), fmt), nl=False)


# ---------------------------------------------------------------- db
@main.group(cls=_Group)
def db() -> None:
    """Schema creation and migration; snapshot load and dump."""


@db.command("init")
@db_option
@_handle_errors
def db_init(db: str | None) -> None:
    """Create the schema (Alembic upgrade to head on an empty database)."""
    from reconciler.targets.native.migrate import init_db

    init_db(_engine(db, create=True))
    click.echo("database initialised")


@db.command("upgrade")
@db_option
@_handle_errors
def db_upgrade(db: str | None) -> None:
    """Migrate the schema to the newest revision."""
    from reconciler.targets.native.migrate import upgrade_db

    rev = upgrade_db(_engine(db, create=True))
    click.echo(f"database at revision {rev}")


@db.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@_handle_errors
def db_load(file: Path, db: str | None) -> None:
    """Load a YAML or JSON snapshot into an empty database (all or nothing)."""
    from reconciler.targets.native.snapshot import load_snapshot

    counts = load_snapshot(_engine(db), file, progress=sys.stderr.isatty())
    click.echo("loaded " + ", ".join(f"{n} {k}" for k, n in counts.items()))


@db.command("dump")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (.json writes JSON).")
@db_option
@_handle_errors
def db_dump(out: Path | None, db: str | None) -> None:
    """Write the practice as a snapshot (YAML to stdout, or to FILE)."""
    from reconciler.targets.native.snapshot import dump_snapshot

    fmt = "json" if out is not None and out.suffix.lower() == ".json" else "yaml"
    text = dump_snapshot(_engine(db), fmt)
    if out is None:
        click.echo(text, nl=False)
    else:
        write_private_file(out, text)


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


# ---------------------------------------------------------------- demo
@main.command()
@click.option("--dir", "workdir", default="reconciler-demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where to create the demo practice.")
@_handle_errors
def demo(workdir: Path) -> None:
    """Create a sample practice and walk through validate, plan and apply."""
    from reconciler.app.demo import run_demo

    sys.exit(run_demo(workdir))


if __name__ == "__main__":  # pragma: no cover
    main()
