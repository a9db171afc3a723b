"""Property tests over random practices and random desired states (pure).

* the plan is deterministic (also when the inputs' dict order differs);
* every dependency has a smaller id;
* no action touches a past or non-scheduled session, or a session of a professional
  who is staying;
* convergence: planning again against the state the plan produces (applied by a
  small in-memory applier) gives no actions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from typing import Any

from hypothesis import event, given, reject, settings
from hypothesis import strategies as st
from planner_builders import AT, actual, appt, client, desired, practice, series, staff

from reconciler.errors import PlanRefused, ValidationFailed
from reconciler.model.actions import ActionType as T
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState, Client, Staff
from reconciler.model.desired import DesiredState
from reconciler.planner import plan
from reconciler.planner.scope import classify
from reconciler.timeutil import parse_iso_z

STAFF_IDS = ["s0", "s1", "s2", "s3", "s4", "s5"]  # s0 owner, s1 clinical director
TODAY = dt.date(2026, 11, 24)


TIME_FIELDS = {"deleted_at", "until", "deactivated_at"}


def _fields(after: dict[str, Any]) -> dict[str, Any]:
    return {k: parse_iso_z(v) if k in TIME_FIELDS and isinstance(v, str) else v for k, v in after.items()}


def apply_in_memory(a: ActualState, p: Plan) -> ActualState:
    """What the executor would do, on values: the test's model of `apply`."""
    staff_rows = dict(a.staff)
    clients = dict(a.clients)
    appts = dict(a.appointments)
    series_rows = dict(a.series)
    practice_row = a.practice
    assert practice_row is not None
    for x in p.actions:
        after = {k: v[1] for k, v in x.changes.items()}
        if x.type is T.STAFF_CREATE:
            staff_rows[x.target] = Staff(
                id=x.target,
                name=after["name"],
                role=after["role"],
                access=after["access"],
                active=after["active"],
                max_caseload=after.get("max_caseload"),
                deactivate_on=dt.date.fromisoformat(after["deactivate_on"]) if after.get("deactivate_on") else None,
            )
        elif x.type.entity == "staff":
            fields: dict[str, Any] = {}
            for k, v in after.items():
                if k == "deactivate_on":
                    fields[k] = dt.date.fromisoformat(v) if v else None
                elif k in TIME_FIELDS:
                    fields[k] = parse_iso_z(v) if v else None
                else:
                    fields[k] = v
            staff_rows[x.target] = dataclasses.replace(staff_rows[x.target], **fields)
        elif x.type.entity == "appointment":
            appts[x.target] = dataclasses.replace(appts[x.target], **after)
        elif x.type is T.SERIES_SPLIT:
            old = series_rows[x.target]
            series_rows[x.target] = dataclasses.replace(old, until=parse_iso_z(after["until"]))
            new_id = after["successor_series"]
            series_rows[new_id] = dataclasses.replace(
                old, id=new_id, staff=after["successor_staff"], start=parse_iso_z(after["successor_start"])
            )
        elif x.type.entity == "series":
            series_rows[x.target] = dataclasses.replace(series_rows[x.target], **_fields(after))
        elif x.type is T.PRACTICE_UPDATE:
            practice_row = dataclasses.replace(practice_row, **after)
        elif x.type is T.CLIENT_PURGE:
            del clients[x.target]
            appts = {k: v for k, v in appts.items() if v.client != x.target}
        elif x.type.entity == "client":
            clients[x.target] = dataclasses.replace(clients[x.target], **_fields(after))
    return actual(staff_rows.values(), clients.values(), appts.values(), series_rows.values(), practice_row)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[DesiredState, ActualState]:
    rows = [staff("s0", role="owner"), staff("s1", role="clinical_director")]
    for sid in STAFF_IDS[2:]:
        rows.append(
            staff(
                sid,
                active=draw(st.booleans()) or draw(st.booleans()),
                deactivate_on=draw(st.sampled_from([None, None, dt.date(2026, 12, 10)])),
                max_caseload=draw(st.sampled_from([None, None, 3])),
            )
        )
    active_ids = [r.id for r in rows if r.active]
    clients: list[Client] = []
    for i in range(draw(st.integers(0, 8))):
        status = draw(st.sampled_from(["active", "active", "active", "inactive", "deleted"]))
        primary = draw(st.sampled_from(active_ids + [None, "s5"])) if status == "active" else None
        deleted_at = (
            draw(st.sampled_from([AT - dt.timedelta(days=40), AT - dt.timedelta(days=5)]))
            if status == "deleted"
            else None
        )
        clients.append(
            client(
                f"C-{i}",
                primary,
                status=status,
                balance_cents=draw(st.sampled_from([0, 0, 700])),
                deleted_at=deleted_at,
            )
        )
    appts = []
    series_rows = []
    for i in range(draw(st.integers(0, 10))) if clients else []:
        c = draw(st.sampled_from(clients))
        day = draw(st.integers(-10, 30))
        start = (AT + dt.timedelta(days=day, hours=draw(st.sampled_from([-1, 0, 1])))).isoformat()
        appts.append(
            appt(
                f"A-{i}",
                c.id,
                draw(st.sampled_from(STAFF_IDS)),
                start,
                status=draw(st.sampled_from(["scheduled", "scheduled", "cancelled", "completed"])),
            )
        )
    for i in range(draw(st.integers(0, 3))) if clients else []:
        c = draw(st.sampled_from(clients))
        series_rows.append(
            series(
                f"S-{i}",
                c.id,
                draw(st.sampled_from(STAFF_IDS)),
                active=draw(st.booleans()),
                until=draw(st.sampled_from([None, AT + dt.timedelta(days=20), AT - dt.timedelta(days=2)])),
            )
        )
    a = actual(
        rows,
        clients,
        appts,
        series_rows,
        practice(owner="s0", clinical_director="s1", seat_price_cents=draw(st.sampled_from([None, 5000]))),
    )
    specs: list[dict[str, Any]] = [{"id": "s0"}, {"id": "s1"}]
    for sid in STAFF_IDS[2:]:
        if draw(st.integers(0, 9)) == 0:
            continue  # unmanaged
        spec: dict[str, Any] = {"id": sid, "active": draw(st.sampled_from([True, True, False]))}
        spec["deactivate_on"] = draw(
            st.sampled_from([None, None, dt.date(2026, 11, 20), dt.date(2026, 12, 5), dt.date(2026, 12, 20)])
        )
        spec["offboarding"] = draw(st.sampled_from(["standard", "handover"]))
        spec["successor"] = draw(st.sampled_from([None, "s0", "s1", "s1", *[s for s in STAFF_IDS if s != sid]]))
        specs.append(spec)
    specs.append({"id": "s9", "name": "New", "role": "clinician"} if draw(st.booleans()) else {"id": "s1"})
    specs = list({s["id"]: s for s in specs}.values())
    entries = []
    for c in clients:
        options = [None, None, None, "inactive", "active", "deleted", "primary", "dup"]
        choice = draw(st.sampled_from([None, "deleted"] if c.status == "deleted" else options))
        if choice in ("inactive", "deleted"):
            entries.append({"id": c.id, "status": choice})
        elif choice == "active":
            entries.append({"id": c.id, "status": "active", "primary": draw(st.sampled_from(["s0", "s1", *STAFF_IDS]))})
        elif choice == "primary":
            entries.append({"id": c.id, "primary": draw(st.sampled_from(["s0", "s1", *STAFF_IDS]))})
        elif choice == "dup" and len(clients) > 1:
            entries.append({"id": c.id, "duplicate_of": draw(st.sampled_from([x.id for x in clients if x.id != c.id]))})
    d = desired(
        specs,
        entries,
        owner="s0",
        clinical_director="s1",
        unmanaged_staff=draw(st.sampled_from(["ignore", "report", "deactivate"])),
    )
    return d, a


