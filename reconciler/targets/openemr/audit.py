"""The audit trail of the openemr target, in two places:

* ``reconciler_audit_events``: one append-only event per applied action, chained
  (SPEC §7.1): ``prev_hash`` is the previous event's ``hash`` (``sha256:`` + 64 zeros
  for the first) and ``hash`` = ``sha256:`` + SHA-256 of the canonical JSON (sorted
  keys, no spaces, UTF-8) of time, actor, signer, plan id, action type, target,
  before, after and prev_hash;
* OpenEMR's own ``log`` table (and ``log_comment_encrypt``, as OpenEMR's
  ``EventAuditLogger::recordLogItem`` writes them), so OpenEMR's audit-log viewer
  shows what the reconciler did and who ran it: ``user`` = the actor, ``comments``
  = ids only (base64, unencrypted, as OpenEMR stores them), ``patient_id`` = the
  patient's ``pid`` for client and session actions.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from reconciler.model.records import AuditFilter
from reconciler.security.chain import GENESIS, ChainEvent, verify
from reconciler.timeutil import iso_z, naive_utc, to_utc

from .tables import audit_events, patient_data
from .tables import postcalendar_events as ev

LOG_FROM = "open-emr"
GROUPNAME = "Default"

#: (event, category) of OpenEMR's log per entity, in OpenEMR's own vocabulary.
LOG_EVENT = {
    "practice": ("security-administration-update", "Security"),
    "staff": ("security-administration-update", "Security"),
    "appointment": ("scheduling-update", "Scheduling"),
    "series": ("scheduling-update", "Scheduling"),
    "client": ("patient-record-update", "Patient Demographics"),
    "export": ("export", "Patient Demographics"),
}


def _head(conn: Connection) -> str:
    row = conn.execute(
        select(audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1).with_for_update()
    ).first()
    return row[0] if row else GENESIS


def write_audit(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Append the events in the caller's transaction, exactly as given: the application
    links them (``reconciler.app.audit``, ``security.chain``), so every target's chain is
    made and verified by the same code."""
    # Multi-row INSERTs written out here, as for OpenEMR's log below: SQLAlchemy's
    # executemany bound, JSON-encoded and escaped every column of every row through its
    # type machinery (~20 % of a 10,000-action apply). The values are escaped by the
    # driver's own ``escape``; ``before``/``after`` are JSON text as the JSON type
    # stores it (``json.dumps``), ``at`` the naive datetime the driver would send.
    # Columns an apply's events share (time, actor, plan, type, staff, reason and most
    # before/after values) are escaped once per distinct value; the unique ones (id,
    # target, client, hashes) straight away.
    esc = _escaper(conn)
    raw: Callable[[Any], str] = conn.connection.dbapi_connection.escape  # type: ignore[union-attr]
    dumps = _memo_dumps()
    head = f"INSERT INTO `{audit_events.name}` (" + ", ".join(f"`{c}`" for c in AUDIT_COLUMNS) + ") VALUES "

    def statements() -> Iterator[str]:
        for i in range(0, len(rows), AUDIT_CHUNK):
            yield head + ",".join(
                f"({esc(r.get('at'))}, {esc(r.get('actor'))}, {esc(r.get('signer'))}, {esc(r.get('plan_id'))}, "
                f"{raw(r.get('action_id'))}, {esc(r.get('action_type'))}, {raw(r.get('target'))}, "
                f"{esc(r.get('staff_id'))}, {raw(r.get('client_id'))}, {esc(_json_or_null(dumps, r.get('before')))}, "
                f"{esc(_json_or_null(dumps, r.get('after')))}, {esc(r.get('reason'))}, {raw(r.get('prev_hash'))}, "
                f"{raw(r.get('hash'))})"
                for r in rows[i : i + AUDIT_CHUNK]
            )

    for sql in ahead(statements()):
        _run_literal(conn, sql)
    return len(rows)


_T = TypeVar("_T")


