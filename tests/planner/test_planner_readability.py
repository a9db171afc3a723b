"""What a plan says about each session, series and client (pure planner, no database).

Rules under test:
* appointment.* and series.* actions carry ``context`` (client id and times, ids only);
  other actions carry none; ``Plan.extra["timezone"]`` is the practice timezone;
* ``Action.context`` is written to JSON only when non-empty and read back (old plans: empty);
* reasons cite config files relative to the config directory (pure path arithmetic);
* a client whose entry inactivates, deletes or marks it duplicate, and who keeps future
  scheduled sessions or active series after the plan, gets one warning naming them;
* those bookings are never touched by the offboarding of a professional who stays, nor
  before a scheduled leaver's date.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from planner_builders import AT, TZ, appt, series, steps, world, world_desired

from reconciler.model.actions import Action, ActionType, Plan
from reconciler.model.desired import DesiredState
from reconciler.planner import plan as _plan
from reconciler.planner.clients import config_relative

T = ActionType


def plan(d: DesiredState, a: Any, at: Any) -> Plan:
    # A four-client world: one inactivation is 25 %, past the guard; not what these tests are about.
    return _plan(d, a, at, allow_mass_change=True)


def _with_source(d: DesiredState, source: str, file: str, line: int) -> DesiredState:
    from reconciler.errors import Location

    locs = {f"client:{c.id}": Location(file, line, "clients[0]") for c in d.clients}
    return dataclasses.replace(d, **{"source": source, "locations": locs})


# ------------------------------------------------------------ context on actions
@pytest.mark.parametrize(
    "policy, want",
    [
        (
            "standard",
            {
                ("appointment.cancel", "A-1"): {
                    "client": "C-1",
                    "start": "2026-12-01T15:00:00Z",
                    "end": "2026-12-01T15:50:00Z",
                    "telehealth": False,
                },
                ("appointment.cancel", "A-3"): {
                    "client": "C-2",
                    "start": "2026-12-03T15:00:00Z",
                    "end": "2026-12-03T15:50:00Z",
                    "telehealth": False,
                },
                ("series.end", "S-1"): {
                    "client": "C-1",
                    "rrule": "FREQ=WEEKLY;BYDAY=MO",
                    "first_start": "2026-11-02T14:00:00Z",
                },
            },
        ),
        (
            "handover",
            {
                ("appointment.transfer", "A-1"): {
                    "client": "C-1",
                    "start": "2026-12-01T15:00:00Z",
                    "end": "2026-12-01T15:50:00Z",
                    "telehealth": False,
                },
                ("appointment.transfer", "A-3"): {
                    "client": "C-2",
                    "start": "2026-12-03T15:00:00Z",
                    "end": "2026-12-03T15:50:00Z",
                    "telehealth": False,
                },
                ("series.transfer", "S-1"): {
                    "client": "C-1",
                    "rrule": "FREQ=WEEKLY;BYDAY=MO",
                    "first_start": "2026-11-02T14:00:00Z",
                },
            },
        ),
    ],
    ids=["cancel-and-end", "transfer"],
)
def test_session_and_series_actions_say_whose_and_when(
    policy: str, want: dict[tuple[str, str], dict[str, Any]]
) -> None:
    d = world_desired({"bsmith": {"active": False, "offboarding": policy, "successor": "jdoe"}})
    p = plan(d, world(), AT)
    got = {(a.type.value, a.target): dict(a.context) for a in p.actions if a.type.entity in ("appointment", "series")}
    assert got == want
    assert all(not a.context for a in p.actions if a.type.entity not in ("appointment", "series"))


def test_the_plan_carries_the_practice_timezone_for_renderers() -> None:
    assert plan(world_desired(), world(), AT).extra["timezone"] == TZ


@pytest.mark.parametrize(
    "context, in_json",
    [
        ({}, False),
        ({"client": "C-1", "start": "2026-12-01T15:00:00Z", "end": "2026-12-01T15:50:00Z", "telehealth": True}, True),
    ],
    ids=["no-context-no-key", "context-round-trips"],
)
def test_action_context_in_plan_json(context: dict[str, Any], in_json: bool) -> None:
    a = Action(1, T.APPOINTMENT_CANCEL, "A-1", "bsmith", {"status": ("scheduled", "cancelled")}, "r", context=context)
    doc = a.to_json()
    assert ("context" in doc) is in_json
    assert list(doc)[:8] == [
        "id",
        "type",
        "target",
        "staff",
        "changes",
        "reason",
        "depends_on",
        "drift",
    ]  # SPEC §5 keys unchanged
    assert Action.from_json(json.loads(json.dumps(doc))) == a


def test_a_plan_saved_before_context_existed_reads_with_empty_context() -> None:
    doc = {
        "format_version": 1,
        "as_of": "2026-11-24T15:00:00Z",
        "db_fingerprint": "sha256:0",
        "config_digest": "sha256:0",
        "actions": [
            {
                "id": 1,
                "type": "appointment.cancel",
                "target": "A-1",
                "staff": "bsmith",
                "changes": {"status": ["scheduled", "cancelled"]},
                "reason": "r",
                "depends_on": [],
                "drift": False,
            }
        ],
    }
    assert Plan.from_json(doc).actions[0].context == {}


# ------------------------------------------------------------ reasons cite relative paths
@pytest.mark.parametrize(
    "file, source, want",
    [
        ("examples/clients/clients.yaml", "examples/clients", "clients.yaml"),
        ("/srv/checkout/examples/clients/clients.yaml", "/srv/checkout/examples/clients", "clients.yaml"),
        ("/srv/checkout/practice/sub/clients.yaml", "/srv/checkout/practice/", "sub/clients.yaml"),
        ("clients.yaml", ".", "clients.yaml"),
        ("<built-in>/policies/standard.yaml", "examples/clients", "<built-in>/policies/standard.yaml"),
    ],
    ids=["relative-dir", "absolute-dir", "subdirectory-trailing-slash", "current-dir", "outside-the-dir-unchanged"],
)
def test_config_relative(file: str, source: str, want: str) -> None:
    assert config_relative(file, source) == want


@pytest.mark.parametrize(
    "source, file",  # as config.load_config names them: "<directory as given>/<relative path>"
    [
        ("/home/ana/practice", "/home/ana/practice/clients.yaml"),
        ("practice", "practice/clients.yaml"),
        ("../practice", "../practice/sub/clients.yaml"),
    ],
    ids=["absolute", "relative", "parent-relative-subdirectory"],
)
def test_reasons_cite_the_file_relative_to_the_config_dir(source: str, file: str) -> None:
    d = world_desired(clients=[{"id": "C-3", "primary": "cdavis"}])
    d = _with_source(d, source, file, 4)
    reasons = [a.reason for a in plan(d, world(), AT).actions]
    name = file.removeprefix(source + "/")
    assert reasons == [f"explicit clients: entry ({name}:4): client reassigned to cdavis"]


# ------------------------------------------------------------ bookings kept by closing clients
FUTURE_C3 = (appt("A-J2", "C-3", "jdoe", "2026-12-08T16:00:00Z"), appt("A-J3", "C-3", "cdavis", "2026-12-09T16:00:00Z"))
PAST_C3 = appt("A-JP", "C-3", "jdoe", "2026-11-20T16:00:00Z")


@pytest.mark.parametrize(
    "entry, want",
    [
        (
            {"id": "C-3", "status": "inactive"},
            "client C-3 becomes inactive but keeps 3 scheduled sessions and 1 active series (A-J, A-J2, A-J3; S-2): "
            "cancel them or give them an explicit decision",
        ),
        (
            {"id": "C-3", "duplicate_of": "C-4"},
            "client C-3 is marked a duplicate of C-4 but keeps 3 scheduled sessions and 1 active series (A-J, A-J2, A-J3; S-2): "
            "cancel them or give them an explicit decision",
        ),
        (
            {"id": "C-3", "status": "deleted"},
            "client C-3 is deleted but keeps 3 scheduled sessions and 1 active series (A-J, A-J2, A-J3; S-2): "
            "cancel them or give them an explicit decision",
        ),
    ],
    ids=["inactivated", "marked-duplicate", "deleted"],
)
def test_a_closing_client_that_keeps_bookings_is_warned_about(entry: dict[str, Any], want: str) -> None:
    p = plan(world_desired(clients=[entry]), world(extra_appts=(*FUTURE_C3, PAST_C3)), AT)
    assert want in p.warnings
    assert not [s for s in steps(p) if s[0].startswith(("appointment.", "series."))]  # jdoe stays: nothing moved


@pytest.mark.parametrize(
    "entry, appts, series_rows",
    [
        ({"id": "C-3", "primary": "cdavis"}, FUTURE_C3, ()),
        ({"id": "C-4", "status": "inactive"}, (), ()),
        (
            {"id": "C-4", "status": "inactive"},
            (
                appt("A-4", "C-4", "mkhan", "2026-11-20T15:00:00Z"),
                appt("A-5", "C-4", "mkhan", "2026-12-20T15:00:00Z", status="cancelled"),
            ),
            (),
        ),
    ],
    ids=["entry-keeps-the-client-active", "no-bookings", "only-past-or-cancelled-bookings"],
)
def test_no_bookings_warning(entry: dict[str, Any], appts: tuple[Any, ...], series_rows: tuple[Any, ...]) -> None:
    p = plan(world_desired(clients=[entry]), world(extra_appts=appts, extra_series=series_rows), AT)
    assert not [w for w in p.warnings if "keeps" in w]


def test_bookings_the_plan_cancels_are_not_counted_as_kept() -> None:
    # bsmith leaves: C-1's session A-1 is cancelled and S-1 ended; only the session with jdoe stays booked.
    d = world_desired({"bsmith": {"active": False}}, clients=[{"id": "C-1", "status": "inactive"}])
    p = plan(d, world(extra_appts=(appt("A-X", "C-1", "jdoe", "2026-12-10T15:00:00Z"),)), AT)
    assert ("appointment.cancel", "A-1") in steps(p) and ("series.end", "S-1") in steps(p)
    assert (
        "client C-1 becomes inactive but keeps 1 scheduled session (A-X): cancel them or give them an explicit decision"
    ) in p.warnings
    assert ("appointment.cancel", "A-X") not in steps(p)


def test_a_closing_clients_bookings_before_a_scheduled_leavers_date_stay_put() -> None:
    # cdavis leaves on 2026-12-31: only bookings on/after that date move, also for a client the config inactivates.
    before, after = (
        appt("A-B", "C-3", "cdavis", "2026-12-15T15:00:00Z"),
        appt("A-A", "C-3", "cdavis", "2027-01-05T15:00:00Z"),
    )
    d = world_desired(
        {"cdavis": {"deactivate_on": "2026-12-31", "successor": "jdoe", "offboarding": "handover"}},
        clients=[{"id": "C-3", "status": "inactive"}],
    )
    p = plan(d, world(extra_appts=(before, after), extra_series=(series("S-9", "C-3", "cdavis"),)), AT)
    moved = [s for s in steps(p) if s[0].startswith("appointment.")]
    assert moved == [("appointment.transfer", "A-A")]
    assert any(
        w.startswith(
            "client C-3 becomes inactive but keeps 3 scheduled sessions and 3 active series "
            "(A-J, A-B, A-A; S-2, S-9, S-9-20261231)"
        )
        for w in p.warnings
    ), p.warnings
