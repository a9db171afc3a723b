"""``reconciler demo``: a sample practice in a local SQLite file, walked through
validate → plan → apply → plan again → audit on ``examples/offboarding``.

Works from a checkout and from an installed wheel: ``examples/`` and ``policies/``
are found through :mod:`reconciler.resources`. The
real clock is used, passed explicitly as ``now``; the sample snapshot has sessions
through January 2027, and after that the walk-through still completes (the
offboarding then has no future sessions to cancel, but clients and the seat still
change hands).
"""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
import sys
from pathlib import Path
from typing import IO, Any, Callable

from reconciler.errors import ReconcilerError

MARKER = ".reconciler-demo"
ACTOR = "alee"
STEPS = 5
# What a demo directory may hold; anything else means it is not (only) ours.
_DEMO_ENTRIES = ("practice.db", "practice", "exports", MARKER)


def project_root() -> Path:
    """Where ``examples/`` and ``policies/`` live (the checkout, or the wheel's data)."""
    from reconciler.resources import data_root

    return data_root()


def _is_demo_entry(name: str) -> bool:
    # practice.db plus its -wal/-shm files and lock sidecars.
    return any(name == e or (e == "practice.db" and name.startswith("practice.db")) for e in _DEMO_ENTRIES)


def prepare_workdir(workdir: Path) -> None:
    """Create ``workdir``; an existing one must be empty or a previous demo's, which is
    cleared. Anything else is refused, naming what is in the way, and left untouched."""
    if workdir.exists() and not workdir.is_dir():
        raise ReconcilerError(f"{workdir}: exists and is not a directory")
    if workdir.is_dir():
        entries = sorted(p.name for p in workdir.iterdir())
        if entries:
            if MARKER not in entries:
                raise ReconcilerError(
                    f"{workdir}: directory is not empty and is not a previous demo; choose another --dir"
                )
            foreign = [e for e in entries if not _is_demo_entry(e)]
            if foreign:
                raise ReconcilerError(
                    f"{workdir}: holds files the demo did not create ({', '.join(foreign)}); "
                    "refusing to clear it, choose another --dir"
                )
            for name in entries:
                path = workdir / name
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("created by `reconciler demo`; the demo may clear this directory\n", encoding="utf-8")


def copy_config(src: Path, dest: Path) -> None:
    """Copy the example config, pointing each file's schema modeline at the project's schema."""
    from reconciler.app.importer import schema_reference

    dest.mkdir(parents=True)
    for path in sorted(src.rglob("*.yaml")):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        if lines and lines[0].startswith("# yaml-language-server: $schema="):
            lines[0] = f"# yaml-language-server: $schema={schema_reference(target.parent)}\n"
        target.write_text("".join(lines), encoding="utf-8")


def _fold(lines: list[str], plan_id: str, head: int = 5, tail: int = 8) -> str:
    """The first and last events of a long trail, with where to read the rest."""
    if len(lines) <= head + tail + 1:
        return "\n".join(lines)
    hidden = len(lines) - head - tail
    return "\n".join(lines[:head] + [f"  … {hidden} more events (reconciler audit --plan {plan_id})"] + lines[-tail:])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class _Narrator:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, n: int, name: str, why: str, command: str) -> None:
        self.say()
        self.say(f"Step {n}/{STEPS}: {name} — {why}")
        self.say(f"  $ {command}")
        self.say()


