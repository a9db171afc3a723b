"""Small builders for pure planner tests: DesiredState and ActualState values.

The default world (:func:`world`) is a tiny practice in America/New_York planned at
AT = 2026-11-24T15:00:00Z (10:00 local):

* staff: alee (owner), mkhan (clinical director, max_caseload 60), bsmith, jdoe,
  cdavis (clinicians), tnguyen (inactive clinician);
* clients: C-1 (bsmith, no balance), C-2 (bsmith, balance 500), C-3 (jdoe), C-4 (mkhan);
* bsmith's appointments: A-0 scheduled but past, A-P completed past, A-1 and A-3
  scheduled future (A-1 in series S-1), A-2 cancelled future; A-J is jdoe's future one;
* series: S-1 (bsmith, C-1), S-2 (jdoe, C-3).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Iterable, Mapping

from reconciler.config.loader import load_builtin_policies
from reconciler.errors import Location
from reconciler.model import schema
from reconciler.model.actions import Action, Plan
from reconciler.model.actual import ActualState, Appointment, Client, Practice, Series, Staff
from reconciler.model.desired import ClientSpec, DesiredState, PolicySpec, StaffSpec, written

UTC = dt.timezone.utc
AT = dt.datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TZ = "America/New_York"
BUILTIN_POLICIES = tuple(load_builtin_policies()[0])


def t(text: str) -> dt.datetime:
    """An aware UTC time from ISO text (``Z`` or offset)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def practice(**kw: Any) -> Practice:
    base: dict[str, Any] = dict(name="Test Practice", timezone=TZ, owner="alee", clinical_director="mkhan")
    base.update(kw)
    return Practice(**base)


def staff(id: str, **kw: Any) -> Staff:
    base: dict[str, Any] = dict(name=id.title(), role="clinician", access="assigned_clients")
    base.update(kw)
    return Staff(id=id, **base)


def client(id: str, primary: str | None, **kw: Any) -> Client:
    return Client(id=id, primary=primary, **kw)


def appt(
    id: str, client: str, staff: str, start: str, status: str = "scheduled", series: str | None = None
) -> Appointment:
    s = t(start)
    return Appointment(
        id=id, client=client, staff=staff, start=s, end=s + dt.timedelta(minutes=50), status=status, series=series
    )


def series(id: str, client: str, staff: str, start: str = "2026-11-02T14:00:00Z", **kw: Any) -> Series:
    return Series(id=id, client=client, staff=staff, rrule="FREQ=WEEKLY;BYDAY=MO", start=t(start), **kw)


def actual(
    staff_rows: Iterable[Staff],
    clients: Iterable[Client] = (),
    appointments: Iterable[Appointment] = (),
    series_rows: Iterable[Series] = (),
    practice_row: Practice | None = None,
) -> ActualState:
    """An ActualState holding everything, with caseloads and totals computed as the DB would."""
    st = {s.id: s for s in staff_rows}
    cl = {c.id: c for c in clients}
    caseloads = {sid: sum(1 for c in cl.values() if c.status == "active" and c.primary == sid) for sid in st}
    return ActualState(
        practice=practice_row or practice(),
        staff=dict(sorted(st.items())),
        clients=dict(sorted(cl.items())),
        appointments={a.id: a for a in sorted(appointments, key=lambda a: a.id)},
        series={s.id: s for s in sorted(series_rows, key=lambda s: s.id)},
        caseloads=caseloads,
        active_client_total=sum(1 for c in cl.values() if c.status == "active"),
        active_staff_total=sum(1 for s in st.values() if s.active),
    )


def desired(
    staff_specs: Iterable[StaffSpec | Mapping[str, Any]] = (),
    clients: Iterable[ClientSpec | Mapping[str, Any]] = (),
    policies: Iterable[PolicySpec | Mapping[str, Any]] = (),
    **practice_kw: Any,
) -> DesiredState:
    """A DesiredState; built-in policies are added unless a policy of the same name is given."""
    pkw: dict[str, Any] = dict(timezone=TZ, owner="alee", clinical_director="mkhan")
    pkw.update(practice_kw)
    # Mappings go through the config schema, as a file's entries do (strings become dates...).
    own = [p if isinstance(p, PolicySpec) else schema.to_policy(schema.PolicySpec(**p)) for p in policies]
    names = {p.name for p in own}
    pols = sorted(own + [p for p in BUILTIN_POLICIES if p.name not in names], key=lambda p: p.name)
    return DesiredState(
        practice=schema.to_practice(schema.PracticeSpec(**pkw)),
        staff=tuple(s if isinstance(s, StaffSpec) else schema.to_staff(schema.StaffSpec(**s)) for s in staff_specs),
        clients=tuple(c if isinstance(c, ClientSpec) else schema.to_client(schema.ClientSpec(**c)) for c in clients),
        policies=tuple(pols),
    )


