"""The practice apply lock: two applies never interleave, and the one that waits can
say who holds the lock.

``locked_transaction`` yields a connection inside an open transaction that holds the
lock; it commits when the block ends normally and rolls back on any exception (and,
being a database transaction, on a crash or kill too).

PostgreSQL
    A transaction-scoped advisory lock (``pg_try_advisory_xact_lock``), polled until
    the timeout so the wait is bounded. The holder labels its session with
    ``application_name = "reconciler apply <actor> <plan id>"`` (transaction-local),
    so a waiter names it from ``pg_locks`` joined with ``pg_stat_activity``. The
    lock goes away with the transaction: commit, rollback or a killed client.
    The holder then SHARE-locks the practice tables (``FROZEN_TABLES``): others
    read on, but writes wait until the apply ends, so nothing the fingerprint
    covers can change between the check and the commit.

SQLite
    A sidecar file ``<database>.apply-lock`` locked with ``flock`` (released by the
    kernel when the holder dies), holding a line that names the actor, pid and plan;
    then ``BEGIN IMMEDIATE`` takes SQLite's write lock, waiting at most for what is
    left of the timeout (the practice's own application may be writing).

On timeout both raise :class:`LockHeld` ("another apply holds the lock: <holder>").
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from reconciler.errors import LockHeld

# The advisory lock key pair: "Reco" "ncil" as two int4 values (fits PostgreSQL's int).
APPLY_LOCK_KEY = (0x5265636F, 0x6E63696C)
APP_NAME_PREFIX = "reconciler apply "
SIDECAR_SUFFIX = ".apply-lock"
# The tables an apply's fingerprint reads and its writers change (PostgreSQL SHARE-locks them).
FROZEN_TABLES = ("practice", "staff", "clients", "series", "appointments")
# What SQLite connections go back to after BEGIN IMMEDIATE (targets.native.engine's default).
SQLITE_DEFAULT_BUSY_MS = 10_000

Sleep = Callable[[float], None]
Clock = Callable[[], float]


def application_name(actor: str, plan_id: str) -> str:
    """The PostgreSQL session label of an apply (at most 63 bytes, PostgreSQL's limit)."""
    return f"{APP_NAME_PREFIX}{actor} {plan_id}"[:63]


def holder_line(actor: str, plan_id: str, pid: int, since: dt.datetime) -> str:
    """How a holder names itself in the SQLite sidecar file."""
    return f"{actor} (plan {plan_id}, pid {pid}, since {since.strftime('%Y-%m-%dT%H:%M:%SZ')})"


def sidecar_path(database: str) -> Path:
    """``practice.db`` -> ``practice.db.apply-lock`` (next to the database file)."""
    return Path(database + SIDECAR_SUFFIX)


@contextmanager
def locked_transaction(
    engine: Engine,
    *,
    actor: str,
    plan_id: str,
    timeout: float,
    poll: float = 0.05,
    on_wait: Callable[[str], None] | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Iterator[Connection]:
    """A connection in one transaction holding the practice apply lock.

    Waits at most ``timeout`` seconds (``on_wait`` is told once, with the holder, when
    it has to wait); raises :class:`LockHeld` naming the holder when the time is up.
    Commits on normal exit, rolls back on exception.
    """
    if engine.dialect.name == "postgresql":
        with _pg_locked(engine, actor, plan_id, timeout, poll, on_wait, clock, sleep) as conn:
            yield conn
    else:
        with _sqlite_locked(engine, actor, plan_id, timeout, poll, on_wait, clock, sleep) as conn:
            yield conn


# ---------------------------------------------------------------- PostgreSQL
_PG_HOLDER = text(
    "SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = :a AND l.objid::bigint = :b "
    "AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "ORDER BY a.pid"
)


def pg_lock_holder(conn: Connection) -> str:
    """Who holds the apply lock on this database, from ``pg_locks`` + ``pg_stat_activity``."""
    rows = conn.execute(_PG_HOLDER, {"a": APPLY_LOCK_KEY[0], "b": APPLY_LOCK_KEY[1]}).all()
    if not rows:
        return "unknown (the lock was just released)"
    pid, name = rows[0]
    name = name or ""
    if name.startswith(APP_NAME_PREFIX):
        actor, _, plan = name[len(APP_NAME_PREFIX) :].rpartition(" ")
        return f"{actor} (plan {plan}, server pid {pid})"
    return f"{name or 'a session'} (server pid {pid})"


@contextmanager
def _pg_locked(
    engine: Engine,
    actor: str,
    plan_id: str,
    timeout: float,
    poll: float,
    on_wait: Callable[[str], None] | None,
    clock: Clock,
    sleep: Sleep,
) -> Iterator[Connection]:
    deadline = clock() + timeout
    with engine.connect() as conn, conn.begin():
        # Transaction-local: the label disappears with the lock.
        conn.execute(text("SELECT set_config('application_name', :n, true)"), {"n": application_name(actor, plan_id)})
        told = False
        while not conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:a, :b)"), {"a": APPLY_LOCK_KEY[0], "b": APPLY_LOCK_KEY[1]}
        ).scalar():
            if clock() >= deadline:
                raise LockHeld(
                    f"another apply holds the lock: {pg_lock_holder(conn)}; waited {timeout:g} s, nothing was changed"
                )
            if on_wait is not None and not told:
                on_wait(pg_lock_holder(conn))
                told = True
            sleep(poll)
        _pg_freeze_tables(conn, deadline, timeout, clock)
        yield conn


