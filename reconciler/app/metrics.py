"""Prometheus metrics and a health endpoint for ``reconciler watch --metrics-addr``.

:class:`WatchMetrics` is the watch's *observer*: :class:`~reconciler.app.watch.WatchCycle`
calls its hooks (cycle started / finished, config error, plan ready or failed, apply
result, leadership) and it keeps the metrics in its own
:class:`prometheus_client.CollectorRegistry` (never the process-global one), plus
what ``/healthz`` needs. :class:`MetricsServer` serves both on a small threaded
HTTP server.

Labels are low-cardinality by construction (action types, apply results,
violation kinds): no metric carries a client id, let alone a name.

The compliance check (SPEC §7.3) reports through :meth:`WatchMetrics.compliance_checked`
with its list of violations (``{"kind": ..., ...}`` dicts, ids only); only the
counts per kind become metrics.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from reconciler.app.watch import WatchObserver
from reconciler.errors import ConfigError, PlanRefused, ReconcilerError, StalePlan
from reconciler.logs import get_logger
from reconciler.model.actions import ActionType

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.actions import Plan

log = get_logger("watch")

#: ``reconciler_applies_total{result}`` values.
APPLY_RESULTS = ("applied", "stale", "refused", "failed")
#: Violation kinds of the compliance check (SPEC §7.3), exported as 0 once it has run.
COMPLIANCE_KINDS = (
    "leave_date_passed",
    "config_says_inactive",
    "inactive_has_sessions",
    "inactive_has_series",
    "inactive_has_clients",
    "purge_overdue",
    "audit_chain_broken",
)
#: A label value must look like a kind (a slug); anything else is counted as "other".
_KIND = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
#: Cycle duration buckets (seconds): a cycle plans, and may apply, a whole roster.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def apply_result(exc: BaseException | None) -> str:
    """The ``result`` label of an apply that raised ``exc`` (None: it was applied)."""
    if exc is None:
        return "applied"
    if isinstance(exc, StalePlan):
        return "stale"
    if isinstance(exc, PlanRefused):
        return "refused"
    return "failed"


def _where(exc: ReconcilerError) -> str:
    """``file:line`` (or the entity) of the first located problem; '' if none."""
    loc = exc.location or (exc.problems[0].location if exc.problems else None)
    if loc is None:
        return ""
    if loc.file:
        return loc.file if loc.line is None else f"{loc.file}:{loc.line}"
    return loc.entity or ""


def _kind_label(kind: object) -> str:
    text = str(kind)
    return text if _KIND.match(text) else "other"


class WatchMetrics(WatchObserver):
    """The watch's metrics and health (the hooks of :class:`WatchObserver`).

    ``clock`` is monotonic seconds (cycle durations, the age of the last success:
    the same injectable clock as the :class:`~reconciler.app.watch.Watcher`), ``wall``
    Unix seconds (``reconciler_last_success_timestamp_seconds``). Thread-safe: the
    HTTP server reads while the watch loop writes.
    """

    def __init__(
        self,
        interval: float,
        *,
        auto_apply: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.interval = float(interval)
        self.auto_apply = auto_apply
        self.clock = clock
        self.wall = wall
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.last_success = Gauge(
            "reconciler_last_success_timestamp_seconds",
            "Unix time of the last successful reconcile cycle (0: none yet).",
            registry=r,
        )
        self.cycle_duration = Histogram(
            "reconciler_cycle_duration_seconds",
            "Duration of one reconcile cycle (load, plan, and apply with --auto-apply).",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.planned_actions = Gauge(
            "reconciler_planned_actions",
            "Actions of the latest plan not applied yet, by action type.",
            ["type"],
            registry=r,
        )
        self.drift_pending = Gauge(
            "reconciler_drift_actions_pending",
            "Actions of the latest plan that undo a change made outside the tool (drift), not applied yet.",
            registry=r,
        )
        self.applies = PromCounter(
            "reconciler_applies",
            "Apply attempts by result (applied, stale, refused, failed).",
            ["result"],
            registry=r,
        )
        self.compliance = Gauge(
            "reconciler_compliance_violations",
            "Violations found by the latest compliance check, by kind.",
            ["kind"],
            registry=r,
        )
        self.leader = Gauge(
            "reconciler_leader",
            "1 while this watcher leads (may apply), 0 while it stands by or only plans.",
            registry=r,
        )
        self.config_errors = PromCounter(
            "reconciler_config_errors",
            "Cycles whose config could not be loaded (invalid or half-written files).",
            registry=r,
        )
        for t in ActionType:
            self.planned_actions.labels(type=t.value).set(0)
        for result in APPLY_RESULTS:
            self.applies.labels(result=result)
        self._lock = threading.Lock()
        self._started_at = clock()
        self._cycle_start: float | None = None
        self._cycle_failure: str | None = None
        self._last_failure: str | None = None  # reason of the last cycle, if it failed
        self._last_success: float | None = None  # monotonic
        self._cycles = 0
        self._kinds_seen: set[str] = set()

    # ------------------------------------------------------------ hooks (WatchCycle)

    def cycle_started(self, reason: str) -> None:
        with self._lock:
            self._cycle_start = self.clock()
            self._cycle_failure = None

    def _fail(self, why: str) -> None:
        with self._lock:
            if self._cycle_failure is None:
                self._cycle_failure = why

    def config_error(self, exc: ConfigError) -> None:
        self.config_errors.inc()
        where = _where(exc)
        self._fail(f"config error {where}" if where else f"config error ({type(exc).__name__})")

    def leadership(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def plan_ready(self, plan: "Plan") -> None:
        counts = Counter(a.type.value for a in plan.actions)
        for t in ActionType:
            self.planned_actions.labels(type=t.value).set(counts.get(t.value, 0))
        self.drift_pending.set(sum(1 for a in plan.actions if a.drift))

    def plan_failed(self, exc: ReconcilerError) -> None:
        if self.auto_apply and isinstance(exc, PlanRefused):  # the blast-radius guard refused the apply
            self.applies.labels(result="refused").inc()
        where = _where(exc)
        self._fail(f"planning failed ({type(exc).__name__}{': ' + where if where else ''})")

    def apply_result(self, plan: "Plan", exc: BaseException | None) -> None:
        result = apply_result(exc)
        self.applies.labels(result=result).inc()
        if exc is None:
            for t in ActionType:
                self.planned_actions.labels(type=t.value).set(0)
            self.drift_pending.set(0)
        else:
            self._fail(f"apply {result} ({type(exc).__name__}, plan {plan.plan_id})")

    def cycle_finished(self, reason: str, crashed: BaseException | None = None) -> None:
        now = self.clock()
        if crashed is not None:
            self._fail(f"cycle crashed ({type(crashed).__name__})")
        with self._lock:
            start = self._cycle_start if self._cycle_start is not None else now
            self._cycle_start = None
            failure, self._cycle_failure = self._cycle_failure, None
            self._cycles += 1
            self._last_failure = failure
            if failure is None:
                self._last_success = now
        self.cycle_duration.observe(max(0.0, now - start))
        if failure is None:
            self.last_success.set(self.wall())

    # ------------------------------------------------------------ hook (compliance check)

    def compliance_checked(self, violations: Iterable[Mapping[str, Any] | Any]) -> None:
        """The compliance check's result: its violations (dicts or objects with a
        ``kind``). Every known kind, and every kind seen before, is set (0 when absent)."""
        counts: Counter[str] = Counter()
        for v in violations:
            kind = v.get("kind") if isinstance(v, Mapping) else getattr(v, "kind", None)
            counts[_kind_label(kind)] += 1
        with self._lock:
            kinds = set(COMPLIANCE_KINDS) | self._kinds_seen | set(counts)
            self._kinds_seen = kinds
        for kind in sorted(kinds):
            self.compliance.labels(kind=kind).set(counts.get(kind, 0))

    # ------------------------------------------------------------ health

    def health(self) -> tuple[bool, str]:
        """(healthy, one-line reason): healthy while the last cycle succeeded and
        did so within two intervals."""
        now = self.clock()
        with self._lock:
            failure, last, cycles, started = self._last_failure, self._last_success, self._cycles, self._started_at
        limit = 2 * self.interval
        iv = f"interval {self.interval:g} s"
        if failure is not None:
            since = "" if last is None else f"; last success {now - last:.0f} s ago"
            return False, f"last cycle failed: {failure}{since}"
        if last is None:
            if cycles == 0:
                return False, f"no reconcile finished yet (started {now - started:.0f} s ago, {iv})"
            return False, f"no successful reconcile yet ({iv})"
        age = now - last
        if age > limit:
            return False, f"no successful reconcile for {age:.0f} s ({iv})"
        return True, f"ok: last successful reconcile {age:.0f} s ago ({iv})"

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)


# ---------------------------------------------------------------- HTTP


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6; port 0 picks a free one); one clear
    :class:`ReconcilerError` otherwise."""
    bad = ReconcilerError(f"--metrics-addr {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise bad
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise bad  # an IPv6 address needs brackets
    port = int(port_text)
    if not host or port > 65535:
        raise bad
    return host, port


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a connection may sit idle: a stuck client cannot hold a thread forever

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, self.server.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            ok, reason = self.server.metrics.health()
            self._send(200 if ok else 503, (reason + "\n").encode(), "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found: try /metrics or /healthz\n", "text/plain; charset=utf-8")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        return None  # scrapes every few seconds would drown the watch's own log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], metrics: WatchMetrics, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.metrics = metrics
        super().__init__(address, _Handler)


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``host:port`` in a daemon thread.

    :meth:`start` binds (a bad host or a port in use is one
    :class:`ReconcilerError`); :meth:`stop` shuts the server down and closes the socket.
    """

    def __init__(self, metrics: WatchMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host, self.port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port): the real port when 0 was asked for."""
        if self._server is None:
            return self.host, self.port
        sockname = self._server.socket.getsockname()
        return str(sockname[0]), int(sockname[1])

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def start(self) -> "MetricsServer":
        where = f"--metrics-addr {self.host}:{self.port}"
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ReconcilerError(f"{where}: cannot resolve {self.host!r} ({exc.strerror})") from exc
        family, _, _, _, sockaddr = infos[0]
        try:
            self._server = _Server((str(sockaddr[0]), self.port), self.metrics, family)
        except OSError as exc:
            raise ReconcilerError(f"{where}: cannot listen ({exc.strerror or exc})") from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="metrics-http", daemon=True
        )
        self._thread.start()
        host, port = self.address
        log.info("metrics.listening", host=host, port=port, url=self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "MetricsServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
