"""The audit trail: one append-only, hash-chained event per applied action.

An event records who applied (actor), whose signed approval allowed it (signer, for a
``client.delete``; else null), which plan and action, the action's type, target id and
professional, the ``before``/``after`` field values from the action's ``changes`` and
its reason. Clients appear by id only: ``changes`` never hold names, so neither do
events, their text or their JSON.

The chain (SPEC §7.1, :mod:`reconciler.security.chain`) is linked here, target-neutrally:
:func:`write_audit` reads the head hash in the apply transaction (under the lock), links
every new event with a :class:`~reconciler.security.chain.Linker` and hands the rows to
the target's sink, which stores them as given. Event times are stored as
``chain_time`` (whole UTC seconds), exactly what is hashed.

An apply run with ``--at`` far from the clock (``--allow-time-travel``, SPEC §7.4) says
so in every event: ``after`` then holds ``"time_travel": "<the --at instant>"`` next to
the changed fields, inside the hashed part of the event, while the event time stays
the real clock.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from reconciler.model.actions import Action, ActionType, Plan
from reconciler.model.records import AuditFilter
from reconciler.timeutil import iso_z, naive_utc

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.security.chain import VerifyResult
    from reconciler.targets.base import Target, WriteSession


TIME_TRAVEL_KEY = "time_travel"


def audit_rows(
    plan: Plan,
    *,
    actor: str,
    at: dt.datetime,
    plan_id: str | None = None,
    signers: Mapping[str, str] | None = None,
    time_travel: dt.datetime | None = None,
    head: str | None = None,
) -> list[dict[str, Any]]:
    """The audit rows for every action of ``plan`` (one each, plan order), linked into
    the chain after ``head`` (default: the genesis hash). ``plan_id`` may be passed when
    already known (it digests the whole plan); ``signers`` maps a deleted client's id
    to the staff id who signed its approval; ``time_travel`` is the ``--at`` instant of
    an apply allowed to travel in time."""
    from reconciler.security.chain import GENESIS, Linker, chain_time

    plan_id = plan_id or plan.plan_id
    when = chain_time(at)
    stamp = naive_utc(when)
    linker = Linker(head or GENESIS)
    travel = iso_z(chain_time(time_travel)) if time_travel is not None else None
    rows = []
    for a in plan.actions:
        before = {k: v[0] for k, v in sorted(a.changes.items())}
        after = {k: v[1] for k, v in sorted(a.changes.items())}
        if travel is not None:
            after[TIME_TRAVEL_KEY] = travel
        signer = (signers or {}).get(a.target) if a.type is ActionType.CLIENT_DELETE else None
        prev, digest = linker.link(
            time=when,
            actor=actor,
            signer=signer,
            plan_id=plan_id,
            action_type=a.type.value,
            target=a.target,
            before=before,
            after=after,
        )
        rows.append(
            {
                "at": stamp,
                "actor": actor,
                "plan_id": plan_id,
                "action_id": a.id,
                "action_type": a.type.value,
                "target": a.target,
                "staff_id": a.staff,
                "client_id": _client_of(a),
                "before": before,
                "after": after,
                "reason": a.reason,
                "signer": signer,
                "prev_hash": prev,
                "hash": digest,
            }
        )
    return rows


def _client_of(a: Action) -> str | None:
    """The client an event concerns: a client action's target, or the client of the
    session or series (from the action's context); None otherwise."""
    if a.type.entity == "client":
        return a.target
    client = a.context.get("client") if a.context else None
    return str(client) if client else None


def write_audit(
    session: "WriteSession",
    plan: Plan,
    *,
    actor: str,
    at: dt.datetime,
    plan_id: str | None = None,
    signers: Mapping[str, str] | None = None,
    time_travel: dt.datetime | None = None,
) -> int:
    """Append one chained event per action to the target's audit sink, in the apply
    transaction (whose lock makes the head read here the head the events follow)."""
    return session.audit(
        audit_rows(
            plan,
            actor=actor,
            at=at,
            plan_id=plan_id,
            signers=signers,
            time_travel=time_travel,
            head=session.audit_head(),
        )
    )


def verify_audit(target: "Target") -> "VerifyResult":
    """Recompute the whole chain, streaming the events in id order (SPEC §7.1)."""
    from reconciler.security.chain import ChainEvent, verify

    return verify(ChainEvent.from_mapping(row) for row in target.iter_audit_chain())


def format_verify(result: "VerifyResult", fmt: str) -> str:
    """``audit verify`` output: JSON, or one line (ok: count and head; else the break)."""
    if fmt == "json":
        return json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n"
    if result.failure is None:
        return f"audit chain verified: {result.count} events, head {result.head}\n"
    return f"audit chain broken at {result.failure} ({result.count} events before it verify, head {result.head})\n"


def read_audit(
    target: "Target", plan_id: str | None = None, *, where: AuditFilter | None = None
) -> list[dict[str, Any]]:
    """Audit events, oldest first (newest last), optionally of one plan only and
    filtered (SPEC §8.5) in the database.

    Raises :class:`DatabaseError` when the database is not initialised."""
    return target.read_audit(plan_id, where=where)


#: The CSV columns (ids only: a compliance officer's spreadsheet never holds a name).
CSV_COLUMNS = (
    "at",
    "actor",
    "plan_id",
    "action_id",
    "type",
    "target",
    "staff",
    "client",
    "field",
    "before",
    "after",
    "reason",
)


def _csv(events: Sequence[dict[str, Any]]) -> str:
    """One row per changed field of every event (a spreadsheet filters and pivots on it);
    an event that changed no field is one row with empty field columns."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for e in events:
        fields = sorted(set(e["before"]) | set(e["after"])) or [None]
        for f in fields:
            w.writerow(
                [
                    e["at"],
                    e["actor"],
                    e["plan_id"],
                    e["action_id"],
                    e["type"],
                    e["target"],
                    e["staff"] or "",
                    e.get("client") or "",
                    f or "",
                    "" if f is None else _cell(e["before"].get(f)),
                    "" if f is None else _cell(e["after"].get(f)),
                    e["reason"],
                ]
            )
    return buf.getvalue()


def _cell(v: Any) -> str:
    text = "" if v is None else _value(v)
    # A cell starting with = + - @ is a formula to a spreadsheet: quote it (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _NUMBER.match(text) else text


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _value(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False) if not isinstance(v, str) else v


def _event_line(e: dict[str, Any]) -> str:
    fields = sorted(set(e["before"]) | set(e["after"]))
    diff = "; ".join(f"{f}: {_value(e['before'].get(f))} -> {_value(e['after'].get(f))}" for f in fields)
    staff = f" ({e['staff']})" if e["staff"] else ""
    line = f"{e['at']}  {e['actor']}  {e['plan_id']} #{e['action_id']}  {e['type']} {e['target']}{staff}"
    if diff:
        line += f"  {diff}"
    if e["reason"]:
        line += f"  [{e['reason']}]"
    return line


def format_audit(events: Sequence[dict[str, Any]], fmt: str) -> str:
    """``text`` (one line per event), ``json`` (a list) or ``csv``; newest last."""
    if fmt == "csv":
        return _csv(events)
    if fmt == "json":
        return json.dumps(list(events), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if not events:
        return "No audit events.\n"
    return "".join(_event_line(e) + "\n" for e in events)
