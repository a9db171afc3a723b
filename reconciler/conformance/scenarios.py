"""The target-neutral scenarios (issue 9): each drives one target through the
``reconciler`` CLI (``--target``) on a freshly seeded world and checks the facts the
target's :class:`~reconciler.conformance.harness.Harness` reads back.

A scenario is a function of a :class:`Run`. :func:`run_scenario` makes the database,
seeds :data:`~reconciler.conformance.world.WORLD`, runs the scenario, and then checks
what every scenario must leave true: no client name in anything printed or logged, and
the target's protected table definitions unchanged (``Harness.schema_fingerprint``).
Failures raise :class:`ConformanceFailure` naming the scenario and the target.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.model.actions import ActionType

from .harness import AppointmentFact, ClientFact, Facts, Harness
from .world import AT, NOW, PHI, TODAY, WORLD, config

ACTOR = "alee"
LEAVER, SUCCESSOR = "bsmith", "jdoe"
#: The leaver's sessions: future ones (13 is later today), one past (17, 09:00 today)
#: and one completed (12).
FUTURE = ("11", "13", "14")
SERIES_END = dt.date(2027, 3, 29)


class ConformanceFailure(AssertionError):
    """A target does not behave as SPEC §6 requires."""


class InjectedFault(RuntimeError):
    """The crash the crash scenario injects inside the apply transaction."""


def check(condition: object, message: str) -> None:
    """Fail the scenario with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConformanceFailure(message)


class _LogCapture(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"{record.getMessage()} {getattr(record, 'reconciler_fields', '')}")


class Run:
    """One scenario on one target: a fresh database, a config directory, the CLI, and
    every byte the CLI printed or logged (for the PHI check)."""

    def __init__(self, harness: Harness, url: str, workdir: Path) -> None:
        self.h = harness
        self.url = url
        self.dir = workdir
        self.cfg = workdir / "practice"
        self.exports = workdir / "exports"
        self.outputs: list[str] = []

    # -- the CLI
    def cli(self, *args: str, expect: int | None = 0) -> Any:
        """``reconciler --target T ARGS`` in this process (``$RECONCILER_DB`` = the run's
        database); checks the exit code unless ``expect`` is None."""
        from click.testing import CliRunner

        from reconciler.cli import main

        sink: list[str] = []
        handler = _LogCapture(sink)
        log = logging.getLogger("reconciler")
        old = log.level
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        try:
            env = {"RECONCILER_DB": self.url, "RECONCILER_ACTOR": ACTOR, "RECONCILER_TARGET": None}
            res = CliRunner(env=env).invoke(main, ["--target", self.h.target, *args], catch_exceptions=False)
        finally:
            log.removeHandler(handler)
            log.setLevel(old)
        self.outputs += [res.stdout, res.stderr, *sink]
        if expect is not None and res.exit_code != expect:
            raise ConformanceFailure(
                f"`reconciler {' '.join(args)}` exited {res.exit_code}, expected {expect}:\n{res.stdout}{res.stderr}"
            )
        return res

    def write_config(self, text: str) -> Path:
        self.cfg.mkdir(parents=True, exist_ok=True)
        (self.cfg / "practice.yaml").write_text(text, encoding="utf-8")
        return self.cfg

    def plan(self, *extra: str, at: str = AT, expect: int | None = 0) -> dict[str, Any]:
        """The plan as JSON (``plan --format json``)."""
        res = self.cli(
            "plan", "-c", str(self.cfg), "--at", at, "--allow-mass-change", "--format", "json", *extra, expect=expect
        )
        return json.loads(res.stdout) if res.exit_code in (0, 2) and res.stdout.strip() else {}

    def apply(self, *extra: str, at: str = AT, expect: int | None = 0) -> Any:
        """Plan and apply (or apply a saved plan given in ``extra``) at ``at``."""
        return self.cli(
            "apply",
            *extra,
            "-c",
            str(self.cfg),
            "--at",
            at,
            "--allow-time-travel",
            "--auto-approve",
            "--allow-mass-change",
            "--actor",
            ACTOR,
            "--export-dir",
            str(self.exports),
            expect=expect,
        )

    def converged(self, at: str = AT) -> None:
        """A new plan against the same config and time has no actions (SPEC §3.7)."""
        got = self.plan("--detailed-exitcode", at=at)
        check(not got.get("actions"), f"{self.h.name}: plan after apply is not empty: {_types(got)}")

    def facts(self) -> Facts:
        return self.h.facts(self.url)

    def audit(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(self.cli("audit", "--format", "json").stdout or "[]")
        return data

    def capabilities(self) -> frozenset[ActionType]:
        from reconciler.targets import open_target

        target = open_target(self.h.target, self.url)
        try:
            return target.capabilities
        finally:
            target.dispose()

    # -- the checks every scenario ends with
    def assert_no_phi(self) -> None:
        text = "\n".join(self.outputs)
        found = sorted({n for n in PHI if n in text})
        check(not found, f"{self.h.name}: a client name appeared in the output or logs: {found}")


def _types(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["type"], a["target"]) for a in plan.get("actions", [])]


