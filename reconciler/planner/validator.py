"""Static checks of a desired state: references, successors, policies, contradictions. Pure.

No database, no clock: ``today`` (the practice-timezone date of ``--at``/now) and
``known_staff`` (staff ids the database holds, with their active flag) are
arguments. Without ``known_staff`` every referenced professional must be declared
in the config; with it, a professional the database holds (an unmanaged one) will
do for a practice role, a client's primary or a balance target. Successors must
always be declared (SPEC §3.3).

Every problem is located with :meth:`DesiredState.where`, so it names the file,
line and field to fix.
"""

from __future__ import annotations

import datetime as dt
from typing import Mapping

from reconciler.errors import Problem, problem_key
from reconciler.model.desired import ClientStatus, DesiredState, StaffSpec
from reconciler.model.records import DbFacts
from reconciler.planner.policies import ROLE_TARGETS, needs_successor, policy_for
from reconciler.planner.scope import Roster
from reconciler.planner.successors import SuccessorError, resolve
from reconciler.timeutil import local_date, resolve_at, zone

# A deactivation date before this is accepted (it means "now") but warned about.
EARLIEST_PLAUSIBLE_DATE = dt.date(1900, 1, 1)

# First inactive date of a staff member who is inactive now (active: false).
_ALREADY = dt.date.min