WORLD_STAFF = (
    staff("alee", role="owner", access="entire_practice"),
    staff("mkhan", role="clinical_director", access="entire_practice", max_caseload=60),
    staff("bsmith"),
    staff("jdoe"),
    staff("cdavis"),
    staff("tnguyen", active=False, deactivated_at=t("2026-01-05T17:00:00Z")),
)
WORLD_CLIENTS = (
    client("C-1", "bsmith"),
    client("C-2", "bsmith", balance_cents=500),
    client("C-3", "jdoe"),
    client("C-4", "mkhan"),
)
WORLD_APPTS = (
    appt("A-0", "C-1", "bsmith", "2026-11-20T15:00:00Z"),
    appt("A-P", "C-1", "bsmith", "2026-11-17T15:00:00Z", status="completed"),
    appt("A-1", "C-1", "bsmith", "2026-12-01T15:00:00Z", series="S-1"),
    appt("A-2", "C-2", "bsmith", "2026-12-02T15:00:00Z", status="cancelled"),
    appt("A-3", "C-2", "bsmith", "2026-12-03T15:00:00Z"),
    appt("A-J", "C-3", "jdoe", "2026-12-01T16:00:00Z"),
)
WORLD_SERIES = (series("S-1", "C-1", "bsmith"), series("S-2", "C-3", "jdoe"))


def world(
    *,
    extra_staff: Iterable[Staff] = (),
    extra_clients: Iterable[Client] = (),
    extra_appts: Iterable[Appointment] = (),
    extra_series: Iterable[Series] = (),
    practice_row: Practice | None = None,
    replace: Mapping[str, Staff] = {},
) -> ActualState:
    """The default actual state, optionally extended (``replace`` swaps staff rows by id)."""
    rows = [replace.get(s.id, s) for s in WORLD_STAFF] + list(extra_staff)
    return actual(
        rows,
        [*WORLD_CLIENTS, *extra_clients],
        [*WORLD_APPTS, *extra_appts],
        [*WORLD_SERIES, *extra_series],
        practice_row,
    )


def world_desired(
    overrides: Mapping[str, Mapping[str, Any]] = {},
    *,
    clients: Iterable[Mapping[str, Any]] = (),
    policies: Iterable[Mapping[str, Any]] = (),
    extra_staff: Iterable[Mapping[str, Any]] = (),
    omit: Iterable[str] = (),
    **practice_kw: Any,
) -> DesiredState:
    """The config that matches :func:`world` (every staff declared), with per-staff field overrides."""
    specs = []
    for s in WORLD_STAFF:
        if s.id in omit:
            continue
        d: dict[str, Any] = {"id": s.id, "name": s.name, "role": s.role, "active": s.active}
        d.update(overrides.get(s.id, {}))
        specs.append(d)
    specs.extend(dict(s) for s in extra_staff)
    return desired(specs, clients, policies, **practice_kw)


def steps(plan: Plan) -> list[tuple[str, str]]:
    """(type, target) per action, in order: the shape most assertions need."""
    return [(a.type.value, a.target) for a in plan.actions]


def by_target(plan: Plan, target: str) -> list[Action]:
    return [a for a in plan.actions if a.target == target]


def one(plan: Plan, type_: str, target: str) -> Action:
    found = [a for a in plan.actions if a.type.value == type_ and a.target == target]
    assert len(found) == 1, f"expected one {type_} {target}, got {steps(plan)}"
    return found[0]


__all__ = [n for n in dir() if not n.startswith("_")] + ["dataclasses"]


def _set_fields(spec: Any) -> set[str]:
    """The fields a spec sets, as the file would write them: every one holding a value
    (not None, not an empty list; the world's staff always write ``active``)."""
    return {name for name, value in written(spec).items() if value != []}


def located(d: DesiredState) -> DesiredState:
    """``d`` with a location for every staff and client entry and every field it sets, as the
    loader records them: ``staff.yaml`` line 10·i (+ 1, 2, … per field in name order) for the
    i-th staff entry (from 1), likewise ``clients.yaml`` — so tests can tell which field a
    problem points at."""
    locations: dict[str, Location] = {}
    for kind, file, specs in (
        ("staff", "staff.yaml", d.staff),
        ("client", "clients.yaml", d.clients),
    ):
        path = "staff" if kind == "staff" else "clients"
        for i, spec in enumerate(specs):
            base = 10 * (i + 1)
            locations[f"{kind}:{spec.id}"] = Location(file=file, line=base, field=f"{path}[{i}]")
            for j, name in enumerate(sorted(_set_fields(spec)), 1):
                locations[f"{kind}:{spec.id}.{name}"] = Location(file=file, line=base + j, field=f"{path}[{i}].{name}")
    return dataclasses.replace(d, **{"locations": {**d.locations, **locations}})