def ahead(items: Iterator[_T]) -> Iterator[_T]:
    """``items`` in order, each next one made on a worker thread while the caller uses the
    one it has. The callers write an apply's thousands of audit and log rows as a few
    dozen long INSERTs: building one statement's text (escaping, JSON, checksums) is
    Python work, and executing the previous one is the server's, during which PyMySQL
    waits on its socket without holding the interpreter lock. The statements and their
    order are the same as made one after the other; an error in making one is raised
    here, where it would have been."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconciler-sql") as pool:
        coming = pool.submit(next, items, _DONE)
        while (item := coming.result()) is not _DONE:
            coming = pool.submit(next, items, _DONE)
            yield cast(_T, item)


_DONE: Any = object()


def _json_or_null(dumps: Callable[[Any], str], value: Any) -> str | None:
    """A JSON column's text as the JSON type stores it; None stays NULL."""
    return None if value is None else dumps(value)


#: ``reconciler_audit_events``' columns, in the order :func:`write_audit` writes them.
AUDIT_COLUMNS = (
    "at",
    "actor",
    "signer",
    "plan_id",
    "action_id",
    "action_type",
    "target",
    "staff_id",
    "client_id",
    "before",
    "after",
    "reason",
    "prev_hash",
    "hash",
)


def _run_literal(conn: Connection, sql: str) -> None:
    """Run a statement whose values are already escaped literals on the transaction's own
    driver connection, with no parameters: through ``exec_driver_sql`` PyMySQL still
    %-formats the text, so a ``%`` in a value (OpenEMR's own status letter) broke it."""
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql)
    finally:
        cur.close()


def _escaper(conn: Connection) -> Callable[[Any], str]:
    """The driver's SQL literal for a value, remembered per distinct value: an apply's events
    repeat most of theirs (time, actor, plan, type, reason, the same before/after)."""
    escape = conn.connection.dbapi_connection.escape  # type: ignore[union-attr]
    memo: dict[tuple[type, Any], str] = {}

    def esc(v: Any) -> str:
        key = (type(v), v)
        got = memo.get(key)
        if got is None:
            got = memo[key] = str(escape(v))
        return got

    return esc


#: Audit events per INSERT statement (~1 KB each: well under ``max_allowed_packet``).
AUDIT_CHUNK = 1000


def _entity(row: Mapping[str, Any]) -> str:
    return str(row["action_type"]).split(".", 1)[0]


def _patient_ids(
    conn: Connection, rows: Sequence[Mapping[str, Any]], known: Mapping[str, Sequence[int]] | None = None
) -> dict[int, int]:
    """action id -> patient pid, for client and session actions (ids only). ``known``: the
    pubpid -> pids the client writers already read in this transaction (the lowest pid of a
    chart number held twice), so only the others are looked up."""
    clients = sorted({r["target"] for r in rows if _entity(r) == "client"})
    events = sorted({int(r["target"]) for r in rows if _entity(r) in ("appointment", "series")})
    by_pubpid: dict[str, int] = {}
    if known is not None:
        by_pubpid = {c: min(known[c]) for c in clients if known.get(c)}
        clients = [c for c in clients if c not in by_pubpid]
    if clients:
        for pubpid, pid in conn.execute(
            select(patient_data.c.pubpid, patient_data.c.pid)
            .where(patient_data.c.pubpid.in_(clients))
            .order_by(patient_data.c.pubpid)
        ):
            by_pubpid.setdefault(pubpid, int(pid))
    by_eid: dict[str, int] = {}
    if events:
        # The ids as literal integers on the driver's cursor: SQLAlchemy's expanding IN
        # processed a bound parameter per id (~8,000 for an offboarding of 20).
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for i in range(0, len(events), EVENT_CHUNK):
                ids = ",".join(str(int(e)) for e in events[i : i + EVENT_CHUNK])
                cur.execute(f"SELECT pc_eid, pc_pid FROM `{ev.name}` WHERE pc_eid IN ({ids}) ORDER BY pc_eid")
                for eid, pid in cur.fetchall():
                    if pid and str(pid).isdigit():
                        by_eid[str(eid)] = int(pid)
        finally:
            cur.close()
    out: dict[int, int] = {}
    for r in rows:
        pid = by_pubpid.get(r["target"]) if _entity(r) == "client" else by_eid.get(r["target"])
        if pid is not None:
            out[r["action_id"]] = pid
    return out


#: Calendar ids per lookup of their patients.
EVENT_CHUNK = 10_000


