"""Who may apply when several ``watch --auto-apply`` processes share one database:
a session-level advisory lock on PostgreSQL, ``fcntl.flock`` on a lock file next to
a SQLite database, nobody to coordinate with for an in-memory one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.logs import get_logger
from reconciler.targets.base import Leadership, SoleLeadership

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Connection, Engine

#: Advisory-lock key of watch leadership (PostgreSQL). Derived from a name so it
#: cannot collide with the apply lock, which uses its own key.
LEADER_LOCK_KEY = int.from_bytes(hashlib.sha256(b"reconciler.watch.leader").digest()[:8], "big", signed=True)

log = get_logger("watch")


class PgLeadership:
    """Session-level ``pg_try_advisory_lock`` on a dedicated connection.

    The lock lives as long as the session: if this process dies or its connection
    drops, PostgreSQL releases it and a standby takes over on its next cycle. Each
    cycle the leader checks that its connection is still alive; a dead one means
    leadership was lost (someone else may hold it now), so it tries again from scratch.
    The apply itself still takes the apply lock and checks the plan's fingerprint, so
    even a leadership handover mid-cycle cannot apply a plan twice.
    """

    def __init__(self, engine: "Engine", key: int = LEADER_LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: "Connection | None" = None

    @property
    def leading(self) -> bool:
        return self._conn is not None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # close the session for real: never return a locked session to the pool
            except Exception:  # noqa: BLE001 - it is already gone
                pass

    def try_lead(self) -> bool:
        """True if this process leads (now or already); never blocks."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                log.warning("leadership.lost", reason="connection closed")
                self._drop()
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            log.warning("leadership.unavailable", error=type(exc).__name__)
            return False
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except SQLAlchemyError as exc:
            log.warning("leadership.unavailable", error=type(exc).__name__)
            conn.invalidate()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        """Unlock and close the dedicated session (a standby takes over on its next cycle)."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except SQLAlchemyError:
                pass
        self._drop()


class FileLeadership:
    """``fcntl.flock`` on a lock file next to the SQLite database: the same semantics
    as the advisory lock (held while the file descriptor is open; released by the
    kernel when the process dies)."""

    def __init__(self, lock_path: Path) -> None:
        self.lock_path = lock_path
        self._fd: int | None = None

    @property
    def leading(self) -> bool:
        return self._fd is not None

    def try_lead(self) -> bool:
        import fcntl

        if self._fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def leadership_for(engine: "Engine") -> Leadership:
    """The leadership that suits the engine's backend."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PgLeadership(engine)
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        return FileLeadership(Path(database + ".watch.lock"))
    return SoleLeadership()
