"""`reconciler watch`: when it reconciles, what one cycle does, who applies, how it stops."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Callable, Iterator

import pytest
import yaml
from constants import ROOT
from dbhelpers import PRACTICE_YAML, fresh_db

from reconciler.app.watch import (
    WatchCycle,
    Watcher,
    is_config_file,
    plan_key,
)
from reconciler.targets.native.leader import FileLeadership, PgLeadership
from reconciler.targets.native.target import NativeTarget

EXAMPLES = ROOT / "examples"
WAIT = 5.0  # generous upper bound for event waits; tests return as soon as the event fires


def client_names() -> set[str]:
    doc = yaml.safe_load((EXAMPLES / "practice.yaml").read_text(encoding="utf-8"))
    return {c[k] for c in doc["clients"] for k in ("first_name", "last_name")}


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Recorder:
    """A reconcile callback that records reasons and lets tests wait for them."""

    def __init__(self, action: Callable[[str], None] | None = None) -> None:
        self.reasons: list[str] = []
        self.cond = threading.Condition()
        self.action = action

    def __call__(self, reason: str) -> None:
        if self.action is not None:
            self.action(reason)
        with self.cond:
            self.reasons.append(reason)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.reasons) >= count, timeout)


class Running:
    """A watcher running in a thread; ``error`` holds what ``run`` raised, if anything."""

    def __init__(self, watcher: Watcher, stop: threading.Event) -> None:
        self.watcher, self.stop = watcher, stop
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the fixture
            self.error = exc


@pytest.fixture
def start_watcher() -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def start(
        config_dir: Path,
        recorder: Recorder,
        *,
        interval: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        debounce: float = 0.3,
    ) -> Running:
        stop = threading.Event()
        r = Running(Watcher(config_dir, interval, recorder, stop, clock, debounce=debounce), stop)
        r.thread.start()
        running.append(r)
        assert recorder.wait_for(1), "the watcher reconciles once at start"
        return r

    yield start
    for r in running:
        r.stop.set()
        r.watcher.wake()
        r.thread.join(WAIT)
        assert not r.thread.is_alive(), "watcher thread did not stop"
        assert r.error is None, r.error


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- Watcher: when


@pytest.mark.parametrize(
    "name, watched",
    [
        ("practice.yaml", True),
        ("staff.yml", True),
        ("sub/clients.yaml", True),
        ("notes.txt", False),
        (".practice.yaml.swp", False),
        (".#practice.yaml", False),
        ("practice.yaml~", False),
        ("STAFF.YAML", True),
        ("Clients.Yml", True),
        (".git/config.yaml", False),
    ],
    ids=[
        "yaml",
        "yml",
        "nested",
        "other-suffix",
        "vim-swap",
        "emacs-lock",
        "backup",
        "upper-case",
        "mixed-case",
        "hidden-dir",
    ],
)
def test_only_yaml_config_files_count_as_changes(name: str, watched: bool) -> None:
    assert is_config_file(f"/cfg/{name}", Path("/cfg")) is watched


def test_watch_and_loader_agree_on_config_files(tmp_path: Path) -> None:
    """One answer to "is this a config file": what the loader reads is what watch watches."""
    from reconciler.config.loader import config_files

    for name in ("STAFF.YAML", "practice.yaml", "sub/c.yml", ".git/x.yaml", "notes.txt"):
        write(tmp_path / name, "version: 1\n")
    loaded = {rel for rel, _ in config_files(tmp_path)}
    watched = {
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.is_file() and is_config_file(str(p), tmp_path)
    }
    assert loaded == watched == {"STAFF.YAML", "practice.yaml", "sub/c.yml"}


def test_a_changed_file_is_reconciled_within_two_seconds(tmp_path: Path, start_watcher: Callable[..., Running]) -> None:
    write(tmp_path / "practice.yaml", "version: 1\n")
    rec = Recorder()
    start_watcher(tmp_path, rec)
    assert rec.reasons == ["start"]
    t0 = time.monotonic()
    write(tmp_path / "practice.yaml", "version: 1\nstaff: []\n")
    assert rec.wait_for(2, timeout=2.0), "no reconcile within 2 s of the edit"
    assert time.monotonic() - t0 < 2.0
    assert rec.reasons == ["start", "change"]


def test_a_new_file_in_a_subdirectory_is_picked_up(tmp_path: Path, start_watcher: Callable[..., Running]) -> None:
    (tmp_path / "team").mkdir()
    rec = Recorder()
    start_watcher(tmp_path, rec)
    write(tmp_path / "team" / "staff.yaml", "version: 1\n")
    assert rec.wait_for(2, timeout=2.0)
    assert rec.reasons[-1] == "change"


def test_a_non_yaml_file_does_not_trigger_a_reconcile(tmp_path: Path, start_watcher: Callable[..., Running]) -> None:
    rec = Recorder()
    r = start_watcher(tmp_path, rec)
    write(tmp_path / "README.txt", "notes")
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".git" / "HEAD.yaml", "x")
    write(tmp_path / "marker.yaml", "version: 1\n")  # events arrive in order: this one is the sync point
    assert rec.wait_for(2)
    assert set(r.watcher.changes_seen) == {str(tmp_path / "marker.yaml")}


def test_a_burst_of_events_is_debounced_into_one_reconcile(
    tmp_path: Path, start_watcher: Callable[..., Running]
) -> None:
    clock = FakeClock()
    rec = Recorder()
    r = start_watcher(tmp_path, rec, clock=clock, debounce=0.3)
    for i in range(5):  # an editor's save, a git checkout: several events in a row
        r.watcher.notify_change(str(tmp_path / f"f{i}.yaml"))
        clock.advance(0.1)
        assert r.watcher.settle()
    assert rec.reasons == ["start"], "no reconcile while the burst goes on"
    clock.advance(0.3)
    assert r.watcher.settle()
    assert rec.reasons == ["start", "change"]
    assert r.watcher.settle()
    assert rec.reasons == ["start", "change"], "one burst, one reconcile"


def test_the_interval_tick_reconciles_without_any_change(tmp_path: Path, start_watcher: Callable[..., Running]) -> None:
    clock = FakeClock()
    rec = Recorder()
    r = start_watcher(tmp_path, rec, clock=clock, interval=60.0)
    clock.advance(59.0)
    assert r.watcher.settle()
    assert rec.reasons == ["start"]
    clock.advance(1.0)
    assert r.watcher.settle()
    assert rec.reasons == ["start", "interval"]
    clock.advance(60.0)
    assert r.watcher.settle()
    assert rec.reasons == ["start", "interval", "interval"]


def test_a_change_restarts_the_interval(tmp_path: Path, start_watcher: Callable[..., Running]) -> None:
    clock = FakeClock()
    rec = Recorder()
    r = start_watcher(tmp_path, rec, clock=clock, interval=60.0, debounce=0.0)
    clock.advance(50.0)
    r.watcher.notify_change(str(tmp_path / "practice.yaml"))
    assert r.watcher.settle()
    clock.advance(50.0)  # 100 s after start, 50 s after the change
    assert r.watcher.settle()
    assert rec.reasons == ["start", "change"]
    clock.advance(10.0)
    assert r.watcher.settle()
    assert rec.reasons == ["start", "change", "interval"]


def test_a_crashing_reconcile_does_not_stop_the_watcher(tmp_path: Path, start_watcher: Callable[..., Running]) -> None:
    def boom(reason: str) -> None:
        if reason == "interval":
            raise RuntimeError("database went away")

    clock = FakeClock()
    rec = Recorder(boom)
    r = start_watcher(tmp_path, rec, clock=clock, interval=10.0, debounce=0.0)
    clock.advance(10.0)
    assert r.watcher.settle()
    r.watcher.notify_change(str(tmp_path / "practice.yaml"))
    assert r.watcher.settle()
    assert rec.reasons == ["start", "change"], "the crashed interval cycle was not recorded; the next one ran"
    assert r.thread.is_alive()


def test_stop_ends_the_run_and_joins_the_observer(tmp_path: Path) -> None:
    stop = threading.Event()
    rec = Recorder()
    w = Watcher(tmp_path, 3600.0, rec, stop)
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    assert rec.wait_for(1)
    stop.set()
    w.wake()
    t.join(WAIT)
    assert not t.is_alive()
    observers = [
        th for th in threading.enumerate() if "Observer" in type(th).__name__ or "Emitter" in type(th).__name__
    ]
    assert observers == []


def test_a_missing_config_directory_is_a_clear_error(tmp_path: Path) -> None:
    from reconciler.errors import ConfigError

    w = Watcher(tmp_path / "nope", 60.0, Recorder(), threading.Event())
    with pytest.raises(ConfigError, match="config directory not found"):
        w.run()


# ---------------------------------------------------------------- leadership


def test_sqlite_file_leadership_admits_one_leader_and_hands_over(tmp_path: Path) -> None:
    lock = tmp_path / "practice.db.watch.lock"
    a, b = FileLeadership(lock), FileLeadership(lock)
    assert a.try_lead() is True
    assert a.try_lead() is True, "a leader stays leader"
    assert b.try_lead() is False, "the second watcher stands by"
    a.release()
    assert b.try_lead() is True, "the standby takes over"
    assert a.try_lead() is False
    b.release()


def test_postgresql_leadership_admits_one_leader_and_hands_over(pg_server: object) -> None:
    from reconciler.targets.native.engine import make_engine

    url = pg_server.create_database()  # type: ignore[attr-defined]
    e1, e2 = make_engine(url), make_engine(url)
    a, b = PgLeadership(e1), PgLeadership(e2)
    try:
        assert a.try_lead() is True
        assert a.try_lead() is True
        assert b.try_lead() is False
        a.release()
        assert b.try_lead() is True
        assert a.try_lead() is False
    finally:
        a.release()
        b.release()
        e1.dispose()
        e2.dispose()


def test_postgresql_leader_loses_the_lock_when_its_session_dies(pg_server: object) -> None:
    from sqlalchemy import text

    from reconciler.targets.native.engine import make_engine

    url = pg_server.create_database()  # type: ignore[attr-defined]
    e1, e2 = make_engine(url), make_engine(url)
    a, b = PgLeadership(e1), PgLeadership(e2)
    try:
        assert a.try_lead()
        assert not b.try_lead()
        # The leader's process dies / its connection drops: the server frees the lock.
        with e2.connect() as c:
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        assert b.try_lead(), "the standby takes over once the leader's session is gone"
        assert not a.try_lead(), "the old leader notices and stands by"
    finally:
        a.release()
        b.release()
        e1.dispose()
        e2.dispose()


def test_two_postgresql_watchers_never_lead_at_once(pg_server: object) -> None:
    from reconciler.targets.native.engine import make_engine

    url = pg_server.create_database()  # type: ignore[attr-defined]
    engines = [make_engine(url), make_engine(url)]
    guard = threading.Lock()
    leader: list[str | None] = [None]
    violations: list[str] = []
    led = {"a": 0, "b": 0}
    stood_by = {"a": 0, "b": 0}
    a_stop, b_stop = threading.Event(), threading.Event()
    a_led, b_stood_by, b_took_over = threading.Event(), threading.Event(), threading.Event()

    def run(name: str, lead: PgLeadership, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                if lead.try_lead():
                    with guard:
                        if leader[0] not in (None, name):
                            violations.append(f"{name} leads while {leader[0]} does")
                        leader[0] = name
                        led[name] += 1
                    (a_led if name == "a" else b_took_over).set()
                else:
                    stood_by[name] += 1
                    if name == "b" and stood_by["b"] >= 20:
                        b_stood_by.set()
        finally:
            with guard:  # step down in our books before the lock is really gone
                if leader[0] == name:
                    leader[0] = None
            lead.release()

    ta = threading.Thread(target=run, args=("a", PgLeadership(engines[0]), a_stop))
    tb = threading.Thread(target=run, args=("b", PgLeadership(engines[1]), b_stop))
    ta.start()
    assert a_led.wait(WAIT)
    tb.start()
    assert b_stood_by.wait(WAIT), "both watchers run side by side for a while"
    a_stop.set()  # the leader stops; the standby must take over
    ta.join(WAIT)
    assert b_took_over.wait(WAIT)
    b_stop.set()
    tb.join(WAIT)
    for e in engines:
        e.dispose()
    assert violations == []
    assert led["a"] > 0 and led["b"] > 0 and stood_by["a"] == 0


# ---------------------------------------------------------------- WatchCycle: what one reconcile does

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.timezone.utc)
OFFBOARDING = (EXAMPLES / "offboarding" / "practice.yaml").read_text(encoding="utf-8")
# The same roster with nobody leaving: the database already matches it.
STEADY = OFFBOARDING.replace("    active: false\n    offboarding: standard\n", "    offboarding: standard\n")


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, object]]]]:
    from reconciler.logs import configure, reset

    buf = io.StringIO()
    configure("json", buf, level=logging.DEBUG)

    def read() -> list[dict[str, object]]:
        return [json.loads(line) for line in buf.getvalue().splitlines()]

    yield read
    reset()


def events(lines: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [line for line in lines if line["event"] == name]


def audit_count(engine: object) -> int:
    from reconciler.app.audit import read_audit

    return len(read_audit(NativeTarget(engine)))  # type: ignore[arg-type]


def make_cycle(
    cfg: Path,
    engine: object,
    tmp_path: Path,
    *,
    auto_apply: bool,
    out: io.StringIO | None = None,
    leadership: object = None,
    actor: str = "alee",
) -> WatchCycle:
    return WatchCycle(
        cfg,
        NativeTarget(engine),
        auto_apply=auto_apply,
        actor=actor,
        export_dir=tmp_path / "exports",  # type: ignore[arg-type]
        leadership=leadership,
        out=out,
        now=lambda: NOW,
        settle=0,
    )  # type: ignore[arg-type]


def test_without_auto_apply_a_plan_is_printed_only_when_it_changes(
    db_url: str, tmp_path: Path, log_lines: Callable[[], list[dict[str, object]]]
) -> None:
    engine = fresh_db(db_url, PRACTICE_YAML)
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", STEADY)
    out = io.StringIO()
    cycle = make_cycle(cfg, engine, tmp_path, auto_apply=False, out=out)
    cycle("start")
    first = out.getvalue()
    assert "No changes" in first
    cycle("interval")
    assert out.getvalue() == first, "an unchanged plan is not printed again"
    write(cfg / "practice.yaml", OFFBOARDING)
    cycle("change")
    printed = out.getvalue()[len(first) :]
    assert "staff.deactivate" in printed and "bsmith" in printed
    cycle("interval")
    assert out.getvalue() == first + printed
    assert audit_count(engine) == 0, "without --auto-apply nothing is applied"
    assert [e["actions"] for e in events(log_lines(), "plan.changed")] == [0, 52]
    engine.dispose()


def test_plans_that_differ_only_in_their_clock_are_the_same(db_url: str, tmp_path: Path) -> None:
    from reconciler.app.workflow import compute_plan
    from reconciler.config.loader import load_config

    engine = fresh_db(db_url, PRACTICE_YAML)
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", OFFBOARDING)
    desired = load_config(cfg)
    a = compute_plan(
        NativeTarget(engine), desired, at_text=None, now=NOW + dt.timedelta(minutes=1)
    )  # no session starts
    b = compute_plan(NativeTarget(engine), desired, at_text=None, now=NOW + dt.timedelta(minutes=2))  # in between
    assert a.as_of != b.as_of and a.plan_id != b.plan_id
    assert plan_key(a) == plan_key(b)
    engine.dispose()


def test_plans_with_an_export_that_differ_only_in_their_clock_are_the_same(db_url: str, tmp_path: Path) -> None:
    from reconciler.app.workflow import compute_plan
    from reconciler.config.loader import load_config

    engine = fresh_db(db_url, PRACTICE_YAML)
    desired = load_config(ROOT / "examples" / "handover")  # export file names carry the plan time
    a = compute_plan(NativeTarget(engine), desired, at_text=None, now=NOW + dt.timedelta(minutes=1))
    b = compute_plan(NativeTarget(engine), desired, at_text=None, now=NOW + dt.timedelta(minutes=1, seconds=7))
    assert a.actions[0].changes["file"] != b.actions[0].changes["file"]
    assert plan_key(a) == plan_key(b)
    engine.dispose()


@pytest.mark.parametrize(
    "broken, line",
    [
        (
            OFFBOARDING.replace(
                "  - {id: jdoe, name: Jon Doe, role: clinician}\n", "  - {id: jdoe, name: Jon Doe, role: clin"
            ),
            22,
        ),
        (OFFBOARDING.replace("role: clinician\n    active: false", "role: surgeon\n    active: false"), 19),
        (OFFBOARDING.replace("version: 1\n", "version: 1\nversion: 1\n"), 7),
    ],
    ids=["half-written", "invalid-value", "duplicate-key"],
)
def test_a_bad_edit_is_reported_with_file_and_line_and_never_applied(
    db_url: str, tmp_path: Path, log_lines: Callable[[], list[dict[str, object]]], broken: str, line: int
) -> None:
    engine = fresh_db(db_url, PRACTICE_YAML)
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", broken)
    cycle = make_cycle(cfg, engine, tmp_path, auto_apply=True)
    cycle("change")
    (err,) = events(log_lines(), "config.invalid")
    assert err["level"] == "error"
    assert str(err["file"]).endswith("practice/practice.yaml") and err["line"] == line, err
    assert audit_count(engine) == 0, "an invalid config is never applied"
    write(cfg / "practice.yaml", OFFBOARDING)  # the edit is finished
    cycle("change")
    assert audit_count(engine) == 52 and len(cycle.applied) == 1
    cycle("interval")
    assert len(cycle.applied) == 1, "converged: nothing more to apply"
    engine.dispose()


def test_a_failed_apply_is_logged_and_retried_on_the_next_cycle(
    tmp_path: Path, log_lines: Callable[[], list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.app.workflow as workflow
    from reconciler.errors import LockHeld

    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", OFFBOARDING)
    real_apply = workflow.apply_plan
    calls: list[str] = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append("apply")
        if len(calls) == 1:
            raise LockHeld("another apply holds the practice lock: pmorgan (plan plan-x)")
        return real_apply(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workflow, "apply_plan", flaky)
    cycle = make_cycle(cfg, engine, tmp_path, auto_apply=True)
    cycle("start")
    (failed,) = events(log_lines(), "apply.failed")
    assert failed["error"] == "LockHeld" and failed["retry"] == "next cycle"
    assert audit_count(engine) == 0
    cycle("interval")
    assert audit_count(engine) == 52
    engine.dispose()


def test_watch_logs_never_name_a_client(db_url: str, tmp_path: Path) -> None:
    from reconciler.logs import configure

    engine = fresh_db(db_url, PRACTICE_YAML)
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", OFFBOARDING)
    buf, out = io.StringIO(), io.StringIO()
    configure("text", buf, level=logging.DEBUG)
    try:
        make_cycle(cfg, engine, tmp_path, auto_apply=False, out=out)("start")
        make_cycle(cfg, engine, tmp_path, auto_apply=True)("start")
    finally:
        logging.getLogger("reconciler").handlers.clear()
    text = buf.getvalue() + out.getvalue()
    assert "plan.changed" in text and "apply.done" in text
    assert sorted(n for n in client_names() if n in text) == []
    engine.dispose()


def test_two_postgresql_watchers_apply_once_and_the_standby_takes_over(
    pg_server: object, tmp_path: Path, log_lines: Callable[[], list[dict[str, object]]]
) -> None:
    url = pg_server.create_database()  # type: ignore[attr-defined]
    engine = fresh_db(url, PRACTICE_YAML)
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", STEADY)
    lead_a, lead_b = PgLeadership(engine), PgLeadership(engine)
    a = make_cycle(cfg, engine, tmp_path, auto_apply=True, leadership=lead_a)
    b = make_cycle(cfg, engine, tmp_path, auto_apply=True, leadership=lead_b)
    try:
        a("start")
        b("start")
        assert lead_a.leading and not lead_b.leading
        assert len(events(log_lines(), "standby")) == 1
        write(cfg / "practice.yaml", OFFBOARDING)
        b("change")  # the standby sees the change first: it must not apply
        assert audit_count(engine) == 0 and b.applied == []
        a("change")
        assert len(a.applied) == 1 and audit_count(engine) == 52
        lead_a.release()  # the leader stops
        b("interval")
        assert lead_b.leading, "the standby took over"
        assert b.applied == [] and audit_count(engine) == 52, "converged: nothing applied twice"
    finally:
        lead_a.release()
        lead_b.release()
        engine.dispose()


def test_a_watcher_with_a_real_observer_applies_an_edit(tmp_path: Path, start_watcher: Callable[..., Running]) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", STEADY)
    cycle = make_cycle(cfg, engine, tmp_path, auto_apply=True)
    rec = Recorder(cycle)
    start_watcher(cfg, rec)
    assert audit_count(engine) == 0
    write(cfg / "practice.yaml", OFFBOARDING)
    assert rec.wait_for(2)
    assert rec.reasons[-1] == "change" and len(cycle.applied) == 1
    assert audit_count(engine) == 52
    engine.dispose()


# ---------------------------------------------------------------- run_watch: signals


def read_lines_until(stream: IO[str], needle: str, timeout: float) -> tuple[bool, list[str]]:
    """Read lines from a pipe in a thread until one contains ``needle`` (or timeout)."""
    seen: list[str] = []
    found = threading.Event()

    def reader() -> None:
        for line in stream:
            seen.append(line)
            if needle in line:
                found.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    return found.wait(timeout), seen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_run_watch_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "p.db"
    fresh_db(f"sqlite:///{db}", PRACTICE_YAML).dispose()
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", STEADY)
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_DB"}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.cli",
            "watch",
            "-c",
            str(cfg),
            "--db",
            f"sqlite:///{db}",
            "--interval",
            "3600",
            "--log-format",
            "json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    ) as proc:
        try:
            assert proc.stderr is not None
            ok, seen = read_lines_until(proc.stderr, '"plan.changed"', 60)  # idle after the first cycle
            assert ok, "".join(seen)
            proc.send_signal(sig)
            proc.wait(timeout=30)
            rest = proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, "".join(seen) + rest
    logged = [json.loads(line)["event"] for line in ("".join(seen) + rest).splitlines() if line.startswith("{")]
    assert logged[-2:] == ["watch.stopping", "watch.stopped"]
    assert "Traceback" not in rest
