"""The apply lock of the openemr target: a named server lock plus one transaction.

``GET_LOCK('reconciler-apply:<database>', timeout)`` is taken on the apply's own connection
(MariaDB/MySQL release it when that session ends, so a killed apply never leaves it
held); the transaction begins after it and the lock is released after the commit or
rollback. A second apply waits at most ``timeout`` seconds, then fails with
:class:`LockHeld` naming the server connection that holds the lock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from reconciler.errors import LockHeld

LOCK_NAME = "reconciler-apply"


def lock_name(conn: Connection, base: str = LOCK_NAME) -> str:
    """Named locks are server-wide: the name carries the database's, so two OpenEMR
    databases on one server do not share a lock (at most 64 characters)."""
    db = conn.execute(text("SELECT DATABASE()")).scalar() or ""
    return f"{base}:{db}"[:64]


def lock_holder(conn: Connection) -> str:
    cid = conn.execute(text("SELECT IS_USED_LOCK(:n)"), {"n": lock_name(conn)}).scalar()
    return "unknown (the lock was just released)" if cid is None else f"server connection {cid}"


@contextmanager
def locked_transaction(
    engine: Engine, *, timeout: float, on_wait: Callable[[str], None] | None = None
) -> Iterator[Connection]:
    """A connection holding the apply lock, inside one transaction (commit on normal
    exit, rollback on exception), the lock released afterwards. ``on_wait`` is told
    the holder once when the lock is taken."""
    with engine.connect() as conn:
        name = lock_name(conn)
        got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar()
        if got != 1 and timeout > 0:
            if on_wait is not None:
                on_wait(lock_holder(conn))
            got = conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": max(1, math.ceil(timeout))}).scalar()
        conn.commit()  # GET_LOCK's implicit transaction; the apply's own begins below
        if got != 1:
            raise LockHeld(
                f"another apply holds the lock: {lock_holder(conn)}; waited {timeout:g} s, nothing was changed"
            )
        try:
            with conn.begin():
                yield conn
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
            conn.commit()


class ServerLockLeadership:
    """``watch --auto-apply`` leadership: a named server lock held on a connection
    kept open while leading (released when the process or its session ends)."""

    NAME = "reconciler-watch-leader"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None
        self.name = self.NAME

    def try_lead(self) -> bool:
        if self.conn is not None:
            try:
                self.conn.execute(text("SELECT 1"))
                return True
            except Exception:  # noqa: BLE001 - the session is gone: lead again if we can
                self.conn = None
        conn = self.engine.connect()
        self.name = lock_name(conn, self.NAME)
        got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": self.name}).scalar()
        conn.commit()
        if got == 1:
            self.conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": self.name})
                self.conn.commit()
            finally:
                self.conn.close()
                self.conn = None
