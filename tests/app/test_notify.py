"""Notifications (SPEC §8.7) against a local HTTP server on 127.0.0.1 that the test
starts: HMAC-SHA256 signed JSON summaries (ids only), retried with bounded backoff on
errors, never changing the apply's outcome."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import shutil
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy.engine import Engine
from test_executor_support import EXAMPLES, invoke, names_in

from reconciler.app.notify import HEADER, send, summary
from reconciler.model.desired import NotifySpec

SECRET = "s3cret-for-tests"


class Hook:
    """A webhook receiver: answers with the next status in ``replies`` (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.replies: list[int] = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.received.append(({k: v for k, v in self.headers.items()}, body))
                status = hook.replies.pop(0) if hook.replies else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    try:
        yield h
    finally:
        h.close()


def _spec(url: str, **kw: Any) -> NotifySpec:
    return NotifySpec(url=url, secret_env="HOOK_SECRET", **kw)


def _verify(headers: dict[str, str], body: bytes) -> None:
    want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[HEADER] == want


def test_signed_summary_is_delivered(hook: Hook) -> None:
    n = send([_spec(hook.url)], "applied", {"event": "applied", "plan_id": "plan-x"}, env={"HOOK_SECRET": SECRET})
    assert n == 1 and len(hook.received) == 1
    headers, body = hook.received[0]
    _verify(headers, body)
    assert json.loads(body) == {"event": "applied", "plan_id": "plan-x"}


def test_retried_with_backoff_then_delivered(hook: Hook) -> None:
    hook.replies = [500, 503]
    sleeps: list[float] = []
    n = send([_spec(hook.url)], "applied", {"x": 1}, env={"HOOK_SECRET": SECRET}, sleep=sleeps.append)
    assert n == 1 and len(hook.received) == 3 and sleeps == [0.5, 1.0]


def test_bounded_failure_never_raises(hook: Hook) -> None:
    hook.replies = [500] * 10
    sleeps: list[float] = []
    assert send([_spec(hook.url)], "failed", {"x": 1}, env={"HOOK_SECRET": SECRET}, sleep=sleeps.append) == 0
    assert len(hook.received) == 3 and len(sleeps) == 2
    # nothing listening: connection refused, also bounded and silent
    dead = _spec("http://127.0.0.1:9/hook")
    assert send([dead], "failed", {"x": 1}, env={"HOOK_SECRET": SECRET}, sleep=lambda s: None, timeout=1) == 0


def test_client_errors_are_not_retried_and_events_filter(hook: Hook) -> None:
    hook.replies = [400]
    assert send([_spec(hook.url)], "applied", {"x": 1}, env={"HOOK_SECRET": SECRET}, sleep=lambda s: None) == 0
    assert len(hook.received) == 1
    assert send([_spec(hook.url, events=["compliance"])], "applied", {"x": 1}, env={"HOOK_SECRET": SECRET}) == 0
    assert len(hook.received) == 1


def test_missing_secret_skips_the_hook(hook: Hook) -> None:
    assert send([_spec(hook.url)], "applied", {"x": 1}, env={}) == 0
    assert hook.received == []


def test_apply_notifies_with_ids_only(
    engine: Engine, hook: Hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "practice"
    shutil.copytree(EXAMPLES / "offboarding", cfg)
    # practice.notify in the example's practice mapping
    text = (cfg / "practice.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  unmanaged_staff: report\n",
        f"  unmanaged_staff: report\n  notify:\n    - {{url: '{hook.url}', events: [applied], secret_env: HOOK_SECRET}}\n",
    )
    (cfg / "practice.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    url = engine.url.render_as_string(hide_password=False)
    r = invoke(url, "apply", "-c", str(cfg), "--at", "2026-11-24T15:00:00Z", "--allow-time-travel", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert len(hook.received) == 1
    headers, body = hook.received[0]
    _verify(headers, body)
    doc = json.loads(body)
    assert doc["event"] == "applied" and doc["plan_id"].startswith("plan-")
    assert doc["counts"]["staff.deactivate"] == 1 and doc["staff"] == ["bsmith"]
    assert "C-1001" in doc["clients"]
    assert not names_in(body.decode())


def test_summary_holds_ids_and_counts() -> None:
    from reconciler.model.actions import Action, ActionType, Plan

    p = Plan(
        as_of="2026-11-24T15:00:00Z",
        db_fingerprint="sha256:x",
        config_digest="sha256:y",
        actions=(
            Action(1, ActionType.CLIENT_REASSIGN, "C-1", "bsmith", {"primary": ("bsmith", "jdoe")}, "r"),
            Action(2, ActionType.STAFF_DEACTIVATE, "bsmith", "bsmith", {"active": (True, False)}, "r"),
        ),
    )
    doc = summary("applied", p, actor="pmorgan")
    assert doc["counts"] == {"staff.deactivate": 1, "client.reassign": 1}
    assert (doc["staff"], doc["clients"], doc["actor"]) == (["bsmith"], ["C-1"], "pmorgan")


def test_watch_notifies_failed_applies_and_changed_compliance_violations(
    hook: Hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC §8.7 in `watch`: a failed apply is told (the next cycle retries), and compliance
    violations (ids only) are told when they change, not again at every interval."""
    import datetime as dt
    import io

    from reconciler.app.watch import WatchCycle
    from reconciler.errors import StalePlan
    from reconciler.model.actions import Action, ActionType, Plan

    cfg = tmp_path / "practice"
    shutil.copytree(EXAMPLES / "offboarding", cfg)
    text = (cfg / "practice.yaml").read_text(encoding="utf-8")
    (cfg / "practice.yaml").write_text(
        text.replace(
            "  unmanaged_staff: report\n",
            "  unmanaged_staff: report\n  notify:\n"
            f"    - {{url: '{hook.url}', events: [failed, compliance], secret_env: HOOK_SECRET}}\n",
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    plan = Plan(
        as_of="2026-11-24T15:00:00Z",
        db_fingerprint="sha256:x",
        config_digest="sha256:y",
        actions=(Action(1, ActionType.STAFF_DEACTIVATE, "bsmith", "bsmith", {"active": (True, False)}, "r"),),
    )
    violations: list[dict[str, Any]] = [{"kind": "leave_date_passed", "staff": "bsmith", "message": "m"}]

    def apply(*args: Any, **kw: Any) -> Any:
        raise StalePlan("stale plan: the rows changed")

    cycle = WatchCycle(
        cfg,
        object(),  # type: ignore[arg-type]  # compute/apply/compliance are injected
        auto_apply=True,
        actor="ops-bot",
        export_dir=tmp_path / "exports",
        out=io.StringIO(),
        now=lambda: dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.timezone.utc),
        compute=lambda *a, **k: plan,
        apply=apply,
        compliance=lambda *a, **k: {"ok": not violations, "violations": list(violations)},
        settle=0,  # files written just now are applied at once (the settle wait: test_hardening_watch)
    )
    cycle("interval")
    cycle("interval")  # the same violation again: not re-sent; the failed apply is, as it is retried
    violations.append({"kind": "inactive_has_clients", "staff": "tnguyen", "ids": ["C-1030"], "message": "m"})
    cycle("interval")
    events = [json.loads(body) for _, body in hook.received]
    for headers, body in hook.received:
        _verify(headers, body)
    assert [e["event"] for e in events] == ["compliance", "failed", "failed", "compliance", "failed"]
    assert events[0]["violations"] == [{"kind": "leave_date_passed", "staff": "bsmith"}]
    assert events[3]["violations"][1] == {"kind": "inactive_has_clients", "staff": "tnguyen", "ids": ["C-1030"]}
    assert events[1]["error"] == "StalePlan" and events[1]["plan_id"] == plan.plan_id
    assert not any(names_in(body.decode()) for _, body in hook.received)
