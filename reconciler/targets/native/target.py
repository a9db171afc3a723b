"""The native target: reconciler's own schema on SQLite or PostgreSQL (SPEC §1).

All SQL of the project lives in this package; this module puts it behind
:class:`reconciler.targets.base.Target`, and is the one place a driver error
(SQLAlchemy's DBAPIError, or sqlite3's own on the light read path) becomes a message.

SQLAlchemy is imported when a command first needs the engine: ``plan`` on a plain
SQLite file reads through :mod:`reconciler.targets.native.lite`, on PostgreSQL through
:mod:`reconciler.targets.native.pglite` (psycopg alone), and never does.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import datetime as dt
import functools
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, Sequence, TypeVar

from reconciler.model.actions import Action, ActionType
from reconciler.model.actual import ActualState, Appointment, Client, Practice, Series, Staff
from reconciler.model.records import (
    AuditFilter,
    ComplianceFacts,
    DbFacts,
    ExportData,
    Imported,
    StaffAccess,
    StatusFacts,
)
from reconciler.planner.scope import ReadScope
from reconciler.targets.base import Leadership, WriteContext
from reconciler.targets.native import lite, pglite, read
from reconciler.timeutil import iso_z, naive_utc, to_utc

if TYPE_CHECKING:  # pragma: no cover
    import psycopg
    from sqlalchemy.engine import Connection, Engine


class NativeSession:
    """A read session, or (with the apply lock held) the write session. The planner's
    reads run as plain SQL on :attr:`rows`; the others on the SQLAlchemy :attr:`conn`."""

    def __init__(self, conn: "Connection") -> None:
        self.conn = conn
        self.rows = read.sa_rows(conn)

    def read_base(self) -> tuple[Practice | None, dict[str, Staff]]:
        return read.read_base(self.rows)

    def read_sets(self, scope: ReadScope, practice: Practice | None, staff: dict[str, Staff]) -> ActualState:
        return read.read_sets(self.rows, scope, practice, staff)

    def read_scoped(self, scope: ReadScope) -> ActualState:
        return read.read_scoped(self.rows, scope)

    def staff_access(self, staff_id: str) -> StaffAccess | None:
        from reconciler.targets.native import queries

        return queries.staff_access(self.conn, staff_id)

    def database_id(self) -> str | None:
        return read.database_id(self.rows, has_meta=self.conn.dialect.has_table(self.conn, "reconciler_meta"))

    def read_by_id(
        self,
        appointment_ids: Sequence[str],
        series_ids: Sequence[str],
        client_ids: Sequence[str],
        *,
        at: dt.datetime,
    ) -> tuple[dict[str, Appointment], dict[str, Series], dict[str, Client]]:
        del at  # the native schema stores a series' ``active`` flag itself
        return read.read_by_id(self.rows, appointment_ids, series_ids, client_ids)

    def export_data(self, ident: str, *, client: bool) -> ExportData:
        from reconciler.targets.native import queries

        return queries.collect_client(self.conn, ident) if client else queries.collect_staff(self.conn, ident)

    def audit_has_plan(self, plan_id: str) -> bool:
        from reconciler.targets.native import queries

        return queries.audit_has_plan(self.conn, plan_id)

    def write(self, actions: Sequence[Action], ctx: WriteContext) -> int:
        from reconciler.targets.native.write import write_group

        return write_group(self.conn, actions, ctx)

    def audit_head(self) -> str:
        from reconciler.targets.native import queries

        return queries.audit_head(self.conn)

    def audit(self, rows: list[dict[str, Any]]) -> int:
        from reconciler.targets.native import queries

        return queries.insert_audit(self.conn, rows)


class _Lent:
    """A session's driver connection (sqlite3, psycopg) as lent to SQLAlchemy: SQLAlchemy
    ends what it thinks is its transaction (a rollback after its first connect, for
    one), but the transaction is the session's, which began and ends it; so is closing."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