def _expect(facts: Facts, what: str, got: object, want: object) -> None:
    check(got == want, f"{what}: got {got!r}, expected {want!r}")


# ---------------------------------------------------------------- offboarding per policy
def _policy(name: str) -> dict[str, Any]:
    import yaml

    from reconciler.resources import data_path

    data: dict[str, Any] = yaml.safe_load((data_path("policies") / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def policy_names() -> list[str]:
    """The built-in policies (the project's ``policies/`` folder): one scenario each."""
    from reconciler.resources import data_path

    return sorted(p.stem for p in data_path("policies").glob("*.yaml"))


def offboard(run: Run, policy: str) -> None:
    """A professional leaves today under ``policy``: SPEC §3.1's four steps, each as the
    policy says, then convergence."""
    pol = _policy(policy)
    line = (
        f"  - {{id: bsmith, name: Beth Smith, role: clinician, active: false, successor: jdoe, offboarding: {policy}}}"
    )
    run.write_config(config({LEAVER: line}))
    before = run.facts()
    plan = run.plan("--detailed-exitcode", expect=2)
    types = _types(plan)
    check(types[-1] == ("staff.deactivate", LEAVER), f"the last action is not the deactivation: {types}")
    if pol.get("export", "none") != "none":
        check(types[0][0] == "export.write", f"the export is not written first: {types}")
    run.apply()
    after = run.facts()
    _expect(after, "bsmith active", after.staff[LEAVER], False)
    transfer = pol["future_sessions"] == "transfer"
    for a in FUTURE:
        want = AppointmentFact("scheduled", SUCCESSOR) if transfer else AppointmentFact("cancelled", LEAVER)
        _expect(after, f"appointment {a}", after.appointments[a], want)
    _expect(after, "past appointment 17", after.appointments["17"], before.appointments["17"])
    _expect(after, "completed appointment 12", after.appointments["12"], before.appointments["12"])
    want_series = [("C-1004", "cdavis", SERIES_END)] + ([("C-1001", SUCCESSOR, SERIES_END)] if transfer else [])
    _expect(after, "current series", after.current_series(TODAY), sorted(want_series))
    holder = {"owner": "alee", "clinical_director": "mkhan", "successor": SUCCESSOR}
    bal = holder.get(pol["clients_with_balance"], pol["clients_with_balance"])
    _expect(after, "client C-1002 (balance)", after.clients["C-1002"], ClientFact("active", bal, True))
    for cid in ("C-1001", "C-1003"):
        b = before.clients[cid]
        client_want = (
            ClientFact("active", SUCCESSOR, b.portal_access)
            if pol["other_clients"] == "transfer"
            else ClientFact("inactive", None, False)
        )
        _expect(after, f"client {cid}", after.clients[cid], client_want)
    for cid in ("C-1004", "C-1005", "C-1006", "C-1007"):
        _expect(after, f"untouched client {cid}", after.clients[cid], before.clients[cid])
    if pol.get("export", "none") != "none":
        check(run.exports.is_dir() and any(run.exports.iterdir()), "the policy's export file was not written")
    run.converged()


# ---------------------------------------------------------------- the other scenarios
def scheduled_date(run: Run) -> None:
    """``deactivate_on`` in the future: the date is recorded once, sessions from the
    date on go now, the rest happens on the date (SPEC §3.2)."""
    line = "  - {id: bsmith, name: Beth Smith, role: clinician, deactivate_on: 2026-12-15, successor: jdoe}"
    run.write_config(config({LEAVER: line}))
    plan = run.plan("--detailed-exitcode", expect=2)
    types = _types(plan)
    check(("staff.schedule_deactivation", LEAVER) in types, f"no staff.schedule_deactivation: {types}")
    check(("staff.deactivate", LEAVER) not in types, f"deactivated before the date: {types}")
    run.apply()
    f = run.facts()
    _expect(f, "bsmith active before the date", f.staff[LEAVER], True)
    _expect(f, "appointment 14 (after the date)", f.appointments["14"], AppointmentFact("cancelled", LEAVER))
    for a in ("11", "13"):
        _expect(f, f"appointment {a} (before the date)", f.appointments[a], AppointmentFact("scheduled", LEAVER))
    _expect(
        f,
        "current series",
        f.current_series(TODAY),
        [("C-1001", LEAVER, dt.date(2026, 12, 14)), ("C-1004", "cdavis", SERIES_END)],
    )
    run.converged()
    on_the_day = "2026-12-15T15:00:00Z"
    again = run.plan("--detailed-exitcode", at=on_the_day, expect=2)
    check(("staff.deactivate", LEAVER) in _types(again), f"not deactivated on the date: {_types(again)}")
    check(
        ("staff.schedule_deactivation", LEAVER) not in _types(again),
        "the date was scheduled twice",
    )
    run.apply(at=on_the_day)
    f = run.facts()
    _expect(f, "bsmith active on the date", f.staff[LEAVER], False)
    run.converged(at=on_the_day)


def successor_chain(run: Run) -> None:
    """A -> B -> C with B leaving too: everything ends with the final active successor."""
    pol = "  - {name: pass, future_sessions: transfer, clients_with_balance: successor, other_clients: transfer, export: none}"
    run.write_config(
        config(
            {
                LEAVER: "  - {id: bsmith, name: Beth Smith, role: clinician, active: false, successor: cdavis, offboarding: pass}",
                "cdavis": "  - {id: cdavis, name: Cara Davis, role: clinician, active: false, successor: jdoe, offboarding: pass}",
            },
            policies=pol,
        )
    )
    run.apply()
    f = run.facts()
    _expect(
        f,
        "staff",
        {k: f.staff[k] for k in (LEAVER, "cdavis", SUCCESSOR)},
        {LEAVER: False, "cdavis": False, SUCCESSOR: True},
    )
    for a in (*FUTURE, "15"):
        _expect(f, f"appointment {a}", f.appointments[a], AppointmentFact("scheduled", SUCCESSOR))
    _expect(
        f,
        "current series",
        f.current_series(TODAY),
        [("C-1001", SUCCESSOR, SERIES_END), ("C-1004", SUCCESSOR, SERIES_END)],
    )
    for cid in ("C-1001", "C-1002", "C-1003", "C-1004"):
        _expect(f, f"client {cid} primary", f.clients[cid].primary, SUCCESSOR)
    run.converged()


def reactivation(run: Run) -> None:
    """``active: true`` for an inactive professional: ``staff.reactivate`` (SPEC §3.4)."""
    run.write_config(config({"tnguyen": "  - {id: tnguyen, name: Tam Nguyen, role: clinician, active: true}"}))
    check(("staff.reactivate", "tnguyen") in _types(run.plan()), "no staff.reactivate")
    run.apply()
    f = run.facts()
    _expect(f, "tnguyen active", f.staff["tnguyen"], True)
    run.converged()


def clients(run: Run) -> None:
    """Explicit client entries: inactivate, reassign, reactivate (SPEC §3.5)."""
    run.write_config(
        config(
            clients="  - {id: C-1005, status: inactive}\n  - {id: C-1006, primary: jdoe}\n"
            "  - {id: C-1007, status: active, primary: egarcia}\n"
        )
    )
    before = run.facts()
    types = _types(run.plan())
    for want in (("client.inactivate", "C-1005"), ("client.reassign", "C-1006"), ("client.reactivate", "C-1007")):
        check(want in types, f"{want} not planned: {types}")
    run.apply()
    f = run.facts()
    _expect(f, "C-1005", f.clients["C-1005"], ClientFact("inactive", None, False))
    _expect(f, "C-1006", f.clients["C-1006"], ClientFact("active", SUCCESSOR, False))
    _expect(f, "C-1007", (f.clients["C-1007"].status, f.clients["C-1007"].primary), ("active", "egarcia"))
    for cid in ("C-1001", "C-1002", "C-1003", "C-1004"):
        _expect(f, f"untouched client {cid}", f.clients[cid], before.clients[cid])
    run.converged()


def client_delete(run: Run) -> None:
    """``status: deleted``: planned with its export first where the target can delete a
    client (and refused without a signed approval); elsewhere a located validation error
    naming the client and the target, and nothing changes (SPEC §6)."""
    run.write_config(config(clients="  - {id: C-1006, status: deleted}\n"))
    before = run.facts()
    if ActionType.CLIENT_DELETE in run.capabilities():
        types = _types(run.plan())
        check(("client.delete", "C-1006") in types, f"no client.delete: {types}")
        check(types.index(("client.delete", "C-1006")) > 0 and types[0][0] == "export.write", "export not first")
        res = run.apply("--confirm-delete", "C-1006", expect=1)
        check("approv" in res.stderr.lower(), f"deletion without an approval not refused: {res.stderr}")
    else:
        res = run.cli("plan", "-c", str(run.cfg), "--at", AT, expect=1)
        err = res.stderr.strip()
        check(len(err.splitlines()) == 1 or "C-1006" in err.splitlines()[0], f"not one located line: {err!r}")
        check("C-1006" in err and run.h.target in err, f"the error names neither client nor target: {err!r}")
        check("practice.yaml" in err, f"the error is not located: {err!r}")
        check("Traceback" not in err, "a traceback was printed")
    _expect(run.facts(), "facts after a refused deletion", run.facts(), before)


def _offboarding_config(run: Run) -> None:
    line = "  - {id: bsmith, name: Beth Smith, role: clinician, active: false, successor: jdoe, offboarding: standard}"
    run.write_config(config({LEAVER: line}))


def stale_plan(run: Run) -> None:
    """A saved plan is refused, changing nothing, when a session is booked with the
    leaver after it was made (SPEC §4 "Saved plans and safety"); a new plan converges."""
    _offboarding_config(run)
    saved = run.dir / "plan.json"
    run.cli("plan", "-c", str(run.cfg), "--at", AT, "--allow-mass-change", "--out", str(saved))
    booked = run.h.book(
        run.url,
        client="C-1003",
        staff=LEAVER,
        start=dt.datetime(2026, 12, 10, 15, 0, tzinfo=dt.timezone.utc),
        minutes=50,
    )
    before = run.facts()
    res = run.apply(str(saved), expect=1)
    check("stale" in res.stderr.lower(), f"the refusal does not say stale: {res.stderr!r}")
    _expect(run.facts(), "facts after a stale plan", run.facts(), before)
    check(run.audit() == [], "a refused plan wrote audit events")
    run.apply()
    f = run.facts()
    _expect(f, f"booked appointment {booked}", f.appointments[booked], AppointmentFact("cancelled", LEAVER))
    run.converged()


class _FaultySession:
    def __init__(self, inner: Any, after: int) -> None:
        self._inner = inner
        self._left = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def write(self, actions: Sequence[Any], ctx: Any) -> int:
        n: int = self._inner.write(actions, ctx)
        self._left -= 1
        if self._left <= 0:
            raise InjectedFault("injected crash inside the apply transaction")
        return n


class _FaultyTarget:
    """The target, with a crash injected after its ``after``-th writer call."""

    def __init__(self, inner: Any, after: int) -> None:
        self._inner = inner
        self._after = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @contextmanager
    def locked(self, **kw: Any) -> Iterator[Any]:
        with self._inner.locked(**kw) as session:
            yield _FaultySession(session, self._after)


def crash_mid_apply(run: Run) -> None:
    """A crash inside the apply transaction, after some writes: nothing changed, no
    audit event; the next apply converges (SPEC §4)."""
    from reconciler.app.workflow import apply_plan, compute_plan
    from reconciler.config.loader import load_config
    from reconciler.targets import open_target

    _offboarding_config(run)
    before = run.facts()
    target = open_target(run.h.target, run.url)
    try:
        plan = compute_plan(target, load_config(run.cfg), at_text=AT, now=NOW, allow_mass_change=True)
        groups = len(target.writer_groups(list(plan.actions)))
        check(groups >= 3, f"the offboarding has {groups} writer runs, too few to crash in the middle")
        crashed = False
        try:
            apply_plan(_FaultyTarget(target, 2), plan, actor=ACTOR, export_dir=run.exports, time_travel=NOW)
        except InjectedFault:
            crashed = True
        check(crashed, "the injected crash did not surface")
    finally:
        target.dispose()
    _expect(run.facts(), "facts after a crash", run.facts(), before)
    check(run.audit() == [], "a crashed apply left audit events")
    run.apply()
    check(not run.facts().staff[LEAVER], "the apply after the crash did not offboard")
    run.converged()


def concurrent_applies(run: Run) -> None:
    """While one apply holds the lock, a second waits briefly, then fails with exit 1
    and changes nothing; after the first ends, it applies (SPEC §4)."""
    from reconciler.targets import open_target

    _offboarding_config(run)
    before = run.facts()
    holder = open_target(run.h.target, run.url)
    try:
        with holder.locked(actor="other", plan_id="plan-held", timeout=5.0):
            res = run.apply("--lock-timeout", "1", expect=1)
            check(
                "lock" in res.stderr.lower() or "another apply" in res.stderr.lower(),
                f"not a lock error: {res.stderr!r}",
            )
    finally:
        holder.dispose()
    _expect(run.facts(), "facts after a lock refusal", run.facts(), before)
    run.apply()
    check(not run.facts().staff[LEAVER], "the apply after the lock was released did not offboard")
    run.converged()


def import_empty_plan(run: Run) -> None:
    """``import`` writes a config describing the database as it is: its plan is empty."""
    out = run.dir / "imported"
    run.cli("import", "--out", str(out))
    files = sorted(out.rglob("*.yaml"))
    check(files, "import wrote no config")
    run.outputs += [p.read_text(encoding="utf-8") for p in files]  # the config is in git: no PHI either
    res = run.cli("plan", "-c", str(out), "--at", AT, "--detailed-exitcode", "--format", "json")
    check(not json.loads(res.stdout)["actions"], "the imported config's plan is not empty")


def no_phi_anywhere(run: Run) -> None:
    """Every rendering of a plan, the apply, the audit trail, status, validate and the
    logs hold client ids only (the end-of-scenario check reads all of it)."""
    line = "  - {id: bsmith, name: Beth Smith, role: clinician, active: false, successor: jdoe, offboarding: handover}"
    run.write_config(config({LEAVER: line}, clients="  - {id: C-1005, status: inactive}\n"))
    for fmt in ("text", "json", "markdown", "html"):
        run.cli("plan", "-c", str(run.cfg), "--at", AT, "--allow-mass-change", "--format", fmt)
    run.cli("validate", "-c", str(run.cfg), "--db", run.url, "--at", AT)
    run.apply()
    for fmt in ("text", "json"):
        run.cli("audit", "--format", fmt)
    run.cli("audit", "verify")
    run.cli("status", "--at", AT)
    check(any("C-1001" in o for o in run.outputs), "the outputs do not even name clients by id")
    exported = list(run.exports.iterdir())
    check(exported, "the handover export was not written")
    # The export file is where PHI belongs (SPEC §5): it holds the names, mode 0600.
    check(any(n in exported[0].read_text(encoding="utf-8") for n in PHI), "the export holds no client names")
    check(exported[0].stat().st_mode & 0o777 == 0o600, "the export file is not mode 0600")


Scenario = Callable[[Run], None]


def scenarios() -> dict[str, Scenario]:
    """Every scenario by name (the offboarding once per built-in policy)."""
    out: dict[str, Scenario] = {}
    for name in policy_names():
        out[f"offboard-{name}"] = lambda run, name=name: offboard(run, name)  # type: ignore[misc]
    out.update(
        {
            "scheduled-date": scheduled_date,
            "successor-chain": successor_chain,
            "reactivation": reactivation,
            "clients": clients,
            "client-delete": client_delete,
            "stale-plan": stale_plan,
            "crash-mid-apply": crash_mid_apply,
            "concurrent-applies": concurrent_applies,
            "import-empty-plan": import_empty_plan,
            "no-phi": no_phi_anywhere,
        }
    )
    return out


def prepare(harness: Harness, workdir: Path) -> Run:
    """A fresh database with the world seeded."""
    url = harness.new_database()
    workdir.mkdir(parents=True, exist_ok=True)
    world = workdir / "world.yaml"
    world.write_text(WORLD, encoding="utf-8")
    harness.seed(url, world)
    return Run(harness, url, workdir)


def run_scenario(harness: Harness, name: str, workdir: Path) -> Run:
    """Run scenario ``name`` on ``harness`` in ``workdir`` (fresh database, seeded world),
    then check the invariants every scenario keeps: OpenEMR-style protected table
    definitions unchanged, and no client name in any output or log."""
    run = prepare(harness, workdir)
    fingerprint = harness.schema_fingerprint(run.url)
    try:
        scenarios()[name](run)
    except ConformanceFailure as exc:
        raise ConformanceFailure(f"[{harness.name}] {name}: {exc}") from None
    check(
        harness.schema_fingerprint(run.url) == fingerprint,
        f"[{harness.name}] {name}: a protected table definition changed",
    )
    run.assert_no_phi()
    return run