def _plan(d: DesiredState, a: ActualState) -> Plan:
    """The plan of a valid world; an invalid one is rejected (not a case of the property)."""
    try:
        p = plan(d, a, AT, allow_mass_change=True)
    except (ValidationFailed, PlanRefused):
        reject()
    event("valid" if p.actions else "valid-empty")
    return p


def _reversed(a: ActualState) -> ActualState:
    rev = lambda m: dict(reversed(list(m.items())))  # noqa: E731
    return dataclasses.replace(
        a, staff=rev(a.staff), clients=rev(a.clients), appointments=rev(a.appointments), series=rev(a.series)
    )


# PLANNER_EXAMPLES=5000 for a deeper (slower) search; the suite's default stays quick.
PROPS = settings(
    max_examples=int(os.environ.get("PLANNER_EXAMPLES", "300")),
    deadline=None,
)


@PROPS
@given(worlds())
def test_plans_are_deterministic_ordered_and_convergent(world: tuple[DesiredState, ActualState]) -> None:
    d, a = world
    p = _plan(d, a)
    assert p.dumps() == plan(d, _reversed(a), AT, allow_mass_change=True).dumps()
    assert [x.id for x in p.actions] == list(range(1, len(p.actions) + 1))
    assert all(dep < x.id for x in p.actions for dep in x.depends_on)
    roster = classify(d, a.practice, a.staff, AT)
    handled = set(roster.offboard) | set(roster.drift) | set(roster.scheduled)
    for x in p.actions:
        if x.type.entity == "appointment":
            ap = a.appointments[x.target]
            assert ap.status == "scheduled" and ap.start >= AT and ap.staff in handled and x.staff == ap.staff
        if x.type.entity == "series":
            assert a.series[x.target].active or x.target in {y.target for y in p.actions if y.id < x.id}
    again = plan(d, apply_in_memory(a, p), AT, allow_mass_change=True)
    assert again.actions == (), [(y.type.value, y.target, y.reason) for y in again.actions]