class LiteSession(NativeSession):
    """A read session on a sqlite3 connection (:mod:`reconciler.targets.native.lite`).
    The planner's reads need nothing else; a read that needs SQLAlchemy gets a
    SQLAlchemy connection over the same sqlite3 connection, so it stays in the same
    transaction and sees the same snapshot."""

    #: The URL of the SQLAlchemy engine lent the connection (the dialect, no database),
    #: and the engine's dialect arguments.
    DIALECT_URL = "sqlite://"
    DIALECT_ARGS: dict[str, Any] = {}

    def __init__(self, raw: Any) -> None:  # noqa: D107 (no SQLAlchemy yet)
        self.raw = raw
        self.rows = read.sqlite_rows(raw)

    @functools.cached_property
    def conn(self) -> "Connection":  # type: ignore[override]  # made on first use
        from sqlalchemy import create_engine
        from sqlalchemy.pool import StaticPool

        lent = _Lent(self.raw)
        engine = create_engine(
            self.DIALECT_URL,
            creator=lambda: lent,
            poolclass=StaticPool,
            pool_reset_on_return=None,
            **self.DIALECT_ARGS,
        )
        return engine.connect()

    def database_id(self) -> str | None:
        return read.database_id(self.rows, has_meta=self._has_table("reconciler_meta"))

    def _has_table(self, name: str) -> bool:
        return lite.has_table(self.raw, name)

    def close(self) -> None:
        if "conn" in self.__dict__:
            conn = self.conn
            engine = conn.engine
            conn.close()
            engine.dispose()  # its pool lends, never closes, the session's connection (_Lent)


class PgLiteSession(LiteSession):
    """A read session on a psycopg connection (:mod:`reconciler.targets.native.pglite`),
    lent to SQLAlchemy, as :class:`LiteSession`'s, for the reads the planner does not make."""

    DIALECT_URL = "postgresql+psycopg://"
    # Without the hstore look-up of the dialect's first connect: psycopg's TypeInfo.fetch
    # takes a psycopg Connection only, not the lent one (and no column here is an hstore).
    DIALECT_ARGS = {"use_native_hstore": False}

    def __init__(self, raw: "psycopg.Connection[Any]") -> None:  # noqa: D107
        self.raw = raw
        self.rows = read.psycopg_rows(raw)

    def _has_table(self, name: str) -> bool:
        return pglite.has_table(self.raw, name)


_C = TypeVar("_C", sqlite3.Connection, "psycopg.Connection[Any]")


class _Light(abc.ABC, Generic[_C]):
    """A database read with its driver alone: a connection per use, as the engine's
    (no pool: nothing outlives its use)."""

    backend: str

    @abc.abstractmethod
    def connect(self) -> _C:
        """A connection, set up as the engine's are; :class:`DatabaseError` in the
        engine's words when it cannot be made."""

    @abc.abstractmethod
    def _require_schema(self, raw: _C) -> None:
        """The engine's schema check, in its words."""

    @abc.abstractmethod
    def _session(self, raw: _C, consistent: bool) -> "LiteSession":
        """A read transaction begun on ``raw`` as the engine's connections begin one, and
        the session reading in it."""

    @abc.abstractmethod
    def _end(self, raw: _C) -> None:
        """The session's transaction rolled back (it only read)."""

    def require_schema(self) -> None:
        with contextlib.closing(self.connect()) as raw:
            self._require_schema(raw)

    @contextlib.contextmanager
    def reading(self, consistent: bool) -> Iterator[NativeSession]:
        with contextlib.closing(self.connect()) as raw:
            session = self._session(raw, consistent)
            try:
                yield session
            finally:
                try:
                    session.close()
                finally:
                    self._end(raw)


class _SqliteFile(_Light[sqlite3.Connection]):
    """A plain SQLite file, read with sqlite3 (:mod:`reconciler.targets.native.lite`)."""

    backend = "sqlite"

    def __init__(self, path: str, shown: str) -> None:
        self.path, self.shown = path, shown

    def connect(self) -> sqlite3.Connection:
        return lite.connect(self.path, self.shown)

    def _require_schema(self, raw: sqlite3.Connection) -> None:
        lite.require_schema(raw, self.shown)

    def _session(self, raw: sqlite3.Connection, consistent: bool) -> LiteSession:
        # BEGIN (deferred), consistent or not, as the engine's connections begin one: in
        # WAL mode the first read fixes the snapshot every later read of the session sees.
        raw.execute("BEGIN")
        return LiteSession(raw)

    def _end(self, raw: sqlite3.Connection) -> None:
        if raw.in_transaction:
            raw.execute("ROLLBACK")


