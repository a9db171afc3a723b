"""The Target protocol: what the application needs from a system that holds the
practice's records (SPEC §6). ``native`` (targets/native/) is the reconciler's own
schema on SQLite or PostgreSQL; another target (OpenEMR on MariaDB) implements the
same protocol in its own package. Nothing outside ``reconciler/targets/`` imports a
database driver or SQLAlchemy.

A target hands out *sessions*: a read session is one consistent view (one read
transaction); a write session is the locked apply transaction. Driver errors never
leave a target untranslated where the message matters: :meth:`Target.error_line`
turns one into a single PHI-free line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterator, Mapping, Protocol, Sequence

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


@dataclass(frozen=True)
class WriteContext:
    """What every writer may need besides the actions: the plan id (seat events),
    the plan's ``as_of`` instant (aware UTC) and per-staff seat credits in cents."""

    plan_id: str
    as_of: dt.datetime
    seat_credits: Mapping[str, int] = field(default_factory=dict)


class Leadership(Protocol):
    """Who may apply (``watch --auto-apply``). ``try_lead`` is called every cycle; it
    is cheap when already leading."""

    def try_lead(self) -> bool: ...

    def release(self) -> None: ...


class SoleLeadership:
    """No coordination needed (an in-memory database): always the leader."""

    def try_lead(self) -> bool:
        return True

    def release(self) -> None:
        return None


class ReadSession(Protocol):
    """One consistent view of the target."""

    def read_base(self) -> tuple[Practice | None, dict[str, Staff]]:
        """The practice row and every staff member (the planner's base set)."""

    def read_sets(self, scope: ReadScope, practice: Practice | None, staff: dict[str, Staff]) -> ActualState:
        """The rows ``scope`` names (the planner's scoped sets), on top of the base set."""

    def read_scoped(self, scope: ReadScope) -> ActualState:
        """Base + scoped sets in one call: what a saved plan's fingerprint covers."""

    def staff_access(self, staff_id: str) -> StaffAccess | None:
        """Role, access and active flag of one staff member (who may delete a client)."""

    def database_id(self) -> str | None:
        """A random identity of the database (written at ``db init``), or None. A saved
        plan carries it: ``apply`` refuses a plan made against another database."""
        ...

    def read_by_id(
        self,
        appointment_ids: Sequence[str],
        series_ids: Sequence[str],
        client_ids: Sequence[str],
        *,
        at: dt.datetime,
    ) -> tuple[dict[str, Appointment], dict[str, Series], dict[str, Client]]:
        """Rows by id, whatever their state (``revert`` compares them with an applied plan);
        ``at`` is the revert's time (a target that derives a series' ``active`` from its
        sessions reads it as of then)."""

    def export_data(self, ident: str, *, client: bool) -> ExportData:
        """The rows of a professional's (or, with ``client``, one client's) export."""

    def audit_has_plan(self, plan_id: str) -> bool:
        """Whether the audit trail holds an event of ``plan_id`` (it was applied)."""


class WriteSession(ReadSession, Protocol):
    """The locked apply transaction."""

    def write(self, actions: Sequence[Action], ctx: WriteContext) -> int:
        """Apply a run of same-type actions with that type's conditional writer."""

    def audit_head(self) -> str:
        """The stored ``hash`` of the newest audit event (``security.chain.GENESIS`` for
        an empty trail), read in this transaction under the apply lock."""

    def audit(self, rows: list[dict[str, Any]]) -> int:
        """The audit sink: append one event per row in this transaction. Each row is
        already linked by the application (``signer``, ``prev_hash``, ``hash``; ``at``
        is ``security.chain.chain_time`` of the instant, naive UTC): a target stores the
        values exactly as given and never updates or deletes an event (SPEC §7.1)."""


class Target(Protocol):
    """A system holding a practice's records."""

    name: str
    #: The action types this target has a writer for; a plan with others is refused.
    capabilities: frozenset[ActionType]

    @property
    def backend(self) -> str:
        """A short, PHI-free name of where the records are (for logs)."""

    def writer_groups(self, actions: Sequence[Action]) -> list[list[Action]]:
        """The plan's actions, in order, split into the runs one ``write`` call applies."""

    def require_schema(self) -> None:
        """Raise DatabaseError unless the target's schema is present and current."""

    def init_schema(self) -> bool:
        """Create the schema; False when it was already there (nothing to do)."""
        ...

    def upgrade_schema(self) -> str: ...

    def reading(self, *, consistent: bool = False) -> ContextManager[ReadSession]:
        """A read session; ``consistent`` asks for one snapshot across every read."""

    def locked(
        self,
        *,
        actor: str,
        plan_id: str,
        timeout: float,
        on_wait: Callable[[str], None] | None = None,
    ) -> ContextManager[WriteSession]:
        """Take the apply lock (waiting at most ``timeout``), begin the transaction;
        commit when the block ends, roll back on an error. Raises LockHeld."""

    def read_audit(self, plan_id: str | None = None, *, where: AuditFilter | None = None) -> list[dict[str, Any]]:
        """Audit events, oldest first (JSON-ready dicts), filtered in the database by
        ``plan_id`` and ``where`` (SPEC §8.5)."""

    def iter_audit_chain(self) -> Iterator[dict[str, Any]]:
        """Every audit event in id order, streamed (never the whole trail in memory), as
        mappings ``security.chain.ChainEvent.from_mapping`` reads: ``id``, ``at``,
        ``actor``, ``signer``, ``plan_id``, ``action_type``, ``target``, ``before``,
        ``after``, ``prev_hash``, ``hash``."""

    def read_status(self) -> StatusFacts: ...

    def read_compliance(self, at: dt.datetime) -> ComplianceFacts:
        """What inactive staff still hold at ``at`` (aware UTC): ``status --check``."""

    def read_import(self) -> Imported: ...

    def read_db_facts(self, client_ids: list[str]) -> DbFacts: ...

    def leadership(self) -> Leadership: ...

    def error_line(self, exc: BaseException) -> str | None:
        """One PHI-free line for a driver error of this target, None for other errors."""

    def dispose(self) -> None: ...