def _pg_freeze_tables(conn: Connection, deadline: float, timeout: float, clock: Clock) -> None:
    """Hold SHARE locks on the tables the fingerprint reads until the transaction ends.

    Other sessions (the practice's own application) can still read, but their writes
    to these tables wait until the apply commits: what the fingerprint check saw
    is what the writers change, as with SQLite's BEGIN IMMEDIATE. Bounded by what
    is left of the timeout (an idle-in-transaction writer must not hang the apply).
    """
    left_ms = max(int((deadline - clock()) * 1000), 1)
    conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": f"{left_ms}ms"})
    try:
        conn.execute(text(f"LOCK TABLE {', '.join(FROZEN_TABLES)} IN SHARE MODE"))
    except sa_exc.OperationalError as exc:
        if "lock timeout" not in str(exc.orig).lower():
            raise
        raise LockHeld(
            "another transaction is writing to the practice tables (the practice application?); "
            f"waited {timeout:g} s, nothing was changed"
        ) from None
    conn.execute(text("SELECT set_config('lock_timeout', '0', true)"))


# ---------------------------------------------------------------- SQLite
def _read_holder(fd: int) -> str:
    data = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    return data or "unknown (the holder has not named itself yet)"


@contextmanager
def _sidecar(
    database: str | None,
    actor: str,
    plan_id: str,
    deadline: float,
    timeout: float,
    poll: float,
    on_wait: Callable[[str], None] | None,
    clock: Clock,
    sleep: Sleep,
) -> Iterator[None]:
    if not database or database == ":memory:":
        yield  # a private in-memory database cannot be shared: nothing to lock
        return
    fd = os.open(sidecar_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise LockHeld(
                        f"another apply holds the lock: {_read_holder(fd)}; waited {timeout:g} s, nothing was changed"
                    ) from None
                if on_wait is not None and not told:
                    on_wait(_read_holder(fd))
                    told = True
                sleep(poll)
        try:
            line = holder_line(actor, plan_id, os.getpid(), dt.datetime.now(dt.timezone.utc))
            os.ftruncate(fd, 0)
            os.pwrite(fd, (line + "\n").encode(), 0)
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _is_busy(exc: sa_exc.OperationalError) -> bool:
    msg = str(exc.orig).lower()
    return "locked" in msg or "busy" in msg


@contextmanager
def _sqlite_locked(
    engine: Engine,
    actor: str,
    plan_id: str,
    timeout: float,
    poll: float,
    on_wait: Callable[[str], None] | None,
    clock: Clock,
    sleep: Sleep,
) -> Iterator[Connection]:
    deadline = clock() + timeout
    with _sidecar(engine.url.database, actor, plan_id, deadline, timeout, poll, on_wait, clock, sleep):
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            left_ms = max(int((deadline - clock()) * 1000), 0)
            raw.execute(f"PRAGMA busy_timeout={left_ms}")
            conn.execution_options(sqlite_begin="IMMEDIATE")
            try:
                trans = conn.begin()
                # pysqlite without targets.native.engine's begin hook would defer BEGIN; force it.
                if not raw.in_transaction:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
            except sa_exc.OperationalError as exc:
                if _is_busy(exc):
                    raise LockHeld(
                        "another writer holds the SQLite database lock (not a reconciler apply: "
                        f"the practice application?); waited {timeout:g} s, nothing was changed"
                    ) from None
                raise
            finally:
                raw.execute(f"PRAGMA busy_timeout={SQLITE_DEFAULT_BUSY_MS}")
            with trans:
                yield conn