class _PostgresUrl(_Light["psycopg.Connection[Any]"]):
    """A PostgreSQL database, read with psycopg (:mod:`reconciler.targets.native.pglite`)."""

    backend = "postgresql"

    def __init__(self, url: str, kwargs: dict[str, Any]) -> None:
        self.url, self.kwargs = url, kwargs

    def connect(self) -> "psycopg.Connection[Any]":
        return pglite.connect(self.url, self.kwargs)

    def _require_schema(self, raw: "psycopg.Connection[Any]") -> None:
        pglite.require_schema(raw, self.url)

    def _session(self, raw: "psycopg.Connection[Any]", consistent: bool) -> LiteSession:
        # As the engine's connections: a transaction from the first read on, REPEATABLE
        # READ when consistent (every read sees the snapshot of the first).
        pglite.begin(raw, consistent=consistent)
        return PgLiteSession(raw)

    def _end(self, raw: "psycopg.Connection[Any]") -> None:
        # Not on a connection the server dropped: its rollback would raise "the connection
        # is closed" over the error that ended the session (closing ends the transaction).
        if not raw.closed and not raw.broken:
            raw.rollback()


class NativeTarget:
    """reconciler's own database, reached through a SQLAlchemy engine, or (reads of a
    plain SQLite file, of a PostgreSQL URL that psycopg takes as it is) through the
    driver alone until something needs the engine."""

    name = "native"
    #: Every action type has a writer (``write.WRITERS``; a test holds the two equal).
    capabilities: frozenset[ActionType] = frozenset(ActionType)

    def __init__(self, engine: "Engine | None" = None, *, url: str | None = None) -> None:
        """A target on ``engine``; or, without one, on ``url`` read with the driver alone:
        the SQLite file of ``sqlite:///path`` (:func:`lite.plain_file`) with sqlite3, a
        PostgreSQL URL :func:`pglite.connect_kwargs` reads with psycopg. The database is
        connected to here once (a missing file, one that is no database, a server out of
        reach is an error now, as the engine's first connection would make it) and then
        once per read session, as the engine's connections are (no pool: nothing
        outlives its use)."""
        self._url = url
        self._driver: _Light[Any] | None = None
        if engine is not None:
            self.engine = engine
            return
        if url is not None and (path := lite.plain_file(url)) is not None:
            self._driver = _SqliteFile(path, lite.safe_text(url))
        elif url is not None and (kwargs := pglite.connect_kwargs(url)) is not None:
            self._driver = _PostgresUrl(url, kwargs)
        else:
            raise ValueError("NativeTarget needs an engine, a sqlite:///path or a postgresql+psycopg:// URL")
        self._driver.connect().close()

    @classmethod
    def open(cls, url: str | None, *, create: bool = False) -> "NativeTarget":
        """The target for ``--db`` (default: $RECONCILER_DB, then sqlite:///practice.db).
        Only ``create`` (``db init``, ``db upgrade``) may make a new SQLite file."""
        resolved = lite.resolve_url(url)
        if not create and (lite.plain_file(resolved) is not None or pglite.connect_kwargs(resolved) is not None):
            return cls(url=resolved)
        from reconciler.targets.native.engine import make_engine

        return cls(make_engine(resolved, must_exist=not create))

    @functools.cached_property
    def engine(self) -> "Engine":
        """The SQLAlchemy engine, made when first needed (a target opened on a plain
        SQLite file reads without it)."""
        from reconciler.targets.native.engine import make_engine

        assert self._url is not None
        return make_engine(self._url, must_exist=True)

    @property
    def _light(self) -> "_Light[Any] | None":
        """The driver the database is read with alone, while no engine has been made."""
        return self._driver if "engine" not in self.__dict__ else None

    @property
    def backend(self) -> str:
        if (light := self._light) is not None:
            return light.backend
        return self.engine.url.get_backend_name()

    def writer_groups(self, actions: Sequence[Action]) -> list[list[Action]]:
        from reconciler.targets.native.write import writer_groups

        return writer_groups(actions)

    # ---------------------------------------------------------------- schema
    def require_schema(self) -> None:
        if (light := self._light) is not None:
            light.require_schema()
            return
        from reconciler.targets.native.engine import require_schema

        require_schema(self.engine)

    def init_schema(self) -> bool:
        from reconciler.targets.native.migrate import init_db

        return init_db(self.engine)

    def upgrade_schema(self) -> str:
        from reconciler.targets.native.migrate import upgrade_db

        return upgrade_db(self.engine)

    # ---------------------------------------------------------------- snapshots (native only: SPEC §1)
    def load_snapshot(self, path: Path, progress: bool = False) -> dict[str, int]:
        from reconciler.targets.native.snapshot import load_snapshot

        return load_snapshot(self.engine, path, progress=progress)

    def dump_snapshot(self, fmt: str) -> str:
        from reconciler.targets.native.snapshot import dump_snapshot

        return dump_snapshot(self.engine, fmt)

    # ---------------------------------------------------------------- sessions
    @contextlib.contextmanager
    def reading(self, *, consistent: bool = False) -> Iterator[NativeSession]:
        if (light := self._light) is not None:
            with light.reading(consistent) as session:
                yield session
            return
        if not consistent:
            with self.engine.connect() as conn:
                yield NativeSession(conn)
            return
        opts = {"isolation_level": "REPEATABLE READ"} if self.engine.dialect.name == "postgresql" else {}
        with self.engine.connect().execution_options(**opts) as conn, conn.begin():
            yield NativeSession(conn)

    @contextlib.contextmanager
    def locked(
        self,
        *,
        actor: str,
        plan_id: str,
        timeout: float,
        on_wait: Callable[[str], None] | None = None,
    ) -> Iterator[NativeSession]:
        from reconciler.targets.native.lock import locked_transaction

        with locked_transaction(self.engine, actor=actor, plan_id=plan_id, timeout=timeout, on_wait=on_wait) as conn:
            yield NativeSession(conn)

    # ---------------------------------------------------------------- reads for other commands
    def read_audit(self, plan_id: str | None = None, *, where: AuditFilter | None = None) -> list[dict[str, Any]]:
        from reconciler.targets.native import queries

        self.require_schema()
        if plan_id is not None:
            where = dataclasses.replace(where or AuditFilter(), plan_id=plan_id)
        with self.engine.connect() as conn:
            rows = queries.read_audit_rows(conn, where)
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
                "hash": r.hash,
            }
            for r in rows
        ]

    def iter_audit_chain(self) -> Iterator[dict[str, Any]]:
        from reconciler.targets.native import queries

        self.require_schema()
        with self.engine.connect() as conn:
            for row in queries.iter_audit_chain(conn):
                row["at"] = to_utc(row["at"])
                yield row

    def read_status(self) -> StatusFacts:
        from reconciler.targets.native import queries

        self.require_schema()
        with self.engine.connect() as conn:
            return queries.read_status(conn)

    def read_compliance(self, at: dt.datetime) -> ComplianceFacts:
        from reconciler.targets.native import queries

        self.require_schema()
        with self.engine.connect() as conn:
            return queries.read_compliance(conn, naive_utc(at))

    def read_import(self) -> Imported:
        from reconciler.targets.native import queries

        self.require_schema()
        with self.engine.connect() as conn:
            return queries.read_for_import(conn)

    def read_db_facts(self, client_ids: list[str]) -> DbFacts:
        from sqlalchemy import exc as sa_exc

        from reconciler.errors import DatabaseError
        from reconciler.targets.native import queries

        try:
            with self.engine.connect() as conn:
                return queries.read_db_facts(conn, client_ids)
        except sa_exc.DBAPIError as exc:
            first_line = (str(exc.orig) or type(exc.orig).__name__).splitlines()[0]
            raise DatabaseError(f"cannot read the database: {first_line}") from None

    def leadership(self) -> Leadership:
        from reconciler.targets.native.leader import leadership_for

        return leadership_for(self.engine)

    # ---------------------------------------------------------------- errors
    def error_line(self, exc: BaseException) -> str | None:
        """The driver's first line (never its parameters: they may hold PHI)."""
        return error_line(exc)

    def dispose(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def error_line(exc: BaseException) -> str | None:
    """:meth:`NativeTarget.error_line` without a target at hand: the first line of a
    SQLAlchemy DBAPIError's driver error, or of a sqlite3 or psycopg error (the light
    read paths)."""
    sa_exc = sys.modules.get("sqlalchemy.exc")  # not loaded: it cannot have raised
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        lines = str(exc.orig or exc.__class__.__name__).strip().splitlines()
        return lines[0] if lines else exc.__class__.__name__
    if isinstance(exc, sqlite3.Error):
        return lite.first_line(exc)
    psycopg = sys.modules.get("psycopg")  # the light path on PostgreSQL (pglite)
    if psycopg is not None and isinstance(exc, psycopg.Error):
        return lite.first_line(exc)
    return None
