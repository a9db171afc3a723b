"""``reconciler watch``: reconcile on every config change and at every interval.

Three parts, each testable alone:

* :class:`Watcher` — *when* to reconcile. A watchdog observer on the config
  directory (recursive, ``*.yaml``/``*.yml``) whose bursts of events are debounced,
  plus a tick every ``interval`` seconds (scheduled dates arrive and drift appears
  without any file changing). The clock and the stop event are injected, so tests
  drive it without sleeping.
* :class:`Leadership` — *who* may apply. Several watchers may run against one
  PostgreSQL database; only the holder of a session-level advisory lock (held on a
  dedicated connection for as long as it leads) applies, the others stand by and
  retry every cycle, taking over when the leader's connection closes. On SQLite a
  lock file next to the database (``fcntl.flock``) gives the same semantics.
* :class:`WatchCycle` — *what* one reconcile does: load the config (an invalid or
  half-written file is reported with file:line and skipped, never applied), plan,
  then print the plan when it changed, or apply it (``--auto-apply``, leader only).

:func:`run_watch` wires them together with SIGINT/SIGTERM handling.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any, Callable

from reconciler.config import is_config_path
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.logs import configure, get_logger

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.actions import Plan
    from reconciler.targets.base import Target

DEFAULT_DEBOUNCE = 0.3
DEFAULT_SETTLE = 10.0  # seconds a plain directory must be unchanged before --auto-apply acts on it

log = get_logger("watch")


# ---------------------------------------------------------------- when


def is_config_file(path: str | bytes, root: Path | None = None) -> bool:
    """A path the watcher cares about: a file the config loader reads
    (:func:`reconciler.config.is_config_path`: ``*.yaml``/``*.yml`` in any case, not
    hidden, not under a hidden directory such as ``.git/`` relative to ``root``)."""
    text = os.fsdecode(path)
    if root is None:
        return is_config_path(PurePath(os.path.basename(text)))
    try:
        rel = Path(text).relative_to(root)
    except ValueError:
        return False
    return is_config_path(rel)


def config_files_state(config_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime_ns) of every config file, sorted: cheap "did anything move?" check."""
    out: list[tuple[str, int, int]] = []
    for path in sorted(config_dir.rglob("*")):
        if path.is_file() and is_config_file(str(path), config_dir):
            try:
                st = path.stat()
            except OSError:  # deleted between listing and stat: counts as a change later
                continue
            out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _reconcile_guarded(reconcile: Callable[[str], Any], reason: str) -> None:
    """Run one reconcile cycle; a crash is logged, never raised: the watch must outlive
    any one cycle (both the directory and the git watcher run cycles this way)."""
    try:
        reconcile(reason)
    except Exception as exc:  # noqa: BLE001 - the watch must outlive any one cycle
        log.error("reconcile.crashed", reason=reason, error=type(exc).__name__, message=str(exc))


