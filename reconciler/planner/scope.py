"""Who is leaving, who stays, and which rows a plan needs (the read scope). Pure.

:func:`classify` turns the desired state, the practice row and the (small) staff
table into a :class:`Roster`: the facts every planning rule keys on. The planner
and :func:`read_scope` both use it, so the rows read are exactly the rows planned
from. :class:`ReadScope` is JSON-serialisable and travels inside the saved plan so
that ``apply`` re-reads exactly those rows and recomputes the fingerprint.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

from reconciler.model.actual import Practice, Staff
from reconciler.model.desired import (
    ClientStatus,
    DesiredState,
    StaffSpec,
    UnmanagedStaff,
)
from reconciler.planner.policies import balance_target_kind, policy_for
from reconciler.timeutil import iso_z, local_date, parse_iso_z, start_of_day

#: A deleted client is purged when deleted more than this long ago (SPEC §3.5).
PURGE_AFTER = dt.timedelta(days=30)
SCOPE_VERSION = 1


def practice_timezone(desired: DesiredState, practice: Practice | None) -> str:
    """The config's timezone, else the database's, else UTC."""
    if desired.practice.timezone:
        return desired.practice.timezone
    if practice is not None and practice.timezone:
        return practice.timezone
    return "UTC"


@dataclass(frozen=True)
class Roster:
    """The staff facts of one planning run (see :func:`classify`)."""

    at: dt.datetime
    tz: str
    today: dt.date
    declared: Mapping[str, StaffSpec]
    db: Mapping[str, Staff]
    leaves: Mapping[str, dt.date | None]  # first inactive date per known staff (None: stays)
    successor_of: Mapping[str, str | None]
    owner: str | None
    clinical_director: str | None
    offboard: tuple[str, ...]  # active in the DB, to be deactivated now
    drift: tuple[str, ...]  # inactive in the DB and staying so: their leftovers are drift
    scheduled: Mapping[str, dt.date]  # active, leaving on a future date
    reactivate: tuple[str, ...]
    create: tuple[str, ...]
    unmanaged: tuple[str, ...]
    #: (role, staff id) the practice names after the plan's ``practice.update`` (the config's
    #: value where it gives one, else the database's): neither may be deactivated.
    protected: tuple[tuple[str, str], ...] = ()

    def active_today(self, staff_id: str) -> bool:
        """Known and active on the planning date (after the plan)."""
        if staff_id not in self.leaves:
            return False
        first_inactive = self.leaves[staff_id]
        return first_inactive is None or first_inactive > self.today

    def spec(self, staff_id: str) -> StaffSpec | None:
        return self.declared.get(staff_id)


def classify(desired: DesiredState, practice: Practice | None, staff: Mapping[str, Staff], at: dt.datetime) -> Roster:
    """Classify every known professional for a plan as of ``at``. Pure."""
    tz = practice_timezone(desired, practice)
    today = local_date(at, tz)
    declared = desired.staff_by_id()
    unmanaged_mode = desired.practice.unmanaged_staff
    leaves: dict[str, dt.date | None] = {}
    offboard: list[str] = []
    drift: list[str] = []
    scheduled: dict[str, dt.date] = {}
    reactivate: list[str] = []
    for sid in sorted(set(declared) | set(staff)):
        spec = declared.get(sid)
        row = staff.get(sid)
        if spec is not None:
            # active: false leaves today; else the declared date (None: stays; a past date: gone since then).
            first_inactive: dt.date | None = today if not spec.active else spec.deactivate_on
        elif row is not None and (not row.active or unmanaged_mode is UnmanagedStaff.DEACTIVATE):
            first_inactive = today
        else:
            first_inactive = None
        leaves[sid] = first_inactive
        leaving_now = first_inactive is not None and first_inactive <= today
        if row is None:
            continue
        if row.active and leaving_now:
            offboard.append(sid)
        elif not row.active and leaving_now:
            drift.append(sid)
        elif not row.active:
            reactivate.append(sid)
        if not leaving_now and first_inactive is not None:
            scheduled[sid] = first_inactive
    owner = desired.practice.owner or (practice.owner if practice else None)
    director = desired.practice.clinical_director or (practice.clinical_director if practice else None)
    return Roster(
        at=at,
        tz=tz,
        today=today,
        declared=declared,
        db=dict(staff),
        leaves=leaves,
        successor_of={sid: s.successor for sid, s in sorted(declared.items())},
        owner=owner,
        clinical_director=director,
        offboard=tuple(offboard),
        drift=tuple(drift),
        scheduled=scheduled,
        reactivate=tuple(reactivate),
        create=tuple(sorted(set(declared) - set(staff))),
        unmanaged=tuple(sorted(set(staff) - set(declared))),
        # The roles as they are after the plan's practice.update (SPEC §8.1): the config's
        # owner and clinical director where it names them, else the database's.
        protected=tuple(
            sorted((role, sid) for role, sid in (("owner", owner), ("clinical director", director)) if sid)
        ),
    )


@dataclass(frozen=True)
class ReadScope:
    """Which rows a plan reads (and its fingerprint covers).

    * ``now_staff``: their ``scheduled`` appointments starting at/after ``at``, their
      active series, and the active clients whose primary they are (staff leaving now,
      and inactive staff whose leftovers are drift);
    * ``scheduled_staff``: (id, deactivation instant): their scheduled appointments
      at/after the instant and their active series;
    * ``client_ids``: clients named in the config and their ``duplicate_of`` targets;
    * ``caseload_staff``: active-client counts for staff that may receive clients and
      have a max_caseload;
    * ``closing_clients``: clients whose ``clients:`` entry inactivates, deletes or marks
      them duplicate: their ``scheduled`` appointments at/after ``at`` and their active
      series (whatever the professional), so the plan can say which bookings they keep;
    * always: active clients without a primary, and clients deleted before
      ``purge_before``. Practice and staff rows are always read in full (small).
    """

    at: dt.datetime
    now_staff: tuple[str, ...] = ()
    scheduled_staff: tuple[tuple[str, dt.datetime], ...] = ()
    client_ids: tuple[str, ...] = ()
    caseload_staff: tuple[str, ...] = ()
    purge_before: dt.datetime | None = None
    closing_clients: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping (stored as ``Plan.scope``)."""
        return {
            "version": SCOPE_VERSION,
            "at": iso_z(self.at),
            "now_staff": list(self.now_staff),
            "scheduled_staff": [[s, iso_z(t)] for s, t in self.scheduled_staff],
            "client_ids": list(self.client_ids),
            "caseload_staff": list(self.caseload_staff),
            "purge_before": iso_z(self.purge_before) if self.purge_before else None,
            "closing_clients": list(self.closing_clients),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ReadScope":
        """Inverse of :meth:`to_json`; ValueError on a damaged scope."""
        try:
            if doc.get("version") != SCOPE_VERSION:
                raise ValueError(f"unsupported scope version {doc.get('version')!r}")
            pb = doc.get("purge_before")
            return cls(
                at=parse_iso_z(str(doc["at"])),
                now_staff=tuple(str(s) for s in doc.get("now_staff", [])),
                scheduled_staff=tuple((str(s), parse_iso_z(str(t))) for s, t in doc.get("scheduled_staff", [])),
                client_ids=tuple(str(c) for c in doc.get("client_ids", [])),
                caseload_staff=tuple(str(s) for s in doc.get("caseload_staff", [])),
                purge_before=parse_iso_z(str(pb)) if pb else None,
                # Absent from plans saved before the field existed: they read no such set.
                closing_clients=tuple(str(c) for c in doc.get("closing_clients", [])),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"damaged read scope: {exc}") from exc


def _chain(roster: Roster, start: str | None) -> list[str]:
    """``start`` and every successor after it (bounded: cycles stop the walk)."""
    out: list[str] = []
    cur = start
    while cur is not None and cur not in out:
        out.append(cur)
        cur = roster.successor_of.get(cur)
    return out


def possible_receivers(desired: DesiredState, roster: Roster) -> set[str]:
    """Every professional the plan could hand clients to (a superset is fine)."""
    receivers: set[str] = set()
    for sid in roster.offboard + roster.drift:
        receivers.update(_chain(roster, roster.successor_of.get(sid)))
        policy = policy_for(desired, roster.spec(sid))
        if policy is not None and balance_target_kind(policy) == "staff":
            receivers.update(_chain(roster, policy.clients_with_balance))
    for c in desired.clients:
        if c.primary:
            receivers.add(c.primary)
    for named in (roster.owner, roster.clinical_director):
        if named:
            receivers.add(named)
    return receivers


def max_caseload(roster: Roster, staff_id: str) -> int | None:
    """The declared max_caseload, else the database's."""
    spec = roster.declared.get(staff_id)
    if spec is not None and spec.max_caseload is not None:
        return spec.max_caseload
    row = roster.db.get(staff_id)
    return row.max_caseload if row is not None else None


def closing_clients(desired: DesiredState) -> tuple[str, ...]:
    """Client ids whose entry inactivates, deletes or marks them duplicate, sorted."""
    return tuple(
        sorted(
            c.id
            for c in desired.clients
            if c.duplicate_of is not None or c.status in (ClientStatus.INACTIVE, ClientStatus.DELETED)
        )
    )


def scope_from_roster(desired: DesiredState, roster: Roster) -> ReadScope:
    """The read scope for an already classified roster."""
    client_ids = {c.id for c in desired.clients} | {c.duplicate_of for c in desired.clients if c.duplicate_of}
    caseload = sorted(
        s for s in possible_receivers(desired, roster) if s in roster.db and max_caseload(roster, s) is not None
    )
    return ReadScope(
        at=roster.at,
        now_staff=tuple(sorted(set(roster.offboard) | set(roster.drift))),
        scheduled_staff=tuple((sid, start_of_day(day, roster.tz)) for sid, day in sorted(roster.scheduled.items())),
        client_ids=tuple(sorted(client_ids)),
        caseload_staff=tuple(caseload),
        purge_before=roster.at - PURGE_AFTER,
        closing_clients=closing_clients(desired),
    )


def read_scope(
    desired: DesiredState, practice: Practice | None, staff: Mapping[str, Staff], at: dt.datetime
) -> ReadScope:
    """Which rows the plan for ``desired`` as of ``at`` needs. Pure."""
    return scope_from_roster(desired, classify(desired, practice, staff, at))
