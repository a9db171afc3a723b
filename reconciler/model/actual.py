"""The actual state: frozen values read from the practice database.

The planner never sees ORM objects or connections, only these values. Times are
timezone-aware UTC ``datetime`` objects; dates are ``date``.

``ActualState`` holds only the rows a plan needs (see ``reconciler.planner.scope``): all
staff and the practice (small), plus the clients, appointments and series the
desired state touches, plus the sets the invariants and drift detection read.
``fingerprint()`` digests exactly those rows, so a saved plan goes stale when, and
only when, something it read changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from reconciler.timeutil import iso_z


@dataclass(frozen=True)
class Practice:
    name: str
    timezone: str
    owner: str | None = None
    clinical_director: str | None = None
    client_plan_limit: int | None = None
    seat_price_cents: int | None = None
    billing_cycle_day: int = 1


@dataclass(frozen=True)
class Staff:
    id: str
    name: str
    role: str
    access: str
    active: bool = True
    billing_role: str | None = None
    deactivate_on: dt.date | None = None
    deactivated_at: dt.datetime | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    max_caseload: int | None = None


@dataclass(frozen=True)
class Client:
    """A client as the planner sees it. Names are deliberately absent: the planner
    never needs PHI, so it can never leak into a plan."""

    id: str
    status: str = "active"
    primary: str | None = None
    balance_cents: int = 0
    portal_access: bool = False
    duplicate_of: str | None = None
    deleted_at: dt.datetime | None = None


@dataclass(frozen=True)
class Appointment:
    id: str
    client: str
    staff: str
    start: dt.datetime
    end: dt.datetime
    status: str = "scheduled"
    series: str | None = None
    cancel_reason: str | None = None
    telehealth: bool = False


@dataclass(frozen=True)
class Series:
    id: str
    client: str
    staff: str
    rrule: str
    start: dt.datetime
    duration_minutes: int = 50
    until: dt.datetime | None = None
    active: bool = True


_SCALARS = (str, int, float, bool, type(None))
# Exact types taken as they are, checked by one set look-up before anything else:
# a fingerprint digests every field of thousands of rows.
_PLAIN = frozenset(_SCALARS)


def _jsonable(value: Any) -> Any:
    if value.__class__ in _PLAIN or isinstance(value, _SCALARS):
        return value
    if isinstance(value, dt.datetime):
        return iso_z(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def canonical_row(obj: Any) -> dict[str, Any]:
    """A dataclass row as a JSON-ready dict with sorted keys (used by fingerprints)."""
    # Rows are flat dataclasses: reading the fields directly gives what asdict() would,
    # without its deep copies (a plan over thousands of rows digests them all).
    plain = _PLAIN
    out: dict[str, Any] = {}
    for name in _sorted_field_names(type(obj)):
        value = getattr(obj, name)
        out[name] = value if value.__class__ in plain else _jsonable(value)
    return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _sorted_field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(sorted(f.name for f in fields(cls)))
    return names


@dataclass(frozen=True)
class ActualState:
    """What the database says, restricted to what the plan needs.

    ``clients`` / ``appointments`` / ``series`` are keyed by id. ``caseloads`` maps a
    staff id to its number of active primary clients (for max_caseload), for the
    staff the plan may add clients to. ``active_client_total`` and
    ``active_staff_total`` feed the blast-radius guard and the client plan limit;
    they are practice-wide counts and, on purpose, not part of the fingerprint
    (unrelated bookings must not make a saved plan stale).
    """

    practice: Practice | None
    staff: Mapping[str, Staff]
    clients: Mapping[str, Client] = field(default_factory=dict)
    appointments: Mapping[str, Appointment] = field(default_factory=dict)
    series: Mapping[str, Series] = field(default_factory=dict)
    caseloads: Mapping[str, int] = field(default_factory=dict)
    active_client_total: int = 0
    active_staff_total: int = 0

    def fingerprint(self) -> str:
        """sha256 over the rows read, in id order: equal iff the plan's inputs are equal."""
        doc = {
            "practice": canonical_row(self.practice) if self.practice else None,
            "staff": [canonical_row(self.staff[k]) for k in sorted(self.staff)],
            "clients": [canonical_row(self.clients[k]) for k in sorted(self.clients)],
            "appointments": [canonical_row(self.appointments[k]) for k in sorted(self.appointments)],
            "series": [canonical_row(self.series[k]) for k in sorted(self.series)],
            "caseloads": {k: self.caseloads[k] for k in sorted(self.caseloads)},
        }
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        return "sha256:" + hashlib.sha256(raw).hexdigest()
