"""Values a target reads for the commands around planning: exports, import, status,
validation. Rows are plain attribute records (``row.id``); targets fill them."""

from __future__ import annotations

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
