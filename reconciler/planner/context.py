"""The mutable working state of one planning run (private to the planner).

Actions are appended in execution order and numbered 1..n as they are added, so a
dependency always has a smaller id. ``clients`` and ``series`` are projections:
the database rows as they will be after the actions added so far, which later
rules (and the invariants) read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from reconciler.errors import Location, ProblemList
from reconciler.model.actions import Action, ActionType
from reconciler.model.actual import ActualState, Appointment, Client, Series
from reconciler.model.desired import DesiredState
from reconciler.planner.scope import Roster
from reconciler.planner.successors import SuccessorError, active_on, resolve
from reconciler.timeutil import iso_z

_SHOW_CHANGED_ONLY = frozenset(t for t in ActionType if t.entity == "client" and t is not ActionType.CLIENT_PURGE)


@dataclass
class Ctx:
    desired: DesiredState
    actual: ActualState
    roster: Roster
    actions: list[Action] = field(default_factory=list)
    problems: ProblemList = field(default_factory=ProblemList)
    warnings: set[str] = field(default_factory=set)
    clients: dict[str, Client] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    handled_clients: set[str] = field(default_factory=set)
    series_deps: dict[str, int] = field(default_factory=dict)  # series id -> last action on it
    appointments_of: dict[str, list[Appointment]] = field(default_factory=dict)  # by staff, by (start, id)
    clients_of: dict[str, list[str]] = field(default_factory=dict)  # primary -> client ids (as read)
    # takes_over's answers: a leaver's thousands of sessions fall on a few dozen days.
    successor_memo: dict[tuple[str, dt.date, bool], str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clients = dict(self.actual.clients)
        self.series = dict(self.actual.series)
        # Indexes, built once: rules look sessions and clients up per professional.
        # Only professionals the offboarding rules walk are indexed: the state also holds
        # bookings read for other reasons (clients the config inactivates), and those must
        # never be picked up as a staying professional's "future sessions".
        walked = set(self.roster.offboard) | set(self.roster.drift) | set(self.roster.scheduled)
        for a in sorted(self.actual.appointments.values(), key=lambda a: (a.start, a.id)):
            if a.staff in walked:
                self.appointments_of.setdefault(a.staff, []).append(a)
        for cid in sorted(self.actual.clients):
            primary = self.actual.clients[cid].primary
            if primary is not None:
                self.clients_of.setdefault(primary, []).append(cid)

    # ------------------------------------------------------------ facts
    @property
    def at(self) -> dt.datetime:
        return self.roster.at

    @property
    def as_of(self) -> str:
        return iso_z(self.roster.at)

    @property
    def stamp(self) -> str:
        """``20261124T150000Z``: export file names carry the plan time (never reused)."""
        return self.roster.at.strftime("%Y%m%dT%H%M%SZ")

    def where_staff(self, sid: str, fld: str | None = None) -> Location:
        loc = self.desired.where(f"staff:{sid}.{fld}" if fld else f"staff:{sid}")
        # Unlocated: name the professional (the fallback entity is cut at the id's first dot).
        return loc if loc.file else dataclasses.replace(loc, entity=f"staff {sid}")

    def where_client(self, cid: str, fld: str | None = None) -> Location:
        key = f"client:{cid}.{fld}" if fld else f"client:{cid}"
        loc = self.desired.where(key)
        return dataclasses.replace(loc, entity=f"client {cid}")

    def error(self, loc: Location, message: str, code: str) -> None:
        """Record a located problem once (the same fact may be met by several rules)."""
        for p in self.problems.problems:
            if p.location == loc and p.message == message:
                return
        self.problems.add(loc, message, code)

    def warn(self, message: str) -> None:
        self.warnings.add(message)

    # ------------------------------------------------------------ successors
    def takes_over(self, sid: str, day: dt.date, *, open_ended: bool = False) -> str | None:
        """The successor of ``sid`` on ``day`` (see :func:`reconciler.planner.successors.resolve`);
        None after recording a located problem."""
        # Memoised: resolve() is a function of the roster, which planning does not change,
        # and error() records a problem once, so a repeated question adds nothing.
        key = (sid, day, open_ended)
        if key in self.successor_memo:
            return self.successor_memo[key]
        try:
            to: str | None = resolve(
                sid, self.roster.successor_of, self.roster.leaves, day, prefer_permanent=open_ended
            )
        except SuccessorError as exc:
            self.error(self.where_staff(sid, "successor"), f"staff {sid}: {exc}", "successor")
            to = None
        self.successor_memo[key] = to
        return to

    def effective(self, sid: str, day: dt.date, origin: str) -> str | None:
        """``sid`` if active on ``day``, else its successor chain's answer."""
        if active_on(self.roster.leaves, sid, day):
            return sid
        if sid not in self.roster.leaves:
            self.error(
                self.where_staff(origin, "offboarding"),
                f"staff {origin}: {sid} is not a known professional",
                "reference",
            )
            return None
        if self.roster.successor_of.get(sid) is None:
            self.error(
                self.where_staff(origin, "offboarding"),
                f"staff {origin}: {sid} is not active on {day.isoformat()} and names no successor",
                "successor",
            )
            return None
        return self.takes_over(sid, day)

    # ------------------------------------------------------------ actions
    def add(
        self,
        type_: ActionType,
        target: str,
        staff: str | None,
        changes: dict[str, tuple[Any, Any]],
        reason: str,
        depends_on: Iterable[int] = (),
        drift: bool = False,
        context: Mapping[str, Any] | None = None,
    ) -> int:
        """Append an action; returns its id. ``context`` describes the target (ids only)."""
        aid = len(self.actions) + 1
        deps = tuple(sorted(set(depends_on)))
        if type_ in _SHOW_CHANGED_ONLY:
            # Show only what changes (e.g. no portal_access [false, false]); the status always does.
            changes = {k: v for k, v in changes.items() if v[0] != v[1]}
        assert all(d < aid for d in deps), "a dependency must come first"
        self.actions.append(Action(aid, type_, target, staff, changes, reason, deps, drift, dict(context or {})))
        return aid

    def update_client(self, cid: str, **fields: Any) -> None:
        self.clients[cid] = dataclasses.replace(self.clients[cid], **fields)

    def update_series(self, sid: str, action_id: int, **fields: Any) -> None:
        self.series[sid] = dataclasses.replace(self.series[sid], **fields)
        self.series_deps[sid] = action_id


def session_context(a: Appointment) -> dict[str, Any]:
    """What an appointment action's reader needs to recognise the session (ids only)."""
    return {"client": a.client, "start": iso_z(a.start), "end": iso_z(a.end), "telehealth": a.telehealth}


def series_context(s: Series) -> dict[str, Any]:
    """What a series action's reader needs to recognise the series (ids only)."""
    return {"client": s.client, "rrule": s.rrule, "first_start": iso_z(s.start)}