def _comment(r: Mapping[str, Any], note: str | None, dumps: Callable[[Any], str] = json.dumps) -> str:
    text = f"reconciler plan {r['plan_id']} action #{r['action_id']}: {r['action_type']} {r['target']}"
    if r.get("staff_id"):
        text += f" (staff {r['staff_id']})"
    before, after = r["before"], r["after"]
    changes = "; ".join(
        f"{k}: {dumps(before.get(k))} -> {dumps(after.get(k))}"
        for k in sorted(set(before) | set(after))
        if k != "cancel_reason"
    )
    if changes:
        text += f"; {changes}"
    if note:
        text += f"; {note}"
    return text


def _memo_dumps() -> Callable[[Any], str]:
    """``json.dumps`` remembered per value: an apply's events and comments repeat a few
    (statuses, flags, staff ids, the plan's instant, the same before/after mappings). A
    mapping is remembered by its items in order (the same keys and values in the same
    order give the same text); a value holding a list or a mapping is not hashable and
    is encoded each time."""
    memo: dict[tuple[type, Any], str] = {}

    def dumps(value: Any) -> str:
        try:
            key = (type(value), tuple((k, type(v), v) for k, v in value.items()) if type(value) is dict else value)
            got = memo.get(key)
        except TypeError:
            return json.dumps(value)
        if got is None:
            got = memo[key] = json.dumps(value)
        return got

    return dumps


def _php_implode(values: Sequence[Any]) -> str:
    return "".join("" if v is None else str(v) for v in values)


LOG_CHUNK = 500


def consecutive_ids(conn: Connection) -> bool:
    """Whether one multi-row INSERT takes consecutive auto-increment ids on this server."""
    mode = conn.exec_driver_sql("SELECT @@innodb_autoinc_lock_mode").scalar()
    return mode is not None and int(mode) <= 1


def write_openemr_log(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    *,
    notes: Mapping[int, str],
    with_checksums: bool,
    pids: Mapping[str, Sequence[int]] | None = None,
) -> int:
    """One ``log`` row per audit row (and its ``log_comment_encrypt`` row), as OpenEMR writes them.

    The rows go in as multi-row INSERTs of :data:`LOG_CHUNK` (one statement per row was
    most of a large apply's time). A ``log_comment_encrypt`` row names its ``log`` row by
    id: under InnoDB's "consecutive" (1) or "traditional" (0) auto-increment lock mode, the
    MariaDB default, one multi-row INSERT takes consecutive ids from ``LAST_INSERT_ID()``;
    under "interleaved" (2, MySQL 8's default) it need not, so each row is inserted on
    its own there. (Reading the rows back would need SELECT on ``log``, which the
    apply user is not granted.)"""
    patients = _patient_ids(conn, rows, pids)
    if not rows:
        return 0
    dumps = _memo_dumps()
    # One multi-row INSERT per chunk, written out here: SQLAlchemy's multi-VALUES construct
    # costs more to compile than the server takes to insert, and PyMySQL's executemany
    # escapes every column of every row. The varying values are escaped by the driver's
    # own ``escape``; the columns every row holds alike are literals.
    dbapi: Any = conn.connection.dbapi_connection
    head = (
        "INSERT INTO `log` (`date`, `event`, `category`, `user`, `comments`, `patient_id`, `groupname`, "
        "`user_notes`, `success`, `crt_user`, `log_from`, `menu_item_id`, `ccda_doc_id`) VALUES "
    )
    tail = f", {dbapi.escape(GROUPNAME)}, '', 1, '', {dbapi.escape(LOG_FROM)}, NULL, NULL)"
    esc = _escaper(conn)
    consecutive = consecutive_ids(conn)
    size = LOG_CHUNK if consecutive else 1
    stamps: dict[Any, str] = {}

    def chunks() -> Iterator[tuple[str, list[str]]]:
        """Per chunk of rows: its INSERT and, with checksums, each row's checksum."""
        for i in range(0, len(rows), size):
            # Per row: (date, event, category, user, comments, patient_id) — the columns that
            # vary; the others are the same for every row (``tail``, and the checksum's text).
            entries: list[tuple[str, str, str, str, str, int | None]] = []
            for r in rows[i : i + size]:
                at = r["at"]
                stamp = stamps.get(at)
                if stamp is None:
                    stamp = stamps[at] = naive_utc(to_utc(at)).replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S")
                event, category = LOG_EVENT[_entity(r)]
                note = _comment(r, notes.get(r["action_id"]), dumps)
                comments = base64.b64encode(note.encode("utf-8")).decode("ascii")
                entries.append((stamp, event, category, r["actor"], comments, patients.get(r["action_id"])))
            sql = head + ",".join(
                f"({esc(stamp)}, {esc(event)}, {esc(category)}, {esc(user)}, {dbapi.escape(comments)}, {esc(pid)}{tail}"
                for stamp, event, category, user, comments, pid in entries
            )
            # OpenEMR's checksum: sha3-512 of implode('', $values) in its column order
            # (date, event, category, user, groupname, comments, user_notes, patient_id,
            # success, crt_user, log_from, menu_item_id, ccda_doc_id), NULL as ''.
            sums = (
                [
                    hashlib.sha3_512(
                        _php_implode(
                            (stamp, event, category, user, GROUPNAME, comments, "", pid, 1, "", LOG_FROM, None, None)
                        ).encode("utf-8")
                    ).hexdigest()
                    for stamp, event, category, user, comments, pid in entries
                ]
                if with_checksums
                else []
            )
            yield sql, sums

    for sql, sums in ahead(chunks()):
        _run_literal(conn, sql)
        if with_checksums:
            first = int(conn.execute(select(func.last_insert_id())).scalar_one())
            checksums = ",".join(f"({log_id}, '{digest}', 'No', '', 4)" for log_id, digest in enumerate(sums, first))
            _run_literal(
                conn,
                "INSERT INTO `log_comment_encrypt` (`log_id`, `checksum`, `encrypt`, `checksum_api`, `version`) "
                "VALUES " + checksums,
            )
    return len(rows)


