"""The ``openemr`` target as one object (the shape of ``reconciler.targets.base.Target``):
capabilities, read sessions, the locked write session with its audit sink, schema
init/upgrade, and the reads behind ``import``, ``export``, ``status`` and ``audit``.

The modules it wires together: :mod:`.tables` (OpenEMR's columns and the
reconciler's own tables), :mod:`.read` (the planner's values), :mod:`.write` (one
conditional writer per action type), :mod:`.lock` (``GET_LOCK`` + one transaction),
:mod:`.audit` (the chained trail and OpenEMR's ``log``), :mod:`.migrate`,
:mod:`.facts`, :mod:`.exports`, :mod:`.series` / :mod:`.recurrence`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from reconciler.targets.base import Leadership
from reconciler.targets.base import WriteContext as BaseWriteContext

from . import audit as audit_mod
from . import facts, read
from .lock import locked_transaction
from .safety import (
    check_transactional,
    has_checksum_table,
    tables_written_by_types,
)
from .write import CAPABILITIES, UNSUPPORTED, WRITERS, WriteContext, writer_groups

NAME = "openemr"


class ReadSession:
    """One consistent view of the OpenEMR database."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # The clients (chart numbers) this session's reads saw: an apply's writers look
        # their patient ids up at once (the re-plan or fingerprint read, a revert's
        # read by id, name every client its client actions touch).
        self._clients_read: set[str] = set()

    def read_base(self) -> tuple[Practice | None, dict[str, Staff]]:
        return read.read_base(self.conn)

    def read_sets(self, scope: ReadScope, practice: Practice | None, staff: dict[str, Staff]) -> ActualState:
        state = read.read_sets(self.conn, scope, practice, staff)
        self._clients_read.update(state.clients)
        return state

    def read_scoped(self, scope: ReadScope) -> ActualState:
        state = read.read_scoped(self.conn, scope)
        self._clients_read.update(state.clients)
        return state

    def audit_has_plan(self, plan_id: str) -> bool:
        return audit_mod.audit_has_plan(self.conn, plan_id)

    def read_by_id(
        self,
        appointment_ids: Sequence[str],
        series_ids: Sequence[str],
        client_ids: Sequence[str],
        *,
        at: dt.datetime,
    ) -> tuple[dict[str, Appointment], dict[str, Series], dict[str, Client]]:
        got = read.read_by_id(self.conn, appointment_ids, series_ids, client_ids, at=at)
        self._clients_read.update(got[2])
        return got

    def as_planned(
        self, kind: str, row: object, after: Mapping[str, Any], values: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """``revert``: the row's ``values`` restated in the plan's terms, where OpenEMR keeps
        less than the plan said. A cancellation reason is not kept (the status decides); a
        series keeps an end *day*, so the instant a plan ended it at holds when the end day
        is the one that instant gives; its ``active`` follows from that end day."""
        out = dict(values)
        if kind == "appointment" and "cancel_reason" in after:
            out["cancel_reason"] = after["cancel_reason"]
        if kind == "series" and isinstance(row, Series):
            tz = read.practice_tz(read.read_practice(self.conn))
            until_holds = "until" not in after
            if "until" in after:
                from reconciler.timeutil import iso_z, parse_iso_z

                planned = after["until"]
                held = read.as_planned_until(row, None if planned is None else parse_iso_z(str(planned)), tz)
                until_holds = held == row.until
                if until_holds:
                    out["until"] = planned
                else:
                    out["until"] = None if row.until is None else iso_z(row.until)
            if "active" in after and until_holds:
                out["active"] = after["active"]
        return out

    def staff_access(self, staff_id: str) -> StaffAccess | None:
        got = facts.staff_access(self.conn, staff_id)
        return None if got is None else StaffAccess(*got)

    def database_id(self) -> str | None:
        return facts.database_id(self.conn)

    def export_data(self, ident: str, *, client: bool) -> ExportData:
        from .exports import collect_staff

        if client:
            from reconciler.errors import ExportError

            raise ExportError(
                f"client {ident}: the openemr target writes no client export (OpenEMR has no "
                "client deletion); nothing was exported"
            )
        return collect_staff(self.conn, ident)


class WriteSession(ReadSession):
    """The locked apply transaction: writers, then the audit sink (the chained
    ``reconciler_audit_events`` and OpenEMR's own ``log``)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.notes: dict[int, str] = {}
        self.checksums = has_checksum_table(conn)
        self._ctx: WriteContext | None = None
        self._checked: set[str] = set()

    def write(self, actions: Sequence[Action], ctx: BaseWriteContext) -> int:
        if not actions:
            return 0
        kind = actions[0].type
        kinds = {a.type for a in actions}  # a run of client actions may mix types (write.writer_groups)
        for a in actions:
            if a.type not in CAPABILITIES:
                from reconciler.errors import PlanRefused

                raise PlanRefused(
                    f"{a.type.entity} {a.target}: {a.type.value} is not supported by the openemr "
                    f"target ({UNSUPPORTED.get(a.type, 'no writer')}); nothing was changed"
                )
        # Before this run writes anything: every table it and the audit sink write is
        # transactional (SPEC §6). The first run checks the audit tables too, so a
        # MyISAM log is refused before the first change.
        first = self._ctx is None
        # Each table once per apply (an information_schema read per writer run was ~0.8 s of
        # a 400-run apply).
        tables = [t for t in tables_written_by_types(kinds, self.checksums, audit=first) if t not in self._checked]
        if tables:
            check_transactional(self.conn, tables)
            self._checked.update(tables)
        if self._ctx is None or self._ctx.plan_id != ctx.plan_id:
            self._ctx = WriteContext(
                plan_id=ctx.plan_id,
                as_of=ctx.as_of,
                tz=read.practice_tz(read.read_practice(self.conn)),
                uid=read.user_ids(self.conn),
                seat_credits=dict(getattr(ctx, "seat_credits", {}) or {}),
                notes=self.notes,
                clients_read=frozenset(self._clients_read),
            )
        return WRITERS[kind](self.conn, actions, self._ctx)

    def audit_head(self) -> str:
        return audit_mod.audit_head(self.conn)

    def audit(self, rows: list[dict[str, Any]]) -> int:
        if self._ctx is None:  # a plan of no writes (only exports): still refuse a MyISAM log
            check_transactional(self.conn, tables_written_by_types(set(), self.checksums, audit=True))
        n = audit_mod.write_audit(self.conn, rows)
        audit_mod.write_openemr_log(
            self.conn,
            rows,
            notes=self.notes,
            with_checksums=self.checksums,
            pids=None if self._ctx is None else self._ctx.pids,
        )
        return n


class OpenEMRTarget:
    """OpenEMR 7 on MariaDB 10.6+ / MySQL 8 (``mysql+pymysql://…``)."""

    name = NAME
    capabilities: frozenset[ActionType] = CAPABILITIES

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str | None, *, create: bool = False) -> OpenEMRTarget:
        """The target for ``--db`` (default $RECONCILER_DB): a MariaDB/MySQL URL."""
        from reconciler.errors import DatabaseError
        from reconciler.targets.native.engine import make_engine, resolve_url, safe_url

        resolved = resolve_url(url)
        if not resolved.startswith(("mysql", "mariadb")):
            raise DatabaseError(
                f"the openemr target needs a MariaDB or MySQL URL (mysql+pymysql://user:password@host/"
                f"openemr), not {safe_url(resolved)}"
            )
        return cls(make_engine(resolved))

    @property
    def backend(self) -> str:
        return f"openemr/{self.engine.dialect.name}"

    def writer_groups(self, actions: Sequence[Action]) -> list[list[Action]]:
        return writer_groups(actions)

    def unsupported_reason(self, kind: ActionType) -> str:
        return UNSUPPORTED.get(kind, "no writer")

    def unsupported_change(self, action: Action) -> tuple[str, str] | None:
        """(field, why) when this target cannot make a change of a supported type: the
        practice timezone only follows OpenEMR's own (:func:`.write.timezone_refusal`)."""
        if action.type is ActionType.PRACTICE_UPDATE and "timezone" in action.changes:
            from .write import timezone_refusal

            with self.engine.connect() as conn:
                why = timezone_refusal(conn, action.changes["timezone"][1])
            if why is not None:
                return "timezone", why
        return None

    # -- schema
    def require_schema(self) -> None:
        from .migrate import require_schema

        require_schema(self.engine)

    def init_schema(self) -> bool:
        from .migrate import init_db

        return init_db(self.engine)

    def upgrade_schema(self) -> str:
        from .migrate import upgrade

        return upgrade(self.engine)[1]

    def seed_snapshot(self, path: Path) -> dict[str, int]:
        """Seed an OpenEMR database holding no practice yet with a SPEC §1 snapshot (the
        demo, the conformance suite, the benchmarks; not ``db load``): see :mod:`.seed`."""
        from .seed import seed_snapshot

        return seed_snapshot(self.engine, path)

    # -- sessions
    @contextmanager
    def reading(self, *, consistent: bool = False) -> Iterator[ReadSession]:
        opts = {"isolation_level": "REPEATABLE READ"} if consistent else {}
        with self.engine.connect().execution_options(**opts) as conn, conn.begin():
            yield ReadSession(conn)

    @contextmanager
    def locked(
        self, *, actor: str, plan_id: str, timeout: float, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[WriteSession]:
        with locked_transaction(self.engine, timeout=timeout, on_wait=on_wait) as conn:
            yield WriteSession(conn)

    # -- the commands around planning
    def read_audit(self, plan_id: str | None = None, *, where: AuditFilter | None = None) -> list[dict[str, Any]]:
        self.require_schema()
        if plan_id is not None:
            where = dataclasses.replace(where or AuditFilter(), plan_id=plan_id)
        return audit_mod.read_audit(self.engine, where)

    def iter_audit_chain(self) -> Iterator[dict[str, Any]]:
        self.require_schema()
        yield from audit_mod.iter_audit_chain(self.engine)

    def read_compliance(self, at: dt.datetime) -> ComplianceFacts:
        self.require_schema()
        with self.engine.connect() as conn:
            return read.read_compliance(conn, at)

    def verify_audit(self) -> tuple[int, str, str | None]:
        return audit_mod.verify_chain(self.engine)

    def read_status(self) -> StatusFacts:
        self.require_schema()
        with self.engine.connect() as conn:
            return StatusFacts(**facts.read_status(conn))

    def read_import(self) -> Imported:
        self.require_schema()
        with self.engine.connect() as conn:
            return Imported(*facts.read_import(conn))

    def read_db_facts(self, client_ids: list[str]) -> DbFacts:
        with self.engine.connect() as conn:
            return DbFacts(*facts.read_db_facts(conn, client_ids))

    def leadership(self) -> Leadership:
        from .lock import ServerLockLeadership

        return ServerLockLeadership(self.engine)

    def error_line(self, exc: BaseException) -> str | None:
        if isinstance(exc, sa_exc.DBAPIError):
            lines = str(exc.orig or exc.__class__.__name__).strip().splitlines()
            return lines[0] if lines else exc.__class__.__name__
        return None

    def dispose(self) -> None:
        self.engine.dispose()