class _Checker:
    def __init__(
        self,
        desired: DesiredState,
        today: dt.date | None,
        known_staff: Mapping[str, bool] | None,
        roster: Roster | None = None,
    ) -> None:
        self.d = desired
        self.roster = roster
        self.today = today
        self.known = known_staff or {}
        # Without the database (validate without --db) an undeclared id may still be a
        # staff member the database holds, which plan accepts: a warning, not an error.
        self.config_only = known_staff is None
        self.staff = desired.staff_by_id()
        self.clients = desired.clients_by_id()
        self.problems: list[Problem] = []
        # staff id -> first date on which it is inactive (None: stays; date.min: inactive now)
        self.leaves: dict[str, dt.date | None] = {s.id: _first_inactive(s) for s in desired.staff}

    def error(self, key: str, message: str, code: str) -> None:
        self.problems.append(Problem(self.d.where(key), message, code))

    def warning(self, key: str, message: str, code: str) -> None:
        self.problems.append(Problem(self.d.where(key), message, code, "warning"))

    def ref(self, key: str, sid: str, message: str, code: str = "unknown_staff") -> None:
        """Report ``message`` (which ends with why ``sid`` cannot be referenced) as an
        error; as a warning when ``sid`` is merely undeclared and there is no database
        to ask (SPEC §3.6: validate needs no database; plan knows the database's staff)."""
        if self.config_only and sid not in self.staff:
            self.warning(
                key,
                f"{message}; it must be an active staff member in the database (validate --db and plan check it)",
                code,
            )
        else:
            self.error(key, message, code)

    def place(self, key: str) -> str:
        """``file:line`` of a key, for messages that name a second place."""
        loc = self.d.where(key)
        return f"{loc.file}:{loc.line}" if loc.file and loc.line else key

    # ------------------------------------------------------------------ helpers
    def staff_ref_problem(self, sid: str) -> str | None:
        """Why ``sid`` cannot be referenced as a working professional, or None."""
        if sid in self.staff:
            first_inactive = self.leaves[sid]
            if first_inactive is _ALREADY:
                return f"{sid} is inactive ({self.place(f'staff:{sid}.active')})"
            if first_inactive is not None and self.today is not None and first_inactive <= self.today:
                return (
                    f"{sid} is inactive since {first_inactive.isoformat()} ({self.place(f'staff:{sid}.deactivate_on')})"
                )
            return None
        if sid in self.known:
            return None if self.known[sid] else f"{sid} is inactive in the database"
        return f"{sid!r} is not a declared staff member"

    def unmanaged_leaver(self, sid: str) -> str | None:
        """Why an undeclared ``sid`` the plan itself deactivates (``unmanaged_staff:
        deactivate``) cannot be a client's primary: the next plan would find the primary
        inactive, so the plan would not converge."""
        if sid in self.staff or self.roster is None or self.roster.leaves.get(sid) is None:
            return None
        return f"{sid} is not declared, and practice.unmanaged_staff deactivates {sid}"

    # ------------------------------------------------------------------ practice
    def check_practice(self) -> None:
        p = self.d.practice
        if p.timezone is not None:
            try:
                zone(p.timezone)
            except ValueError:
                self.error(
                    "practice.timezone", f"unknown IANA timezone {p.timezone!r} (e.g. America/New_York)", "timezone"
                )
        if self.d.policy(p.default_policy) is None:
            self.error(
                "practice.default_policy", f"unknown policy {p.default_policy!r}{self.policy_hint()}", "unknown_policy"
            )
        for field, title in (("owner", "owner"), ("clinical_director", "clinical director")):
            sid = getattr(p, field)
            if sid is None:
                continue
            spec = self.staff.get(sid)
            if spec is not None and self.leaves[sid] is not None:
                # Located at the staff entry: that is the line that contradicts the practice.
                key = f"staff:{sid}.active" if not spec.active else f"staff:{sid}.deactivate_on"
                self.error(
                    key,
                    f"{sid} is the practice {title} ({self.place(f'practice.{field}')}); "
                    f"name another {title} before deactivating {sid}",
                    "practice_role",
                )
            elif spec is None:
                why = self.staff_ref_problem(sid)
                if why is not None:
                    self.ref(f"practice.{field}", sid, f"{title} {why}")

    def check_database_roles(self) -> None:
        """Practice roles the plan would take away from someone the config does not
        declare leaving: the database's owner or clinical director, or one the config
        names but does not declare (unmanaged staff being deactivated)."""
        if self.roster is None:
            return
        p = self.d.practice
        for title, sid in self.roster.protected:
            named_here = sid in (p.owner, p.clinical_director)
            if (named_here and sid in self.staff) or self.roster.leaves.get(sid) is None:
                continue  # the config's own roles: check_practice
            spec = self.staff.get(sid)
            key = (
                f"staff:{sid}"
                if spec is None
                else (f"staff:{sid}.active" if not spec.active else f"staff:{sid}.deactivate_on")
            )
            where = "" if named_here else " (in the database)"
            self.error(
                key,
                f"{sid} is the practice {title}{where}; name another {title} before deactivating {sid}",
                "practice_role",
            )

    def policy_hint(self) -> str:
        return " (known: " + ", ".join(p.name for p in self.d.policies) + ")"

    # ------------------------------------------------------------------ staff
    def check_staff(self) -> None:
        reported_cycles: set[frozenset[str]] = set()
        for spec in self.d.staff:
            sid = spec.id
            if spec.deactivate_on is not None and spec.deactivate_on < EARLIEST_PLAUSIBLE_DATE:
                self.warning(
                    f"staff:{sid}.deactivate_on",
                    f"deactivate_on {spec.deactivate_on.isoformat()} is before {EARLIEST_PLAUSIBLE_DATE.year}: "
                    f"a typo? (it deactivates {sid} now)",
                    "implausible_date",
                )
            if spec.offboarding is not None and self.d.policy(spec.offboarding) is None:
                self.error(
                    f"staff:{sid}.offboarding",
                    f"unknown policy {spec.offboarding!r}{self.policy_hint()}",
                    "unknown_policy",
                )
            succ = spec.successor
            if succ is not None:
                if succ == sid:
                    self.error(f"staff:{sid}.successor", f"{sid} names themself as successor", "successor_cycle")
                    continue
                if succ not in self.staff:
                    self.error(
                        f"staff:{sid}.successor",
                        f"successor {succ!r} is not a declared staff member (successors must be declared)",
                        "unknown_staff",
                    )
                    continue
            if self.leaves[sid] is None:
                continue  # not leaving: the successor is not used yet
            policy = policy_for(self.d, spec)
            if succ is None:
                # Staff the database already holds inactive have nothing to hand over unless
                # leftovers (drift) remain; the planner reports those when it meets them.
                drift = sid in self.roster.drift if self.roster is not None else not self.known.get(sid, True)
                if policy is not None and needs_successor(policy) and not drift:
                    key = f"staff:{sid}.offboarding" if spec.offboarding else f"staff:{sid}"
                    self.error(
                        key,
                        f"{sid} leaves with policy {policy.name!r}, which hands work to a successor, "
                        "but names no successor",
                        "missing_successor",
                    )
                continue
            self.check_chain(sid, reported_cycles)

    def check_chain(self, sid: str, reported_cycles: set[frozenset[str]]) -> None:
        """Follow the successor chain of leaver ``sid`` past everyone gone by its date
        (:func:`reconciler.planner.successors.resolve`, the one chain walker)."""
        day = self.leaves[sid]
        assert day is not None
        on = self.today if day is _ALREADY and self.today is not None else day
        successor_of = {k: spec.successor for k, spec in self.staff.items()}
        try:
            resolve(sid, successor_of, self.leaves, on)
        except SuccessorError as exc:
            chain = exc.chain
            if exc.kind == "cycle":
                cur = chain[-1]
                members = frozenset(chain[chain.index(cur) : -1])
                if members not in reported_cycles:
                    reported_cycles.add(members)
                    self.error(
                        f"staff:{sid}.successor",
                        "successor cycle: " + " -> ".join(chain) + " (nobody in it stays)",
                        "successor_cycle",
                    )
            elif exc.kind == "ends":
                cur = chain[-1]
                first_inactive = self.leaves[cur]
                gone = "inactive" if first_inactive is _ALREADY else f"leaving on {first_inactive}"
                self.error(
                    f"staff:{sid}.successor",
                    f"successor chain {' -> '.join(chain)} ends at {cur}, who is {gone} and names no successor",
                    "successor_inactive",
                )
            # "unknown": reported at that entry's successor field

    # ------------------------------------------------------------------ policies
    def check_policies(self) -> None:
        for policy in self.d.policies:
            target = policy.clients_with_balance
            if target in ROLE_TARGETS:
                continue
            why = self.staff_ref_problem(target)
            if why is not None:
                self.ref(
                    f"policy:{policy.name}.clients_with_balance",
                    target,
                    f"clients_with_balance must be owner, clinical_director, successor or an active staff id: {why}",
                )

    # ------------------------------------------------------------------ clients
    def check_clients(self) -> None:
        for c in self.d.clients:
            key = f"client:{c.id}"
            if c.primary is not None:
                if c.status is ClientStatus.DELETED:
                    self.error(
                        f"{key}.primary",
                        f"client {c.id} is to be deleted but names a primary ({c.primary})",
                        "contradiction",
                    )
                elif c.status is ClientStatus.INACTIVE:
                    self.error(
                        f"{key}.primary",
                        f"client {c.id} is to be made inactive but names a primary ({c.primary})",
                        "contradiction",
                    )
                elif c.duplicate_of is not None:
                    self.error(
                        f"{key}.primary",
                        f"client {c.id} is marked a duplicate (made inactive) but names a primary ({c.primary})",
                        "contradiction",
                    )
                else:
                    why = self.staff_ref_problem(c.primary) or self.unmanaged_leaver(c.primary)
                    if why is not None:
                        self.ref(f"{key}.primary", c.primary, f"primary {why}")
            dup = c.duplicate_of
            if dup is None:
                continue
            if dup == c.id:
                self.error(f"{key}.duplicate_of", f"client {c.id} cannot be a duplicate of itself", "duplicate_of")
                continue
            if c.status is not None and c.status is not ClientStatus.INACTIVE:
                self.error(
                    f"{key}.status",
                    f"status {c.status.value} contradicts duplicate_of (a duplicate is made inactive)",
                    "contradiction",
                )
            target = self.clients.get(dup)
            if target is None:
                continue  # may exist in the database only: checked with --db
            if target.duplicate_of is not None:
                self.error(
                    f"{key}.duplicate_of",
                    f"{dup} is itself a duplicate of {target.duplicate_of} ({self.place(f'client:{dup}.duplicate_of')}); "
                    f"point to the record that stays",
                    "duplicate_of",
                )
            elif target.status is ClientStatus.DELETED:
                self.error(
                    f"{key}.duplicate_of",
                    f"{dup} is to be deleted ({self.place(f'client:{dup}.status')}); point to the record that stays",
                    "duplicate_of",
                )