def read_audit(engine: Engine, where: AuditFilter | None = None) -> list[dict[str, Any]]:
    """The reconciler's audit events, oldest first (the shape ``reconciler.audit`` formats),
    filtered in SQL (SPEC §8.5; the indexes of migration 0002)."""
    stmt = select(audit_events).order_by(audit_events.c.id)
    f = where or AuditFilter()
    for value, col in (
        (f.plan_id, audit_events.c.plan_id),
        (f.staff, audit_events.c.staff_id),
        (f.client, audit_events.c.client_id),
        (f.actor, audit_events.c.actor),
        (f.type, audit_events.c.action_type),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if f.since is not None:
        stmt = stmt.where(audit_events.c.at >= naive_utc(f.since))
    if f.until is not None:
        stmt = stmt.where(audit_events.c.at < naive_utc(f.until))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        {
            "id": r.id,
            "at": iso_z(to_utc(r.at)),
            "actor": r.actor,
            "plan_id": r.plan_id,
            "action_id": r.action_id,
            "type": r.action_type,
            "target": r.target,
            "staff": r.staff_id,
            "client": r.client_id,
            "before": r.before or {},
            "after": r.after or {},
            "reason": r.reason or "",
            "signer": r.signer,
            "prev_hash": r.prev_hash,
            "hash": r.hash,
        }
        for r in rows
    ]


def verify_chain(engine: Engine) -> tuple[int, str, str | None]:
    """(events, head hash, problem or None), by the shared verifier (SPEC §7.1)."""
    result = verify(ChainEvent.from_mapping(row) for row in iter_audit_chain(engine))
    return result.count, result.head, None if result.failure is None else str(result.failure)


def audit_head(conn: Connection) -> str:
    """The newest event's ``hash`` (the chain's head), read under the apply lock."""
    return _head(conn)


def audit_has_plan(conn: Connection, plan_id: str) -> bool:
    """Whether an event of ``plan_id`` exists (the plan was applied)."""
    got = conn.execute(select(audit_events.c.id).where(audit_events.c.plan_id == plan_id).limit(1)).first()
    return got is not None


def iter_audit_chain(engine: Engine) -> Iterator[dict[str, Any]]:
    """Every event in id order, streamed, as ``security.chain.ChainEvent.from_mapping`` reads them."""
    cols = [
        audit_events.c.id,
        audit_events.c.at,
        audit_events.c.actor,
        audit_events.c.signer,
        audit_events.c.plan_id,
        audit_events.c.action_type,
        audit_events.c.target,
        audit_events.c.before,
        audit_events.c.after,
        audit_events.c.prev_hash,
        audit_events.c.hash,
    ]
    with engine.connect().execution_options(stream_results=True, yield_per=1000) as conn:
        for row in conn.execute(select(*cols).order_by(audit_events.c.id)).mappings():
            out = dict(row)
            out["at"] = to_utc(out["at"])
            yield out
