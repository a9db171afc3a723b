"""The operations the CLI, `watch` and `demo` share: plan, render, save/load, apply.

Effects live here and below (database, files); the planning core stays pure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import getpass
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from reconciler.errors import ReconcilerError
from reconciler.model.actions import Action, Plan

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.errors import Problem
    from reconciler.model.desired import DesiredState
    from reconciler.targets.base import ReadSession, Target


#: Rows read above which the plan's fingerprint is digested by a forked process.
FORK_FINGERPRINT_ROWS = 5000


def compute_plan(
    target: "Target",
    desired: "DesiredState",
    *,
    at_text: str | None,
    now: dt.datetime,
    allow_mass_change: bool = False,
) -> Plan:
    """Read what the desired state touches, then plan (pure) as of ``--at`` or ``now``.

    Raises ValidationFailed / PlanRefused for invariant and guard violations,
    DatabaseError when the schema or the practice row is missing, ReconcilerError
    for a bad ``--at``. The reads happen in one read transaction (REPEATABLE READ on
    PostgreSQL), so the plan sees one consistent database state.
    """
    target.require_schema()
    with target.reading(consistent=True) as session:
        result = plan_in_session(
            session,
            desired,
            at_text=at_text,
            now=now,
            allow_mass_change=allow_mass_change,
            fork=True,
        )
    capability_errors(result, desired, target)
    return result


def plan_in_session(
    session: "ReadSession",
    desired: "DesiredState",
    *,
    at_text: str | None,
    now: dt.datetime,
    allow_mass_change: bool = False,
    fork: bool = False,
) -> Plan:
    """:func:`compute_plan` inside an open session: a read session, or the locked apply
    transaction (where ``apply PLANFILE`` re-plans its config to authenticate the file).

    ``fork``: a large read's fingerprint may be digested by a forked process while the
    planner runs (:mod:`reconciler.app.background`). ``plan`` gains about a tenth from it;
    the apply's re-plan does not (its larger heap makes the copy-on-write pages cost
    what the second core saves), so it stays in one process there."""
    from reconciler.errors import NoPractice
    from reconciler.planner import plan as make_plan
    from reconciler.planner.scope import classify, practice_timezone, scope_from_roster
    from reconciler.timeutil import iso_z, local_date, resolve_at

    practice, staff = session.read_base()
    if practice is None:
        raise NoPractice()
    tz = practice_timezone(desired, practice)
    at = resolve_at(at_text, tz, now)
    # `plan` rejects what `validate` rejects, in the same words, before reading more.
    try:
        today: dt.date | None = local_date(at, tz)
    except ValueError:
        today = None  # an unknown timezone: the static checks name it
    static_warnings = static_errors(
        desired,
        today=today,
        known_staff={sid: row.active for sid, row in staff.items()},
    )
    roster = classify(desired, practice, staff, at)  # once per plan: the scope and the planner share it
    scope = scope_from_roster(desired, roster)
    actual = session.read_sets(scope, practice, staff)
    db_id = session.database_id()
    from reconciler.app.background import Later

    # The rows' fingerprint on the second core while the planner runs, when the read is
    # large enough to be worth a process (a few thousand rows digest in milliseconds).
    rows = len(actual.clients) + len(actual.appointments) + len(actual.series)
    with Later(actual.fingerprint, fork=fork and rows >= FORK_FINGERPRINT_ROWS) as fingerprint:
        result = make_plan(
            desired, actual, at, allow_mass_change=allow_mass_change, roster=roster, fingerprint=fingerprint
        )
    warnings = result.warnings + tuple(str(p) for p in static_warnings if str(p) not in result.warnings)
    extra = {**result.extra, "db_id": db_id} if db_id else result.extra
    return dataclasses.replace(result, generated_at=iso_z(now), warnings=warnings, extra=extra)


def capability_errors(plan: Plan, desired: "DesiredState", target: "Target") -> None:
    """Raise :class:`ValidationFailed` when the plan needs an action type the target
    does not support (SPEC §6), or a change of a supported type it cannot make (the
    target's optional ``unsupported_change(action) -> (field, why) | None``, e.g. an
    OpenEMR practice timezone other than OpenEMR's own): one problem per entity, located
    at its config entry (or field) when it has one, naming the target (e.g. OpenEMR has
    no soft delete)."""
    from reconciler.errors import Problem, ValidationFailed

    why = getattr(target, "unsupported_reason", None)
    refuses = getattr(target, "unsupported_change", None)
    missing: list[tuple[Action, str | None, str]] = []
    for a in plan.actions:
        if a.type not in target.capabilities:
            missing.append((a, None, f" ({why(a.type)})" if callable(why) else ""))
        elif callable(refuses) and (got := refuses(a)) is not None:
            missing.append((a, got[0], f" ({got[1]})"))
    if not missing:
        return
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for a, fname, reason in missing:
        if a.type.entity == "practice":
            kind, ident = "practice", "practice"
            loc = desired.where(f"practice.{fname}" if fname else "practice")
        else:
            kind = a.type.entity if a.type.entity in ("staff", "client") else "staff"
            ident = a.target if kind == a.type.entity else (a.staff or a.target)
            loc = desired.where(f"{kind}:{ident}")
        if (kind, ident) in seen:
            continue
        seen.add((kind, ident))
        if loc.entity is None:
            loc = dataclasses.replace(loc, entity=ident if kind == "practice" else f"{kind} {ident}")
        what = f"{a.type.value} of {fname}" if fname else a.type.value
        problems.append(Problem(loc, f"{what} is not supported by the {target.name} target{reason}", "unsupported"))
    raise ValidationFailed(
        problems[0].message
        if len(problems) == 1
        else f"the plan needs {len(problems)} changes the {target.name} target cannot make",
        problems,
    )


def static_errors(desired: "DesiredState", *, today: dt.date | None, known_staff: dict[str, bool]) -> list["Problem"]:
    """Raise :class:`ValidationFailed` with every error of the static config checks
    (``reconciler.planner.validator``, as ``validate`` runs them), each fact once; return
    their warnings (the plan shows them too).

    When these fail the planner is not run: its own config checks cover the same facts
    in other words (a successor cycle, an unknown policy), and one fact reported twice
    in two wordings reads like two problems.
    """
    from reconciler.errors import ValidationFailed, problem_key
    from reconciler.planner.validator import check_desired

    seen: set[tuple[object, str]] = set()
    errors = []
    problems = sorted(check_desired(desired, today=today, known_staff=known_staff), key=problem_key)
    for p in problems:
        if p.severity == "error" and (p.location, p.message) not in seen:
            seen.add((p.location, p.message))
            errors.append(p)
    if errors:
        n = len(errors)
        raise ValidationFailed(
            errors[0].message if n == 1 else f"the config is invalid ({n} problems)",
            errors,
        )
    return [p for p in problems if p.severity == "warning"]


def render_plan(plan: Plan, fmt: str, *, color: bool = False) -> str:
    """The plan in one of :data:`reconciler.render.FORMATS` (text, json, markdown)."""
    from reconciler.render import render_plan as render

    if fmt not in ("json", "text"):  # the others name the plan before anything else
        return render(plan, fmt, color=color)
    with _digest_ahead(plan):
        return render(plan, fmt, color=color)


def save_plan(plan: Plan, path: Path) -> None:
    """Write the plan file (the JSON plan, with scope and fingerprint) for ``apply``."""
    require_parent(path, "cannot save the plan")
    try:
        with _digest_ahead(plan):
            text = plan.dumps()
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(f"{path}: cannot save the plan ({exc.strerror or exc})") from None


#: Actions from which the JSON writer has the plan id digested on the second core.
FORK_DIGEST_ACTIONS = 2000


@contextlib.contextmanager
def _digest_ahead(plan: Plan) -> Iterator[None]:
    """While the plan's JSON (or text) is written, a large plan's id (SHA-256 of its sorted
    canonical JSON, a seventh of a 12,000-action ``plan``) is worked out by a forked
    process: the id is the file's last key (the text's title, filled in last), so the
    writer asks for it after the actions (:meth:`Plan.digest_from`). The same value either
    way; see :class:`Later`."""
    if "plan_id" in plan.__dict__ or len(plan.actions) < FORK_DIGEST_ACTIONS:
        yield
        return
    from reconciler.app.background import Later

    with Later(plan.compute_plan_id, fork=True) as later:
        plan.digest_from(later)
        yield


def require_parent(path: Path, what: str) -> None:
    """``path``'s directory must exist: an output file never creates directories (a
    typo in ``--out`` would otherwise leave a new tree behind, holding PHI for an export)."""
    parent = path.parent
    if not parent.exists():
        raise ReconcilerError(f"{path}: {what} (directory {parent} does not exist)")
    if not parent.is_dir():
        raise ReconcilerError(f"{path}: {what} ({parent} is not a directory)")


def save_report(text: str, path: Path) -> None:
    """Write a rendered report (``plan --format html --out FILE``); a clear error, never a traceback."""
    require_parent(path, "cannot write the report")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def load_plan(path: Path) -> Plan:
    """Read a saved plan; a damaged or foreign file is one clear error."""
    from reconciler.timeutil import parse_iso_z

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(f"{path}: cannot read the plan file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ReconcilerError(f"{path}: not a reconciler plan file (not UTF-8 text)") from None
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError(f"the file holds a JSON {type(doc).__name__}, not an object")
        plan = Plan.from_json(doc)
        parse_iso_z(plan.as_of)  # apply stamps its writes with it
        stated = doc.get("plan_id")
    except KeyError as exc:
        raise ReconcilerError(f"{path}: not a reconciler plan file (missing key {exc})") from None
    except RecursionError:
        raise ReconcilerError(f"{path}: not a reconciler plan file (nested too deeply)") from None
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ReconcilerError(f"{path}: not a reconciler plan file ({exc})") from None
    if stated is not None and stated != plan.plan_id:
        from reconciler.errors import PlanRefused

        raise PlanRefused(
            f"{path}: edited plan: its content does not match its plan_id {str(stated)[:40]!r} "
            "(the file was changed after `reconciler plan` saved it); nothing was changed"
        )
    return plan


def default_actor() -> str:
    """``$RECONCILER_ACTOR``, else the login name."""
    env = os.environ.get("RECONCILER_ACTOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def resolve_actor(actor: str | None) -> str:
    """``--actor`` (else :func:`default_actor`), validated: printable, no control or
    invisible characters (it is replayed into terminals and logs by ``audit``)."""
    from reconciler.security.actor import validate_actor

    return validate_actor(actor if actor is not None else default_actor())


def apply_plan(
    target: "Target",
    plan: Plan,
    *,
    actor: str,
    confirm_delete: Iterable[str] = (),
    export_dir: Path = Path("exports"),
    lock_timeout: float = 10.0,
    progress: bool = False,
    on_commit: Any = None,
    session_checks: Any = None,
    signers: Any = None,
    time_travel: dt.datetime | None = None,
) -> Any:
    """Apply ``plan``: exports first, then one locked transaction with a fingerprint
    check, set-based writes and one audit event per action. Returns an ApplyResult."""
    from reconciler.app.executor import apply_plan as _apply

    return _apply(
        target,
        plan,
        actor=actor,
        confirm_delete=tuple(confirm_delete),
        export_dir=export_dir,
        lock_timeout=lock_timeout,
        progress=progress,
        on_commit=on_commit,
        session_checks=session_checks,
        signers=signers,
        time_travel=time_travel,
    )