SCALARS = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
# Change values may be JSON of any shape (settings are a mapping): nested key order is kept.
VALUES = SCALARS | st.lists(SCALARS, max_size=2) | st.dictionaries(st.text(), SCALARS, max_size=2)
ACTIONS = st.lists(
    st.builds(
        lambda t, target, staff, changes, reason, drift, context: (t, target, staff, changes, reason, drift, context),
        st.sampled_from(list(T)),
        st.text(min_size=1),
        st.none() | st.text(),
        st.dictionaries(st.text(), st.tuples(VALUES, VALUES), max_size=3),
        st.text(),
        st.booleans(),
        st.dictionaries(st.text(), VALUES, max_size=2),
    ),
    max_size=8,
)


# PLAN_FILE_EXAMPLES: scripts/mutation.sh runs fewer (every mutant of model/actions.py runs this).
@settings(max_examples=int(os.environ.get("PLAN_FILE_EXAMPLES", "200")), deadline=None)
@given(ACTIONS, st.lists(st.text(), max_size=3))
def test_the_plan_file_is_the_plan_json_one_action_per_line(raw: list[Any], warnings: list[str]) -> None:
    import json

    from reconciler.model.actions import Action, Plan

    actions = tuple(
        Action(i, t, target, staff, changes, reason, tuple(range(1, i)), drift, context)
        for i, (t, target, staff, changes, reason, drift, context) in enumerate(raw, 1)
    )
    p = Plan(
        as_of="2026-11-24T15:00:00Z",
        db_fingerprint="sha256:x",
        config_digest="sha256:y",
        actions=actions,
        warnings=tuple(warnings),
        generated_at="2026-11-24T15:00:01Z",
    )
    text = p.dumps()
    assert json.loads(text) == {**p.to_json(), "plan_id": p.plan_id}
    lines = text.split("\n")  # (not splitlines: a reason may hold U+0085 or U+2028, written as is)
    action_lines = [line for line in lines if line.startswith('    {"id": ')]
    assert len(action_lines) == len(actions)
    # Byte for byte what the standard library writes: each line, and the id's digest.
    for a, line in zip(actions, action_lines):
        assert line[4:].removesuffix(",") == json.dumps(a.to_json(), ensure_ascii=False)
    body = {k: v for k, v in p.to_json().items() if k != "generated_at"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert p.plan_id == "plan-" + hashlib.sha256(canonical).hexdigest()[:12]
    assert Plan.from_json(json.loads(text)) == p
