"""``reconciler watch --metrics-addr``: /metrics and /healthz scraped over real HTTP
while a watcher (fake clock, no sleeping) runs cycles against a real database."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner
from constants import ROOT
from dbhelpers import PRACTICE_YAML, fresh_db
from prometheus_client.parser import text_string_to_metric_families

from reconciler.app.metrics import MetricsServer, WatchMetrics, parse_address
from reconciler.app.watch import WatchCycle, Watcher
from reconciler.errors import PlanRefused, ReconcilerError, StalePlan
from reconciler.model.actions import ActionType
from reconciler.targets.native.target import NativeTarget

EXAMPLES = ROOT / "examples"
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.timezone.utc)
WALL = 1_795_000_000.0  # what the injected wall clock says: the last-success timestamp
INTERVAL = 60.0
WAIT = 10.0
OFFBOARDING = (EXAMPLES / "offboarding" / "practice.yaml").read_text(encoding="utf-8")
STEADY = OFFBOARDING.replace("    active: false\n    offboarding: standard\n", "    offboarding: standard\n")
BROKEN = OFFBOARDING.replace(
    "  - {id: jdoe, name: Jon Doe, role: clinician}\n", "  - {id: jdoe, name: Jon Doe, role: clin"
)
#: Client names seeded into the database: none of them may ever appear in a scrape.
SEEDED_NAMES = ("Zebulon", "Quillfeather", "Marisol", "Thistlewood", "Oksana", "Vantongeren")


class FakeClock:
    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def seeded_snapshot(tmp_path: Path) -> Path:
    """examples/practice.yaml with recognisable client names (PHI that must never leak)."""
    text = PRACTICE_YAML.read_text(encoding="utf-8")
    for old, new in (
        ("first_name: Tom", "first_name: Zebulon"),
        ("last_name: Reyes", "last_name: Quillfeather"),
        ("first_name: Ava", "first_name: Marisol"),
        ("last_name: Patel", "last_name: Thistlewood"),
        ("first_name: Liam", "first_name: Oksana"),
        ("last_name: Okafor", "last_name: Vantongeren"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "seeded.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


class _NoObserver:
    def stop(self) -> None:
        return None

    def join(self, timeout: float | None = None) -> None:
        return None


class QuietWatcher(Watcher):
    """A Watcher without the file-system observer: changes come only from
    ``notify_change``, so every cycle is one the test asked for (file events are
    tested in test_watch.py)."""

    def _start_observer(self) -> Any:
        return _NoObserver()


class Served:
    """A watcher + cycle + metrics server; ``step`` runs what is due and waits for it."""

    def __init__(self, cfg: Path, cycle: WatchCycle, metrics: WatchMetrics, clock: FakeClock) -> None:
        self.cfg, self.cycle, self.metrics, self.clock = cfg, cycle, metrics, clock
        self.stop = threading.Event()
        self.watcher = QuietWatcher(cfg, INTERVAL, cycle, self.stop, clock, debounce=0.0)
        self.server = MetricsServer(metrics, "127.0.0.1", 0).start()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.watcher.started.wait(WAIT)
        assert self.watcher.settle(WAIT), "the start cycle ran"

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as exc:  # noqa: BLE001 - surfaced at close
            self.error = exc

    def edit(self, text: str) -> None:
        """Write the config and run the change cycle (no waiting for file events)."""
        write(self.cfg / "practice.yaml", text)
        self.watcher.notify_change(str(self.cfg / "practice.yaml"))
        assert self.watcher.settle(WAIT)

    def tick(self) -> None:
        self.clock.advance(INTERVAL)
        assert self.watcher.settle(WAIT)

    def metrics_text(self) -> str:
        code, body = get(self.server.url + "/metrics")
        assert code == 200
        return body

    def health(self) -> tuple[int, str]:
        return get(self.server.url + "/healthz")

    def close(self) -> None:
        self.stop.set()
        self.watcher.wake()
        self.thread.join(WAIT)
        self.server.stop()
        assert not self.thread.is_alive()
        assert self.error is None, self.error


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []
    engines: list[Any] = []

    def start(
        db_url: str,
        config: str = STEADY,
        *,
        auto_apply: bool = True,
        compute: Callable[..., Any] | None = None,
        apply: Callable[..., Any] | None = None,
        leadership: Any = None,
        name: str = "practice",
    ) -> Served:
        if not engines:
            engines.append(fresh_db(db_url, seeded_snapshot(tmp_path)))
        engine = engines[0]
        cfg = tmp_path / name
        write(cfg / "practice.yaml", config)
        clock = FakeClock()
        metrics = WatchMetrics(INTERVAL, auto_apply=auto_apply, clock=clock, wall=lambda: WALL)
        target = NativeTarget(engine)
        cycle = WatchCycle(
            cfg,
            target,
            auto_apply=auto_apply,
            actor="alee",
            export_dir=tmp_path / "exports",
            leadership=leadership if leadership is not None else target.leadership(),
            out=io.StringIO(),  # the plan text is not under test here
            now=lambda: NOW,
            compute=compute,
            apply=apply,
            observer=metrics,
            settle=0,  # files written just now are applied at once (the settle wait: test_hardening_watch)
        )
        s = Served(cfg, cycle, metrics, clock)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()
        s.cycle.leadership.release()
    for e in engines:
        e.dispose()


# ---------------------------------------------------------------- through cycles


def test_a_successful_cycle_is_healthy_and_its_plan_is_exported(db_url: str, serve: Callable[..., Served]) -> None:
    from reconciler.app.workflow import compute_plan
    from reconciler.config.loader import load_config

    s = serve(db_url, OFFBOARDING, auto_apply=False)  # plan only: the actions stay pending
    code, body = s.health()
    assert code == 200 and body.startswith("ok: last successful reconcile 0 s ago (interval 60 s)"), body
    text = s.metrics_text()
    assert value(text, "reconciler_last_success_timestamp_seconds") == WALL
    assert value(text, "reconciler_cycle_duration_seconds_count") == 1
    plan = compute_plan(s.cycle.target, load_config(s.cfg), at_text=None, now=NOW)
    assert plan.summary and sum(plan.summary.values()) == 52
    for t in ActionType:
        assert value(text, "reconciler_planned_actions", type=t.value) == plan.summary.get(t.value, 0), t
    assert value(text, "reconciler_drift_actions_pending") == sum(a.drift for a in plan.actions)
    assert value(text, "reconciler_config_errors_total") == 0
    assert value(text, "reconciler_applies_total", result="applied") == 0
    assert value(text, "reconciler_leader") == 0, "a plan-only watcher never leads"
    s.tick()
    assert value(s.metrics_text(), "reconciler_cycle_duration_seconds_count") == 2


def test_an_applied_plan_is_counted_and_nothing_stays_pending(db_url: str, serve: Callable[..., Served]) -> None:
    s = serve(db_url, STEADY)
    text = s.metrics_text()
    assert value(text, "reconciler_leader") == 1
    assert value(text, "reconciler_applies_total", result="applied") == 0, "an empty plan is not an apply"
    s.edit(OFFBOARDING)
    text = s.metrics_text()
    assert len(s.cycle.applied) == 1
    assert value(text, "reconciler_applies_total", result="applied") == 1
    assert all(value(text, "reconciler_planned_actions", type=t.value) == 0 for t in ActionType)
    assert value(text, "reconciler_drift_actions_pending") == 0
    assert value(text, "reconciler_cycle_duration_seconds_count") == 2
    assert s.health()[0] == 200


def test_a_failing_config_is_503_with_its_file_and_line_and_counted(db_url: str, serve: Callable[..., Served]) -> None:
    s = serve(db_url, STEADY)
    assert s.health()[0] == 200
    s.edit(BROKEN)
    code, body = s.health()
    assert code == 503
    assert body.startswith("last cycle failed: config error ") and "practice.yaml:22" in body, body
    assert body.count("\n") == 1, "one line"
    text = s.metrics_text()
    assert value(text, "reconciler_config_errors_total") == 1
    assert value(text, "reconciler_last_success_timestamp_seconds") == WALL, "the last success stays what it was"
    s.tick()  # still broken at the next interval
    assert value(s.metrics_text(), "reconciler_config_errors_total") == 2
    assert s.health()[0] == 503
    s.edit(STEADY)  # fixed
    code, body = s.health()
    assert code == 200, body


def test_a_stale_apply_is_counted_and_the_next_cycle_recovers(db_url: str, serve: Callable[..., Served]) -> None:
    from reconciler.app.workflow import apply_plan

    calls: list[int] = []

    def stale_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise StalePlan("stale plan: the rows it depends on changed; nothing was changed")
        return apply_plan(*args, **kwargs)

    s = serve(db_url, OFFBOARDING, apply=stale_once)
    text = s.metrics_text()
    assert value(text, "reconciler_applies_total", result="stale") == 1
    assert value(text, "reconciler_applies_total", result="applied") == 0
    assert value(text, "reconciler_planned_actions", type="staff.deactivate") == 1, "still pending"
    code, body = s.health()
    assert code == 503 and body.startswith("last cycle failed: apply stale (StalePlan, plan plan-"), body
    s.tick()
    text = s.metrics_text()
    assert value(text, "reconciler_applies_total", result="applied") == 1
    assert value(text, "reconciler_applies_total", result="stale") == 1
    assert s.health()[0] == 200


@pytest.mark.parametrize("where", ["plan", "apply"])
def test_a_refused_plan_is_counted_as_refused(tmp_path: Path, serve: Callable[..., Served], where: str) -> None:
    def refuse(*_a: Any, **_k: Any) -> Any:
        raise PlanRefused("the plan would deactivate 100 % of the active staff; nothing was changed")

    s = serve(f"sqlite:///{tmp_path / 'p.db'}", OFFBOARDING, **{"compute" if where == "plan" else "apply": refuse})
    text = s.metrics_text()
    assert value(text, "reconciler_applies_total", result="refused") == 1
    assert value(text, "reconciler_applies_total", result="failed") == 0
    assert s.health()[0] == 503


def test_a_standby_watcher_reports_leader_0(db_url: str, serve: Callable[..., Served]) -> None:
    a = serve(db_url, STEADY, name="a")
    b = serve(db_url, STEADY, name="b")
    assert value(a.metrics_text(), "reconciler_leader") == 1
    assert value(b.metrics_text(), "reconciler_leader") == 0
    assert b.health()[0] == 200, "standing by is healthy"
    a.cycle.leadership.release()
    b.tick()
    assert value(b.metrics_text(), "reconciler_leader") == 1, "the standby took over"


def test_metrics_and_health_never_name_a_client(db_url: str, serve: Callable[..., Served]) -> None:
    s = serve(db_url, STEADY, auto_apply=False)
    s.edit(OFFBOARDING)  # a plan that moves and inactivates the seeded clients
    scraped = [s.metrics_text(), s.health()[1]]
    apply_side = serve(db_url, OFFBOARDING, name="applying")
    assert len(apply_side.cycle.applied) == 1
    scraped += [apply_side.metrics_text(), apply_side.health()[1]]
    text = "\n".join(scraped)
    assert "reconciler_planned_actions" in text
    assert [n for n in SEEDED_NAMES if n.lower() in text.lower()] == []
    assert "C-10" not in text, "not even client ids: labels are low-cardinality"


# ---------------------------------------------------------------- health and hooks alone


def test_health_is_503_when_no_cycle_succeeded_within_two_intervals() -> None:
    clock = FakeClock()
    m = WatchMetrics(300.0, clock=clock, wall=lambda: WALL)
    ok, why = m.health()
    assert not ok and why.startswith("no reconcile finished yet"), why
    m.cycle_started("start")
    m.cycle_finished("start")
    assert m.health() == (True, "ok: last successful reconcile 0 s ago (interval 300 s)")
    clock.advance(600.0)
    assert m.health()[0] is True, "two intervals is still fine"
    clock.advance(42.0)
    assert m.health() == (False, "no successful reconcile for 642 s (interval 300 s)")


def test_a_crashed_cycle_is_unhealthy() -> None:
    m = WatchMetrics(60.0, clock=FakeClock())
    m.cycle_started("interval")
    m.cycle_finished("interval", crashed=RuntimeError("database went away"))
    ok, why = m.health()
    assert not ok and why == "last cycle failed: cycle crashed (RuntimeError)"
    assert "database went away" not in why


def test_the_compliance_hook_sets_the_violation_gauge(tmp_path: Path) -> None:
    """A fake compliance check reports through the hook, as the real one does every interval."""
    m = WatchMetrics(60.0, clock=FakeClock())

    def fake_check() -> list[dict[str, Any]]:
        return [
            {"kind": "leave_date_passed", "staff": "bsmith", "date": "2026-11-01"},
            {"kind": "leave_date_passed", "staff": "jdoe", "date": "2026-11-02"},
            {"kind": "purge_overdue", "client": "C-1003"},
            {"kind": "Robert'); DROP TABLE", "client": "C-1004"},  # not a kind: never a label value
        ]

    m.compliance_checked(fake_check())
    text = m.exposition().decode()
    assert value(text, "reconciler_compliance_violations", kind="leave_date_passed") == 2
    assert value(text, "reconciler_compliance_violations", kind="purge_overdue") == 1
    assert value(text, "reconciler_compliance_violations", kind="other") == 1
    assert value(text, "reconciler_compliance_violations", kind="audit_chain_broken") == 0
    assert "C-100" not in text and "DROP" not in text
    m.compliance_checked([])  # resolved: every kind drops back to 0
    text = m.exposition().decode()
    assert value(text, "reconciler_compliance_violations", kind="leave_date_passed") == 0
    assert value(text, "reconciler_compliance_violations", kind="other") == 0


def test_the_metrics_use_their_own_registry() -> None:
    from prometheus_client import REGISTRY

    WatchMetrics(60.0)
    WatchMetrics(60.0)  # a second one would clash in a shared registry
    assert REGISTRY.get_sample_value("reconciler_config_errors_total") is None


# ---------------------------------------------------------------- address and server


@pytest.mark.parametrize(
    "text, expected",
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("localhost:0", ("localhost", 0)), ("[::1]:9464", ("::1", 9464))],
)
def test_metrics_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9464", "127.0.0.1", "127.0.0.1:http", ":9464", "1.2.3.4:99999", "::1:9464", ""])
def test_a_bad_metrics_address_is_one_clear_error(text: str) -> None:
    with pytest.raises(ReconcilerError, match="expected HOST:PORT, e.g. 127.0.0.1:9464"):
        parse_address(text)


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ReconcilerError, match=rf"--metrics-addr 127.0.0.1:{port}: cannot listen"):
            MetricsServer(WatchMetrics(60.0), "127.0.0.1", port).start()


def test_other_paths_are_404_and_stop_closes_the_port() -> None:
    server = MetricsServer(WatchMetrics(60.0), "127.0.0.1", 0).start()
    url = server.url
    assert get(url + "/")[0] == 404
    assert get(url + "/metrics")[0] == 200
    assert get(url + "/healthz")[0] == 503
    server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/metrics", timeout=WAIT)


def test_watch_with_a_bad_metrics_address_exits_1_with_one_line(tmp_path: Path) -> None:
    from reconciler.cli import main

    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", STEADY)
    result = CliRunner().invoke(
        main, ["watch", "-c", str(cfg), "--db", f"sqlite:///{tmp_path / 'p.db'}", "--metrics-addr", "localhost"]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: --metrics-addr 'localhost': expected HOST:PORT, e.g. 127.0.0.1:9464"
    ]


# ---------------------------------------------------------------- the real command


def test_reconciler_watch_serves_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    fresh_db(f"sqlite:///{db}", PRACTICE_YAML).dispose()
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", STEADY)
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_DB"}
    cmd = [sys.executable, "-m", "reconciler.cli", "watch", "-c", str(cfg), "--db", f"sqlite:///{db}"]
    cmd += ["--interval", "3600", "--log-format", "json", "--metrics-addr", "127.0.0.1:0"]
    with subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    ) as proc:
        try:
            assert proc.stderr is not None
            events: list[dict[str, Any]] = []
            for line in proc.stderr:  # until the first cycle has finished
                if line.startswith("{"):
                    events.append(json.loads(line))
                if events and events[-1]["event"] == "plan.changed":
                    break
            (listening,) = [e for e in events if e["event"] == "metrics.listening"]
            url = str(listening["url"])
            # plan.changed is logged inside the cycle: poll until the cycle has finished.
            deadline = time.monotonic() + 60
            while (health := get(url + "/healthz"))[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            code, body = health
            assert code == 200 and body.startswith("ok"), body
            code, body = get(url + "/metrics")
            assert code == 200 and value(body, "reconciler_cycle_duration_seconds_count") == 1
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            rest = proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, rest
    assert "Traceback" not in rest
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=WAIT)