class Watcher:
    """Calls ``reconcile(reason)`` at start, after each (debounced) config change, and
    every ``interval`` seconds after the previous reconcile, until ``stop`` is set.

    ``reason`` is ``"start"``, ``"change"`` or ``"interval"``. ``clock`` returns
    monotonic seconds; the loop waits on an internal event with timeouts computed
    from it, and :meth:`wake` makes it re-read the clock at once (tests advance a
    fake clock and call ``wake``). An exception from ``reconcile`` is logged and the
    watcher keeps running: one bad cycle must not end the watch.
    """

    def __init__(
        self,
        config_dir: Path,
        interval: float,
        reconcile: Callable[[str], None],
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        *,
        debounce: float = DEFAULT_DEBOUNCE,
    ) -> None:
        if interval <= 0:
            raise ReconcilerError(f"--interval must be positive, got {interval}")
        self.config_dir = Path(config_dir).absolute()
        self.interval = float(interval)
        self.reconcile = reconcile
        self.stop = stop
        self.clock = clock
        self.debounce = debounce
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._change_due: float | None = None  # when the debounced change should fire
        self._changed_paths: set[str] = set()
        self.changes_seen: list[str] = []  # every path that counted as a change, in order (for tests and logs)
        self.started = threading.Event()  # set once the observer is running
        # settle() requests and loop passes that handled them: a sync point for tests.
        self._requested = 0
        self._handled = 0
        self._pass_cond = threading.Condition()

    def wake(self) -> None:
        """Make the loop re-evaluate now (a file event, a stop, or a test's clock step)."""
        self._wake.set()

    def settle(self, timeout: float = 5.0) -> bool:
        """Wake the loop and wait until it has handled everything due at the current
        clock and is about to wait again. A sync point for tests (no blind sleeps);
        False on timeout."""
        with self._pass_cond:
            self._requested += 1
            target = self._requested
        self.wake()
        with self._pass_cond:
            return self._pass_cond.wait_for(lambda: self._handled >= target, timeout)

    def notify_change(self, path: str) -> None:
        """Record a config change; the reconcile fires ``debounce`` seconds after the last one."""
        with self._lock:
            self._change_due = self.clock() + self.debounce
            self._changed_paths.add(path)
            self.changes_seen.append(path)
        self.wake()

    def _take_due_change(self, now: float) -> list[str] | None:
        with self._lock:
            if self._change_due is None or now < self._change_due:
                return None
            paths = sorted(self._changed_paths)
            self._change_due = None
            self._changed_paths.clear()
            return paths

    def _next_wait(self, now: float, next_tick: float) -> float:
        with self._lock:
            due = next_tick if self._change_due is None else min(next_tick, self._change_due)
        return max(0.0, due - now)

    def _run_cycle(self, reason: str) -> None:
        _reconcile_guarded(self.reconcile, reason)
        retry = getattr(self.reconcile, "retry_after", None)
        if isinstance(retry, (int, float)) and retry > 0:
            # The cycle skipped (files still settling): run again when they will have settled.
            with self._lock:
                due = self.clock() + float(retry)
                self._change_due = due if self._change_due is None else min(self._change_due, due)

    def _start_observer(self) -> Any:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return  # reads (ours included) are not changes
                paths = [event.src_path, getattr(event, "dest_path", "") or ""]
                for p in paths:
                    if p and is_config_file(p, watcher.config_dir):
                        watcher.notify_change(os.fsdecode(p))

        observer = Observer()
        try:
            observer.schedule(Handler(), str(self.config_dir), recursive=True)
            observer.start()
        except OSError as exc:
            raise ReconcilerError(f"{self.config_dir}: cannot watch the config directory ({exc})") from exc
        return observer

    def run(self) -> None:
        """Watch until ``stop`` is set; then stop and join the observer."""
        if not self.config_dir.is_dir():
            raise ConfigError(f"{self.config_dir}: config directory not found")
        observer = self._start_observer()
        self.started.set()
        try:
            self._run_cycle("start")
            next_tick = self.clock() + self.interval
            while not self.stop.is_set():
                with self._pass_cond:
                    seen = self._requested
                now = self.clock()
                changed = self._take_due_change(now)
                if changed is not None:
                    log.info("config.changed", files=len(changed))
                    self._run_cycle("change")
                    next_tick = self.clock() + self.interval  # the state was just looked at
                elif now >= next_tick:
                    self._run_cycle("interval")
                    next_tick = self.clock() + self.interval
                with self._pass_cond:
                    self._handled = seen
                    self._pass_cond.notify_all()
                if self.stop.is_set():
                    break
                self._wake.wait(self._next_wait(self.clock(), next_tick))
                self._wake.clear()
        finally:
            observer.stop()
            observer.join(timeout=10)