def run_demo(
    workdir: Path,
    *,
    out: IO[str] | None = None,
    now: Callable[[], dt.datetime] = _now,
    target_name: str | None = None,
    db: str | None = None,
) -> int:
    """Create the demo practice in ``workdir`` and walk through the five steps; 0 on success.

    By default the practice is a local SQLite file in ``workdir``. With ``target_name``
    ``openemr`` and ``db`` the URL of an OpenEMR database that holds no practice yet
    (OpenEMR's tables, empty), the sample practice is seeded into OpenEMR's own tables
    through the target and the walk-through runs there (the config, exports stay in
    ``workdir``).

    Raises :class:`ReconcilerError` if ``workdir`` is in the way, the database is not
    empty, or a step fails.
    """
    from reconciler.app.audit import format_audit, read_audit
    from reconciler.app.validation import validate_config
    from reconciler.app.workflow import apply_plan, compute_plan, render_plan
    from reconciler.config.loader import load_config
    from reconciler.render.diagnostics import format_problems
    from reconciler.targets import open_target, resolve_name

    say = _Narrator(out if out is not None else sys.stdout)
    root = project_root()
    snapshot = root / "examples" / "practice.yaml"
    example = root / "examples" / "offboarding"
    if not snapshot.is_file() or not example.is_dir():
        raise ReconcilerError(f"demo files not found under {root / 'examples'}")

    name = resolve_name(target_name)
    if name != "native" and not db:
        raise ReconcilerError(f"demo --target {name} needs --db URL (an {name} database holding no practice yet)")
    workdir = Path(workdir).absolute()
    prepare_workdir(workdir)
    db_path = workdir / "practice.db"
    url = db or f"sqlite:///{db_path}"
    config_dir = workdir / "practice"
    export_dir = workdir / "exports"
    # A server URL may hold a password: the commands shown name it through the environment.
    db_arg = shlex.quote(url) if url.startswith("sqlite") else '"$RECONCILER_DB"'
    if name != "native":
        db_arg += f" --target {name}"
    cfg_arg = shlex.quote(str(config_dir))

    say.say(f"reconciler demo in {workdir}")
    say.say("A sample practice, Sunrise Counseling (9 staff, 30 clients, a season of sessions), is loaded into")
    where = f"a local SQLite database ({db_path.name})" if name == "native" and not db else f"the {name} database"
    say.say(f"{where}. The config in practice/ says that Beth Smith (bsmith)")
    say.say("leaves today, offboarded with the built-in 'standard' policy. Clients appear by id only.")
    target: Any = open_target(name, url, create=True)
    try:
        target.init_schema()
        if name == "native":
            counts = target.load_snapshot(snapshot, progress=False)
        elif hasattr(target, "seed_snapshot"):
            # Through the target: its own system's rows, written as that system writes them.
            counts = target.seed_snapshot(snapshot)
        else:
            raise ReconcilerError(f"the {name} target cannot seed a sample practice (it has no seed_snapshot)")
        say.say("Loaded " + ", ".join(f"{n} {k}" for k, n in counts.items()) + ".")
        copy_config(example, config_dir)

        at = now()
        say.step(
            1,
            "validate",
            "check the config: schema, references, policies and invariants, against the database.",
            f"reconciler validate -c {cfg_arg} --db {db_arg}",
        )
        desired = load_config(config_dir)
        problems = validate_config(desired, target, at_text=None, now=at)
        if problems:
            say.say(format_problems(problems))
        if any(p.severity == "error" for p in problems):
            say.say("The config is not valid; the demo stops here.")
            return 1
        say.say(f"{config_dir.name}: valid")

        say.step(
            2,
            "plan",
            "compare the config with the database and list, in order, what apply would change (nothing changes yet).",
            f"reconciler plan -c {cfg_arg} --db {db_arg}",
        )
        plan = compute_plan(target, desired, at_text=None, now=at)
        say.say(render_plan(plan, "text").rstrip("\n"))

        say.step(
            3,
            "apply",
            f"carry the plan out in one transaction as {ACTOR} (the owner), auto-approved, "
            "writing one audit event per action.",
            f"reconciler apply -c {cfg_arg} --db {db_arg} --auto-approve --actor {ACTOR}",
        )
        result = apply_plan(target, plan, actor=ACTOR, export_dir=export_dir, progress=False)
        say.say(result.summary_line())

        say.step(
            4,
            "plan again",
            "the database now matches the config, so the new plan is empty (convergence).",
            f"reconciler plan -c {cfg_arg} --db {db_arg}",
        )
        again = compute_plan(target, load_config(config_dir), at_text=None, now=now())
        say.say(render_plan(again, "text").rstrip("\n"))
        if not again.is_empty:
            say.say("Unexpected: the second plan is not empty.")
            return 1

        say.step(
            5,
            "audit",
            "who changed what, when and why: the append-only trail of the apply.",
            f"reconciler audit --db {db_arg} --plan {result.plan_id}",
        )
        say.say(_fold(format_audit(read_audit(target, plan_id=result.plan_id), "text").splitlines(), result.plan_id))
    finally:
        target.dispose()

    say.say()
    # The hints name the executable that is running, so they work as printed without an
    # activated virtualenv (issue 12).
    exe = cli_path()
    say.say("Done. Try it yourself (copy and paste):")
    say.say(f"  cd {shlex.quote(str(workdir))}")
    if name == "native" and not db:
        say.say("  export RECONCILER_DB=sqlite:///$PWD/practice.db")
    else:
        say.say("  export RECONCILER_DB=...      # the database URL given to --db")
        say.say(f"  export RECONCILER_TARGET={name}")
    say.say(f"  {exe} status")
    say.say(f"  {exe} show staff bsmith -c practice")
    say.say(f"  {exe} audit --staff bsmith --format csv")
    say.say(f"  {exe} watch -c practice      # then edit practice/practice.yaml in another terminal")
    return 0


def cli_path() -> str:
    """The ``reconciler`` executable next to this interpreter (a venv's bin/), else
    ``python -m reconciler`` with this interpreter; shell-quoted."""
    exe = Path(sys.executable).with_name("reconciler")
    if exe.is_file():
        return shlex.quote(str(exe))
    return f"{shlex.quote(sys.executable)} -m reconciler"
