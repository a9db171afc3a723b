"""Notifications (SPEC §8.7): after an apply (and on failures and compliance violations
in ``watch``) a JSON summary is POSTed to each ``practice.notify`` webhook that asks
for the event.

The body holds ids only (plan id, counts by action type, staff ids, client ids; never a
name). Header ``X-Reconciler-Signature: sha256=<hex HMAC-SHA256 of the body>`` with the
secret from the environment variable ``secret_env`` names; a hook whose variable is unset
is skipped (logged), never sent unsigned. Delivery is retried with exponential backoff
(bounded: ``ATTEMPTS`` tries, ``TIMEOUT_S`` each) on network errors, 429 and 5xx, and
never raises: the apply's outcome is decided before, and failures are only logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from reconciler.logs import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.actions import Plan
    from reconciler.model.desired import NotifySpec

log = get_logger("notify")

ATTEMPTS = 3
BACKOFF_S = 0.5  # 0.5 s, then 1 s between tries
TIMEOUT_S = 5.0
HEADER = "X-Reconciler-Signature"


def summary(
    event: str, plan: "Plan | None", *, actor: str | None = None, error: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The JSON body: ids and counts only."""
    doc: dict[str, Any] = {"event": event}
    if plan is not None:
        staff = sorted(
            {a.staff for a in plan.actions if a.staff} | {a.target for a in plan.actions if a.type.entity == "staff"}
        )
        clients = sorted(
            {a.target for a in plan.actions if a.type.entity == "client"}
            | {str(a.context["client"]) for a in plan.actions if a.context.get("client")}
        )
        doc.update(
            {
                "plan_id": plan.plan_id,
                "as_of": plan.as_of,
                "counts": plan.summary,
                "staff": staff,
                "clients": clients,
            }
        )
    if actor is not None:
        doc["actor"] = actor
    if error is not None:
        doc["error"] = error
    doc.update(extra)
    return doc


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def send(
    hooks: Sequence["NotifySpec"],
    event: str,
    payload: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = ATTEMPTS,
    timeout: float = TIMEOUT_S,
) -> int:
    """POST ``payload`` to every hook that asks for ``event``; returns how many accepted it.
    Never raises."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - a dependency; kept from breaking an apply
        log.warning("notify.unavailable", detail="httpx is not installed")
        return 0
    env = os.environ if env is None else env
    body = json.dumps(dict(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    delivered = 0
    for hook in hooks:
        if event not in {e.value for e in hook.events}:
            continue
        headers = {"Content-Type": "application/json", "User-Agent": "reconciler"}
        if hook.secret_env:
            secret = env.get(hook.secret_env)
            if not secret:
                log.warning("notify.skipped", url=_safe(hook.url), reason=f"${hook.secret_env} is not set")
                continue
            headers[HEADER] = sign(body, secret)
        for attempt in range(1, max(1, attempts) + 1):
            try:
                r = httpx.post(hook.url, content=body, headers=headers, timeout=timeout)
                if r.status_code < 300:
                    delivered += 1
                    log.info("notify.sent", url=_safe(hook.url), notify_event=event, status=r.status_code)
                    break
                retry = r.status_code == 429 or r.status_code >= 500
                log.warning("notify.rejected", url=_safe(hook.url), status=r.status_code, attempt=attempt)
            except Exception as exc:  # noqa: BLE001 - a notification never breaks the command
                retry = True
                log.warning("notify.error", url=_safe(hook.url), error=type(exc).__name__, attempt=attempt)
            if not retry or attempt == attempts:
                log.error("notify.failed", url=_safe(hook.url), notify_event=event, attempts=attempt)
                break
            sleep(BACKOFF_S * 2 ** (attempt - 1))
    return delivered


def _safe(url: str) -> str:
    """The URL without credentials or query (tokens often live there)."""
    head, _, rest = url.partition("://")
    host_path = rest.split("@", 1)[-1].split("?", 1)[0]
    return f"{head}://{host_path}"