def _first_inactive(spec: StaffSpec) -> dt.date | None:
    if not spec.active:
        return _ALREADY  # active: false wins over any deactivate_on: inactive now
    return spec.deactivate_on


def check_desired(
    desired: DesiredState,
    *,
    today: dt.date | None = None,
    known_staff: Mapping[str, bool] | None = None,
    roster: Roster | None = None,
) -> list[Problem]:
    """All problems of ``desired`` on its own, sorted by place. Pure. The one validator
    of desired state: ``validate``, ``plan`` and ``watch`` report these codes and words.

    ``today``: the practice-timezone date validation is for (None: date-free checks
    only). ``known_staff``: staff ids in the database -> active (None: config only).
    ``roster`` (from the planner's one :func:`classify` of a plan): also the practice
    roles the database names.
    """
    checker = _Checker(desired, today, known_staff, roster)
    checker.check_practice()
    checker.check_database_roles()
    checker.check_staff()
    checker.check_policies()
    checker.check_clients()
    return sorted(checker.problems, key=problem_key)


def db_reference_problems(desired: DesiredState, facts: DbFacts) -> list[Problem]:
    """Client entries that do not exist, ``duplicate_of`` targets found nowhere. Pure."""
    problems: list[Problem] = []
    declared = {c.id for c in desired.clients}
    for c in desired.clients:
        if c.id not in facts.clients:
            problems.append(
                Problem(
                    desired.where(f"client:{c.id}.id"),
                    f"client {c.id} does not exist in the database",
                    "unknown_client",
                )
            )
        dup = c.duplicate_of
        if dup is not None and dup != c.id and dup not in declared and dup not in facts.clients:
            problems.append(
                Problem(
                    desired.where(f"client:{c.id}.duplicate_of"),
                    f"duplicate_of {dup}: no such client in the config or the database",
                    "unknown_client",
                )
            )
    return problems


def validation_day(at_text: str | None, now: dt.datetime, timezone: str | None) -> dt.date | None:
    """The practice-timezone date validation is for: ``--at``, else ``now``.

    None when the practice timezone is not known (no config value, no database) or
    not valid (the validator reports that): date-dependent checks are then skipped
    rather than guessed in UTC. A malformed ``--at`` is always an error.
    """
    if timezone is not None:
        try:
            zone(timezone)
        except ValueError:
            timezone = None
    at = resolve_at(at_text, timezone or "UTC", now)
    return local_date(at, timezone) if timezone is not None else None