class GitWatcher:
    """``watch --git``: calls ``reconcile(reason)`` at start, whenever the branch head
    moves (polled every ``poll`` seconds with ``git rev-parse``), and every
    ``interval`` seconds. ``clock`` and ``stop`` are injected; :meth:`step` is one
    pass of the loop (tests call it with a fake clock)."""

    def __init__(
        self,
        source: Any,
        interval: float,
        reconcile: Callable[[str], None],
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        *,
        poll: float = 5.0,
    ) -> None:
        self.source = source
        self.interval = float(interval)
        self.poll = max(0.05, min(float(poll), self.interval))
        self.reconcile = reconcile
        self.stop = stop
        self.clock = clock
        self.last_head: str | None = None
        self.next_tick = 0.0

    def _head(self) -> str | None:
        try:
            return str(self.source.head())
        except ReconcilerError as exc:
            log.error("git.failed", **_error_fields(exc))
            return None

    def _run(self, reason: str) -> None:
        _reconcile_guarded(self.reconcile, reason)
        self.next_tick = self.clock() + self.interval

    def step(self) -> str | None:
        """One pass: reconcile if the head moved or the interval passed; returns the reason."""
        head = self._head()
        reason = None
        if self.last_head is None:
            reason = "start"
        elif head is not None and head != self.last_head:
            log.info("git.new_commit", commit=head[:12], previous=self.last_head[:12])
            reason = "change"
        elif self.clock() >= self.next_tick:
            reason = "interval"
        if head is not None:
            self.last_head = head
        if reason is not None:
            self._run(reason)
        return reason

    def run(self) -> None:
        while not self.stop.is_set():
            self.step()
            self.stop.wait(self.poll)


# ---------------------------------------------------------------- who


from reconciler.targets.base import Leadership, SoleLeadership  # noqa: E402

# ---------------------------------------------------------------- what


def plan_key(plan: "Plan") -> str:
    """What makes two plans "the same" for the watcher: the JSON without
    ``generated_at`` — and without the clock itself (``as_of`` moves every cycle and
    appears inside time-stamped changes), so an unchanged plan is not printed again."""
    doc = plan.to_json(include_generated_at=False)
    # Digests and the read scope (whose windows are measured from the clock) say how
    # the plan was made, not what it would change.
    for key in ("db_fingerprint", "config_digest", "scope"):
        doc.pop(key, None)
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    # Export file names carry the plan time as a compact stamp (20261124T150000Z).
    stamp = plan.as_of.replace("-", "").replace(":", "")
    return raw.replace(json.dumps(plan.as_of), '"<as_of>"').replace(stamp, "<as_of>")


