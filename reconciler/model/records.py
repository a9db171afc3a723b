"""Values a target reads for the commands around planning: exports, import, status,
validation. Rows are plain attribute records (``row.id``); targets fill them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from reconciler.model.actual import Client, Practice, Staff


@dataclass(frozen=True)
class ExportData:
    """The rows of one export, read in one ordered pass (names included: PHI)."""

    practitioners: Sequence[Any]
    clients: Sequence[Any]
    appointments: Sequence[Any]


@dataclass(frozen=True)
class Imported:
    """What the importer read: the practice, all staff, the non-default clients and
    the ids of active clients whose primary is missing or inactive."""

    practice: Practice | None
    staff: tuple[Staff, ...]
    clients: tuple[Client, ...]
    orphaned: tuple[str, ...] = ()


@dataclass(frozen=True)
class DbFacts:
    """What validation needs from the database (ids and flags only, no client names)."""

    timezone: str | None
    staff: dict[str, bool]  # staff id -> active
    clients: frozenset[str]  # the config-referenced client ids that exist


@dataclass(frozen=True)
class StatusFacts:
    """The rows behind ``reconciler status`` (ids only, no client names)."""

    practice: Mapping[str, Any]
    staff: Sequence[Mapping[str, Any]]  # active staff: id, role, access, max_caseload, deactivate_on, caseload
    inactive_staff: int
    unassigned: Sequence[str]
    orphaned: Sequence[Mapping[str, Any]]  # id, primary_id
    by_status: Mapping[str, int]
    deleted: Sequence[Mapping[str, Any]]  # id, deleted_at
    last_apply: Mapping[str, Any] | None  # plan_id, at, actor, actions


@dataclass(frozen=True)
class ComplianceFacts:
    """What an inactive professional still holds (SPEC §7.3), ids only, sorted:
    ``(staff id, appointment id)`` of scheduled sessions starting at or after the
    instant asked about, ``(staff id, series id)`` of series still running then, and
    ``(staff id, client id)`` of active clients whose primary they are."""

    future_sessions: Sequence[tuple[str, str]]
    active_series: Sequence[tuple[str, str]]
    active_clients: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class StaffAccess:
    """A staff member's role, access and active flag (who may apply a deletion)."""

    id: str
    role: str
    access: str
    active: bool


@dataclass(frozen=True)
class AuditFilter:
    """``reconciler audit`` filters (SPEC §8.5); None means "any". ``since`` is inclusive,
    ``until`` exclusive (aware UTC instants). ``staff`` matches the professional an event
    is grouped under; ``client`` the client it concerns (a client action's target, or the
    client of a session or series)."""

    plan_id: str | None = None
    staff: str | None = None
    client: str | None = None
    actor: str | None = None
    type: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
