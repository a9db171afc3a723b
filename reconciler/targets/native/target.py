"""The native target: reconciler's own schema on SQLite or PostgreSQL (SPEC §1).

All SQL of the project lives in this package; this module puts it behind
:class:`reconciler.targets.base.Target`, and is the one place a driver error
(SQLAlchemy's DBAPIError) becomes a message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

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
from reconciler.targets.native import queries
from reconciler.targets.native.engine import make_engine, require_schema, resolve_url
from reconciler.targets.native.write import WRITERS, write_group
from reconciler.timeutil import iso_z, naive_utc, to_utc


class NativeSession:
    """A read session, or (with the apply lock held) the write session."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def read_base(self) -> tuple[Practice | None, dict[str, Staff]]:
        from reconciler.targets.native.read import read_base

        return read_base(self.conn)

    def read_sets(self, scope: ReadScope, practice: Practice | None, staff: dict[str, Staff]) -> ActualState:
        from reconciler.targets.native.read import read_sets

        return read_sets(self.conn, scope, practice, staff)

    def read_scoped(self, scope: ReadScope) -> ActualState:
        from reconciler.targets.native.read import read_scoped

        return read_scoped(self.conn, scope)

    def staff_access(self, staff_id: str) -> StaffAccess | None:
        return queries.staff_access(self.conn, staff_id)

    def database_id(self) -> str | None:
        return queries.database_id(self.conn)

    def read_by_id(
        self,
        appointment_ids: Sequence[str],
        series_ids: Sequence[str],
        client_ids: Sequence[str],
        *,
        at: dt.datetime,
    ) -> tuple[dict[str, Appointment], dict[str, Series], dict[str, Client]]:
        from reconciler.targets.native.read import read_by_id

        del at  # the native schema stores a series' ``active`` flag itself
        return read_by_id(self.conn, appointment_ids, series_ids, client_ids)

    def export_data(self, ident: str, *, client: bool) -> ExportData:
        return queries.collect_client(self.conn, ident) if client else queries.collect_staff(self.conn, ident)

    def audit_has_plan(self, plan_id: str) -> bool:
        return queries.audit_has_plan(self.conn, plan_id)

    def write(self, actions: Sequence[Action], ctx: WriteContext) -> int:
        return write_group(self.conn, actions, ctx)

    def audit_head(self) -> str:
        return queries.audit_head(self.conn)

    def audit(self, rows: list[dict[str, Any]]) -> int:
        return queries.insert_audit(self.conn, rows)


class NativeTarget:
    """reconciler's own database, reached through a SQLAlchemy engine."""

    name = "native"
    capabilities: frozenset[ActionType] = frozenset(WRITERS)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str | None, *, create: bool = False) -> "NativeTarget":
        """The target for ``--db`` (default: $RECONCILER_DB, then sqlite:///practice.db).
        Only ``create`` (``db init``, ``db upgrade``) may make a new SQLite file."""
        return cls(make_engine(resolve_url(url), must_exist=not create))

    @property
    def backend(self) -> str:
        return self.engine.url.get_backend_name()

    def writer_groups(self, actions: Sequence[Action]) -> list[list[Action]]:
        from reconciler.targets.native.write import writer_groups

        return writer_groups(actions)

    # ---------------------------------------------------------------- schema
    def require_schema(self) -> None:
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
        self.require_schema()
        with self.engine.connect() as conn:
            for row in queries.iter_audit_chain(conn):
                row["at"] = to_utc(row["at"])
                yield row

    def read_status(self) -> StatusFacts:
        self.require_schema()
        with self.engine.connect() as conn:
            return queries.read_status(conn)

    def read_compliance(self, at: dt.datetime) -> ComplianceFacts:
        self.require_schema()
        with self.engine.connect() as conn:
            return queries.read_compliance(conn, naive_utc(at))

    def read_import(self) -> Imported:
        self.require_schema()
        with self.engine.connect() as conn:
            return queries.read_for_import(conn)

    def read_db_facts(self, client_ids: list[str]) -> DbFacts:
        from reconciler.errors import DatabaseError

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
        if isinstance(exc, sa_exc.DBAPIError):
            lines = str(exc.orig or exc.__class__.__name__).strip().splitlines()
            return lines[0] if lines else exc.__class__.__name__
        return None

    def dispose(self) -> None:
        self.engine.dispose()


def error_line(exc: BaseException) -> str | None:
    """:meth:`NativeTarget.error_line` without a target at hand."""
    if isinstance(exc, sa_exc.DBAPIError):
        lines = str(exc.orig or exc.__class__.__name__).strip().splitlines()
        return lines[0] if lines else exc.__class__.__name__
    return None