class WatchObserver:
    """Hooks a :class:`WatchCycle` calls as it goes (all no-ops here); the metrics
    of ``--metrics-addr`` (:class:`reconciler.app.metrics.WatchMetrics`) implement them."""

    def cycle_started(self, reason: str) -> None:
        """A cycle begins."""

    def cycle_finished(self, reason: str, crashed: BaseException | None = None) -> None:
        """A cycle ended (``crashed``: it raised an unexpected exception)."""

    def config_error(self, exc: ConfigError) -> None:
        """The config could not be loaded; nothing was planned."""

    def leadership(self, leading: bool) -> None:
        """Whether this watcher leads (``--auto-apply``), checked every cycle."""

    def plan_ready(self, plan: "Plan") -> None:
        """A plan was computed."""

    def plan_failed(self, exc: ReconcilerError) -> None:
        """Planning failed (invariants, the blast-radius guard, the database...)."""

    def apply_result(self, plan: "Plan", exc: BaseException | None) -> None:
        """An apply finished: ``exc`` is None when applied, else why not."""

    def compliance_checked(self, violations: Any) -> None:
        """The compliance check's violations (SPEC §7.3)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _error_fields(exc: ReconcilerError) -> dict[str, Any]:
    """file/line (or entity) of the first located problem, plus the message."""
    loc = exc.location or (exc.problems[0].location if exc.problems else None)
    fields: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
    if loc is not None:
        if loc.file:
            fields["file"] = loc.file
        if loc.line is not None:
            fields["line"] = loc.line
        if loc.entity:
            fields["entity"] = loc.entity
    if len(exc.problems) > 1:
        fields["problems"] = len(exc.problems)
    return fields


class WatchCycle:
    """One reconcile: load → plan → print-if-changed, or apply (leader only).

    Never raises for a user error: every :class:`ReconcilerError` becomes a log line
    and the next cycle tries again. ``compute``/``apply``/``render`` default to the
    workflow functions and are injectable for tests.
    """

    def __init__(
        self,
        config_dir: Path,
        target: "Target",
        *,
        auto_apply: bool,
        actor: str,
        export_dir: Path,
        leadership: Leadership | None = None,
        out: IO[str] | None = None,
        now: Callable[[], dt.datetime] = _now,
        compute: Callable[..., "Plan"] | None = None,
        apply: Callable[..., Any] | None = None,
        git: Any = None,
        settle: float = DEFAULT_SETTLE,
        wallclock: Callable[[], float] = time.time,
        compliance: Callable[..., dict[str, Any]] | None = None,
        observer: WatchObserver | None = None,
    ) -> None:
        from reconciler.app.workflow import apply_plan, compute_plan

        self.config_dir = Path(config_dir)
        self.target = target
        self.compute = compute if compute is not None else compute_plan
        self.apply = apply if apply is not None else apply_plan
        if compliance is None:
            from reconciler.app.compliance import check_compliance

            compliance = check_compliance
        self.compliance = compliance
        self.auto_apply = auto_apply
        self.actor = actor
        self.export_dir = export_dir
        self.leadership = leadership if leadership is not None else SoleLeadership()
        self.out = out
        self.now = now
        self.observer = observer if observer is not None else WatchObserver()
        self.last_key: str | None = None
        self.was_leading: bool | None = None
        self.applied: list[str] = []  # plan ids applied by this watcher, in order
        self.git = git  # a GitSource: read the config from the branch's newest commit
        self.settle = settle
        self.wallclock = wallclock
        self.retry_after: float | None = None  # set when a cycle skipped: run again after this many seconds
        self.hooks: list[Any] = []  # practice.notify of the last config loaded (SPEC §8.7)
        self.last_violations: str | None = None  # the compliance violations last notified

    def _print(self, text: str) -> None:
        out = self.out if self.out is not None else sys.stdout
        out.write(text)
        out.flush()

    def _unsettled(self, state: tuple[tuple[str, int, int], ...]) -> float:
        """Seconds until the newest config file is ``settle`` seconds old (0: settled)."""
        if not state or self.settle <= 0:
            return 0.0
        newest = max(mtime for _p, _s, mtime in state) / 1e9
        return max(0.0, self.settle - (self.wallclock() - newest))

    def __call__(self, reason: str) -> None:
        self.retry_after = None
        self.observer.cycle_started(reason)
        try:
            self._cycle(reason)
        except BaseException as exc:
            self.observer.cycle_finished(reason, crashed=exc)
            raise
        self.observer.cycle_finished(reason)

    def _load(self, reason: str) -> tuple[Any, Callable[[], bool]] | None:
        """The desired state and a "did the source move since?" check, or None (logged)."""
        from reconciler.config.loader import load_config

        try:
            if self.git is not None:
                commit = self.git.head()
                desired = load_config(self.git.checkout(commit), shown_as=self.git.shown_as(commit))
                return desired, lambda: bool(self.git.head() != commit)
            before = config_files_state(self.config_dir)
            if self.auto_apply:
                wait = self._unsettled(before)
                if wait > 0:
                    # An editor may be half-way through a save: a plain directory is applied
                    # only once its files have been unchanged for --settle seconds.
                    log.info(
                        "config.settling",
                        reason=reason,
                        wait_seconds=round(wait, 1),
                        settle=self.settle,
                    )
                    self.retry_after = wait
                    return None
            desired = load_config(self.config_dir)
            return desired, lambda: config_files_state(self.config_dir) != before
        except ConfigError as exc:
            # Likely a half-written or broken edit: report where, apply nothing, keep watching.
            log.error("config.invalid", reason=reason, **_error_fields(exc))
            if reason != "change":
                self._check(None, reason)
            self.observer.config_error(exc)
            return None

    def _cycle(self, reason: str) -> None:
        loaded = self._load(reason)
        if loaded is None:
            return
        desired, moved = loaded
        self.hooks = list(desired.practice.notify)
        if reason != "change":
            self._check(desired, reason)
        if self.auto_apply and not self._lead():
            return
        try:
            plan = self.compute(self.target, desired, at_text=None, now=self.now())
            if self.auto_apply:
                plan = self._without_deletions(desired, plan, reason)
        except ReconcilerError as exc:
            log.error("plan.failed", reason=reason, **_error_fields(exc))
            self.observer.plan_failed(exc)
            return
        if moved():
            # The files (or the branch) moved while we read them: this plan may mix two
            # versions. The change already seen triggers a fresh cycle.
            log.info("config.changed_while_planning", reason=reason)
            return
        self.observer.plan_ready(plan)
        if self.auto_apply:
            self._apply(plan, reason)
        else:
            self._show(plan, reason)

    def _without_deletions(self, desired: Any, plan: "Plan", reason: str) -> "Plan":
        """Watch never applies client deletions (SPEC §7.2); they must not block the rest.
        A plan that deletes is made again from the config without its ``status:
        deleted`` entries (those clients are then governed by policies only, as if not
        listed); the pending deletions are reported, ids only, every cycle."""
        from reconciler.model.actions import ActionType
        from reconciler.model.desired import ClientStatus

        deleting = sorted({a.target for a in plan.actions if a.type is ActionType.CLIENT_DELETE})
        if not deleting:
            return plan
        log.warning(
            "deletions.pending",
            reason=reason,
            clients=deleting,
            detail="watch never deletes clients: apply them with `reconciler apply --confirm-delete ID --approval FILE`",
        )
        rest = dataclasses.replace(
            desired, clients=tuple(c for c in desired.clients if c.status is not ClientStatus.DELETED)
        )
        return self.compute(self.target, rest, at_text=None, now=self.now())

    def _check(self, desired: Any, reason: str) -> None:
        """SPEC §7.3 at every interval: one structured event per violation (ids only)."""
        try:
            result = self.compliance(self.target, desired, at_text=None, now=self.now())
        except ReconcilerError as exc:
            log.error("compliance.failed", reason=reason, **_error_fields(exc))
            return
        for v in result["violations"]:
            fields = {
                k: v[k]
                for k in (
                    "staff",
                    "client",
                    "ids",
                    "event",
                    "date",
                    "source",
                    "failure",
                )
                if k in v
            }
            log.warning("compliance.violation", reason=reason, kind=v["kind"], **fields)
        if result["ok"]:
            log.debug("compliance.ok", reason=reason)
        self._notify_compliance(result["violations"])

    def _notify(self, event: str, plan: "Plan", error: str | None = None) -> None:
        """SPEC §8.7: tell the practice.notify hooks (never raises, bounded retries)."""
        if self.hooks:
            from reconciler.app.notify import send, summary

            send(self.hooks, event, summary(event, plan, actor=self.actor, error=error))

    def _notify_compliance(self, violations: Any) -> None:
        """SPEC §8.7: tell the hooks about compliance violations (ids only) when they
        differ from the last ones told, so a standing violation is not re-sent at every
        interval; a cleared set is remembered, not sent."""
        fields = ("kind", "staff", "client", "ids", "event", "date", "source", "failure")
        shown = [{k: v[k] for k in fields if k in v} for v in violations]
        key = json.dumps(shown, sort_keys=True, default=str)
        if key == self.last_violations:
            return
        self.last_violations = key
        if shown and self.hooks:
            from reconciler.app.notify import send, summary

            send(self.hooks, "compliance", summary("compliance", None, violations=shown))

    def _lead(self) -> bool:
        leading = self.leadership.try_lead()
        if leading != self.was_leading:
            if leading:
                log.info("leader", detail="this watcher applies plans")
            else:
                log.info("standby", detail="another watcher leads; retrying every cycle")
        self.was_leading = leading
        self.observer.leadership(leading)
        return leading

    def _show(self, plan: "Plan", reason: str) -> None:
        from reconciler.app.workflow import render_plan

        key = plan_key(plan)
        if key == self.last_key:
            log.debug(
                "plan.unchanged",
                reason=reason,
                plan_id=plan.plan_id,
                actions=len(plan.actions),
            )
            return
        self.last_key = key
        log.info(
            "plan.changed",
            reason=reason,
            plan_id=plan.plan_id,
            actions=len(plan.actions),
        )
        self._print(render_plan(plan, "text"))

    def _apply(self, plan: "Plan", reason: str) -> None:

        if plan.is_empty:
            log.debug("plan.empty", reason=reason)
            self.last_key = plan_key(plan)
            return
        log.info(
            "apply.start",
            reason=reason,
            plan_id=plan.plan_id,
            actions=len(plan.actions),
        )
        try:
            self.apply(
                self.target,
                plan,
                actor=self.actor,
                export_dir=self.export_dir,
                lock_timeout=5.0,
                progress=False,
            )
        except ReconcilerError as exc:
            # A lock held, a stale plan, a refused deletion...: the next cycle replans and retries.
            log.warning("apply.failed", reason=reason, plan_id=plan.plan_id, retry="next cycle", **_error_fields(exc))
            self.observer.apply_result(plan, exc)
            self._notify("failed", plan, error=type(exc).__name__)
            return
        except Exception as exc:
            self.observer.apply_result(plan, exc)
            raise
        self.observer.apply_result(plan, None)
        self._notify("applied", plan)
        self.applied.append(plan.plan_id)
        self.last_key = plan_key(plan)
        log.info(
            "apply.done",
            reason=reason,
            plan_id=plan.plan_id,
            actions=len(plan.actions),
            actor=self.actor,
        )


# ---------------------------------------------------------------- wiring


def run_watch(
    config_dir: Path,
    target: "Target",
    *,
    interval: float,
    auto_apply: bool,
    actor: str,
    export_dir: Path,
    log_format: str,
    git: bool = False,
    branch: str | None = None,
    settle: float = DEFAULT_SETTLE,
    metrics_addr: str | None = None,
) -> int:
    """Run the watch until SIGINT/SIGTERM; returns the exit code (0 on a clean stop).

    With ``git``, the config is ``config_dir`` (a subdirectory of the git checkout
    around the current directory) as committed on ``branch`` (default HEAD): see
    :mod:`reconciler.app.gitsource`.

    The first signal asks for a clean stop (the cycle in progress finishes, the
    observer is joined, leadership released, the metrics server shut down); a
    second one interrupts at once. ``metrics_addr`` (``HOST:PORT``) serves
    ``/metrics`` and ``/healthz`` (:mod:`reconciler.app.metrics`).
    """
    configure(log_format, sys.stderr)
    source = None
    if git:
        from reconciler.app.gitsource import GitSource

        probe = GitSource(Path.cwd(), ".", branch)
        probe.close()
        absolute = (Path.cwd() / config_dir).resolve()
        try:
            subdir = absolute.relative_to(probe.top.resolve()).as_posix()
        except ValueError:
            raise ConfigError(f"{config_dir}: not inside the git checkout {probe.top}") from None
        source = GitSource(probe.top, subdir, branch)
    elif not Path(config_dir).is_dir():
        raise ConfigError(f"{config_dir}: config directory not found")
    observer: WatchObserver | None = None
    server: Any = None
    if metrics_addr is not None:
        from reconciler.app.metrics import MetricsServer, WatchMetrics, parse_address

        host, port = parse_address(metrics_addr)
        metrics = WatchMetrics(interval, auto_apply=auto_apply)
        server = MetricsServer(metrics, host, port)
        observer = metrics
    target.require_schema()
    if server is not None:
        server.start()
    stop = threading.Event()
    leadership = target.leadership() if auto_apply else SoleLeadership()
    cycle = WatchCycle(
        config_dir,
        target,
        auto_apply=auto_apply,
        actor=actor,
        export_dir=export_dir,
        leadership=leadership,
        git=source,
        settle=settle,
        observer=observer,
    )
    watcher: Any = (
        GitWatcher(source, interval, cycle, stop)
        if source is not None
        else Watcher(Path(config_dir), interval, cycle, stop)
    )

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("watch.stopping", signal=signal.Signals(signum).name)
        stop.set()
        if hasattr(watcher, "wake"):
            watcher.wake()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    log.info(
        "watch.started",
        config=str(config_dir),
        interval=interval,
        auto_apply=auto_apply,
        backend=target.backend,
        git=source.ref if source is not None else None,
    )
    try:
        watcher.run()
    finally:
        leadership.release()
        if source is not None:
            source.close()
        if server is not None:
            server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("watch.stopped")
    return 0
