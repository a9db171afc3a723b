"""Adversarial review of SPEC §3: scenario tests, each named after the rule it checks.

Pure scenarios use the planner builders; the database ones drive the CLI
(``db load`` → ``plan`` → ``apply`` → ``plan`` again is empty) through ``db_url`` so
they run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from dbhelpers import fresh_db
from planner_builders import AT, appt, client, one, staff, steps, t, world, world_desired
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.cli import main
from reconciler.model.desired import DesiredState
from reconciler.errors import PlanRefused, ValidationFailed
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None, **kw: Any) -> Plan:
    return plan(d, a if a is not None else world(), AT, allow_mass_change=kw.pop("allow_mass_change", True), **kw)


def failure(d: DesiredState, a: ActualState | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        P(d, a)
    return exc.value


# ----------------------------------------------------------------- pure scenarios

CHAIN: dict[str, dict[str, Any]] = {"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"},
         "jdoe": {"deactivate_on": "2026-12-10", "successor": "cdavis", "offboarding": "handover"}}
CHAIN_APPTS = [appt("A-B1", "C-1", "bsmith", "2026-12-05T15:00:00Z"), appt("A-B2", "C-1", "bsmith", "2026-12-22T15:00:00Z")]


@pytest.mark.parametrize("session,receiver", [("A-B1", "jdoe"), ("A-B2", "cdavis")],
                         ids=["session before the successor leaves goes to the successor",
                              "session after the successor leaves goes to the final active successor"])
def test_successor_chain_resolves_per_session_date(session: str, receiver: str) -> None:
    p = P(world_desired(CHAIN), world(extra_appts=CHAIN_APPTS))
    assert one(p, "appointment.transfer", session).changes["staff"] == ("bsmith", receiver)


CHAIN_CLIENTS = [
    ("client without balance goes to the final active successor (other_clients: transfer)", client("C-1", "bsmith")),
    ("client with balance goes to the final active successor (clients_with_balance: successor)",
     client("C-1", "bsmith", balance_cents=100)),
]


@pytest.mark.parametrize("row", [c[1] for c in CHAIN_CLIENTS], ids=[c[0] for c in CHAIN_CLIENTS])
def test_successor_chain_hands_clients_to_the_successor_who_stays(row: Any) -> None:
    """A -> B -> C, B leaving later: the client (open-ended, like its series) goes to C,
    not to B for a few days and then on again."""
    policy = {"name": "handover", "future_sessions": "transfer", "clients_with_balance": "successor",
              "other_clients": "transfer", "export": "none"}
    p = P(world_desired(CHAIN, policies=[policy]), world(extra_clients=[row]))  # replaces the default C-1
    assert one(p, "client.reassign", "C-1").changes["primary"] == ("bsmith", "cdavis")


def test_withdrawn_deactivation_date_warns_that_nothing_is_restored() -> None:
    a = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 10))})
    p = P(world_desired(), a)
    assert steps(p) == [("staff.schedule_deactivation", "bsmith")]
    assert any("2026-12-10 withdrawn" in w and "not restored" in w for w in p.warnings)


def test_deactivation_date_moved_later_warns_that_nothing_is_restored() -> None:
    a = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 10))})
    p = P(world_desired({"bsmith": {"deactivate_on": "2026-12-20"}}), a)
    assert one(p, "staff.schedule_deactivation", "bsmith").changes["deactivate_on"] == ("2026-12-10", "2026-12-20")
    assert any("moved from 2026-12-10 to 2026-12-20" in w for w in p.warnings)


def test_successor_leaving_earlier_without_successor_is_an_error() -> None:
    err = failure(world_desired({"bsmith": {"deactivate_on": "2026-12-20", "successor": "jdoe", "offboarding": "handover"},
                                 "jdoe": {"deactivate_on": "2026-12-10"}}))
    assert "bsmith -> jdoe" in str(err) and "not active on 2026-12-20" in str(err)


DRIFT_HANDOVER = [
    ("session booked with an inactive professional under handover moves to the successor",
     dict(extra_appts=[appt("A-T", "C-3", "tnguyen", "2026-12-01T15:00:00Z")]), ("appointment.transfer", "A-T")),
    ("client reassigned in the database to an inactive professional under handover goes to the successor",
     dict(extra_clients=[client("C-T", "tnguyen")]), ("client.reassign", "C-T")),
]


@pytest.mark.parametrize("extra,expected", [c[1:] for c in DRIFT_HANDOVER], ids=[c[0] for c in DRIFT_HANDOVER])
def test_drift_follows_the_policy_of_the_inactive_professional(extra: dict[str, Any], expected: tuple[str, str]) -> None:
    d = world_desired({"tnguyen": {"offboarding": "handover", "successor": "jdoe"}})
    p = P(d, world(**extra))
    assert steps(p) == [expected]
    a = p.actions[0]
    assert a.drift and (a.changes.get("staff") or a.changes.get("primary")) == ("tnguyen", "jdoe")


EXPLICIT = [
    ("status inactive wins over other_clients", {"id": "C-1", "status": "inactive"}, ("client.inactivate", "C-1"), None),
    ("primary wins over clients_with_balance", {"id": "C-2", "primary": "cdavis"}, ("client.reassign", "C-2"), ("bsmith", "cdavis")),
    ("status inactive wins over clients_with_balance", {"id": "C-2", "status": "inactive"}, ("client.inactivate", "C-2"), None),
    ("status active without primary keeps the balance rule", {"id": "C-2", "status": "active"}, ("client.reassign", "C-2"),
     ("bsmith", "mkhan")),
]


@pytest.mark.parametrize("entry,expected,primary", [c[1:] for c in EXPLICIT], ids=[c[0] for c in EXPLICIT])
def test_explicit_client_entry_wins_during_offboarding(entry: dict[str, Any], expected: tuple[str, str],
                                                       primary: tuple[str, str] | None) -> None:
    p = P(world_desired({"bsmith": {"active": False}}, clients=[entry]))
    a = one(p, *expected)
    assert a.staff == "bsmith" and ("explicit clients: entry" in a.reason) == (entry.get("status") != "active")
    if primary is not None:
        assert a.changes["primary"] == primary
    assert p.actions[-1].type.value == "staff.deactivate" and a.id in p.actions[-1].depends_on


def test_client_declared_active_whose_leaver_would_inactivate_it_is_an_error() -> None:
    err = failure(world_desired({"bsmith": {"active": False}}, clients=[{"id": "C-1", "status": "active"}]))
    assert "client C-1 is declared active" in str(err) and "declare a primary" in str(err)


def test_professional_long_gone_under_handover_needs_no_successor_when_nothing_is_left() -> None:
    d = world_desired({"tnguyen": {"offboarding": "handover"}})
    assert steps(P(d)) == []
    from reconciler.planner.checks import check_desired

    known = {s: True for s in ("alee", "mkhan", "bsmith", "jdoe", "cdavis")} | {"tnguyen": False}
    assert check_desired(d, today=AT.date(), known_staff=known) == []
    # Config alone cannot tell a long-gone professional from one leaving now: still an error.
    assert any("tnguyen" in p.message for p in check_desired(d, today=AT.date(), known_staff={}))


def test_professional_long_gone_under_handover_with_leftovers_needs_a_successor() -> None:
    err = failure(world_desired({"tnguyen": {"offboarding": "handover"}}),
                  world(extra_appts=[appt("A-T", "C-3", "tnguyen", "2026-12-01T15:00:00Z")]))
    assert "tnguyen has no successor" in str(err)


DUPLICATE_TARGETS = [
    ("duplicate of a client deleted in the database is an error", client("C-X", None, status="deleted", deleted_at=AT), "is deleted"),
    ("duplicate of a client that is itself a duplicate is an error", client("C-X", None, status="inactive", duplicate_of="C-4"),
     "is itself a duplicate of C-4"),
]


@pytest.mark.parametrize("target,message", [c[1:] for c in DUPLICATE_TARGETS], ids=[c[0] for c in DUPLICATE_TARGETS])
def test_mark_duplicate_must_point_to_the_record_that_stays(target: Any, message: str) -> None:
    err = failure(world_desired(clients=[{"id": "C-3", "duplicate_of": "C-X"}]), world(extra_clients=[target]))
    assert message in str(err) and "client C-3" in str(err)


def test_mark_duplicate_already_applied_is_left_alone_even_if_the_original_is_deleted() -> None:
    rows = [client("C-X", None, status="deleted", deleted_at=AT), client("C-D", None, status="inactive", duplicate_of="C-X")]
    assert steps(P(world_desired(clients=[{"id": "C-D", "duplicate_of": "C-X"}]), world(extra_clients=rows))) == []


PURGE = [
    ("deleted exactly 30 days ago is kept", "2026-10-25T15:00:00Z", []),
    ("deleted 30 days and 1 second ago is purged", "2026-10-25T14:59:59Z", [("client.purge", "C-D")]),
]


@pytest.mark.parametrize("deleted_at,expected", [c[1:] for c in PURGE], ids=[c[0] for c in PURGE])
def test_purge_after_more_than_30_days(deleted_at: str, expected: list[tuple[str, str]]) -> None:
    p = P(world_desired(), world(extra_clients=[client("C-D", None, status="deleted", deleted_at=t(deleted_at))]))
    assert steps(p) == expected


def test_purge_of_an_original_and_its_duplicate_due_together_converges_in_one_plan() -> None:
    old = t("2026-09-01T00:00:00Z")
    rows = [client("C-O", None, status="deleted", deleted_at=old),
            client("C-D", None, status="deleted", deleted_at=old, duplicate_of="C-O")]
    assert steps(P(world_desired(), world(extra_clients=rows))) == [("client.purge", "C-D"), ("client.purge", "C-O")]


def test_purge_keeps_an_original_that_a_kept_duplicate_points_to() -> None:
    rows = [client("C-O", None, status="deleted", deleted_at=t("2026-09-01T00:00:00Z")),
            client("C-D", None, status="inactive", duplicate_of="C-O")]
    p = P(world_desired(), world(extra_clients=rows))
    assert steps(p) == [] and any("C-O" in w for w in p.warnings)


PROTECTED = [
    ("the owner named only by the database is not deactivated as unmanaged staff",
     dict(owner="jdoe", unmanaged_staff="deactivate"), ["alee"], "owner (in the database)"),
    ("the clinical director named by the config cannot leave", {}, [], "clinical director"),
]


@pytest.mark.parametrize("practice_kw,omit,message", [c[1:] for c in PROTECTED], ids=[c[0] for c in PROTECTED])
def test_practice_roles_cannot_be_deactivated_while_the_practice_names_them(
        practice_kw: dict[str, Any], omit: list[str], message: str) -> None:
    overrides = {} if omit else {"mkhan": {"active": False}}
    err = failure(world_desired(overrides, omit=omit, **practice_kw))
    assert message in str(err)


BLAST = [
    ("exactly 20 % of active staff is allowed", 5, {}, False),
    ("above 20 % of active staff is refused", 4, {}, True),
    ("max_change_percent lowers the bound", 5, {"max_change_percent": 10}, True),
]


@pytest.mark.parametrize("active_staff,practice_kw,refused", [c[1:] for c in BLAST], ids=[c[0] for c in BLAST])
def test_blast_radius_guard_boundary(active_staff: int, practice_kw: dict[str, Any], refused: bool) -> None:
    # world() has 5 active staff; dropping cdavis leaves 4. bsmith leaves, and her clients move
    # (handover) so that only the staff share is tested.
    rows = {"cdavis": staff("cdavis", active=False)} if active_staff == 4 else {}
    d = world_desired({"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"},
                       "cdavis": {"active": active_staff == 5}}, **practice_kw)
    a = world(replace=rows)
    if refused:
        with pytest.raises(PlanRefused):
            plan(d, a, AT)
    else:
        assert one(plan(d, a, AT), "staff.deactivate", "bsmith")


# ----------------------------------------------------------------- database scenarios

SNAPSHOT: dict[str, Any] = {
    "practice": {"name": "P", "timezone": "America/New_York", "owner": "alee", "clinical_director": "mkhan"},
    "staff": [
        {"id": i, "name": i.title(), "role": r, "access": "entire_practice" if r != "clinician" else "assigned_clients", "active": True}
        for i, r in (("alee", "owner"), ("mkhan", "clinical_director"), ("bsmith", "clinician"), ("jdoe", "clinician"))
    ],
    "clients": [
        {"id": "C-1", "first_name": "F", "last_name": "L", "status": "inactive", "duplicate_of": "C-Y"},
        {"id": "C-Y", "first_name": "F", "last_name": "L", "status": "deleted", "deleted_at": "2026-10-01T00:00:00+00:00"},
        {"id": "C-2", "first_name": "F", "last_name": "L", "status": "active", "primary": "bsmith"},
        {"id": "C-Z", "first_name": "F", "last_name": "L", "status": "deleted", "deleted_at": "2026-10-01T00:00:00+00:00"},
    ],
    "appointments": [
        {"id": "A-1", "client": "C-Z", "staff": "bsmith", "start": "2026-09-05T15:00:00-04:00", "end": "2026-09-05T15:50:00-04:00",
         "status": "completed"},
    ],
}
CONFIG = """version: 1
practice: {timezone: America/New_York, owner: alee, clinical_director: mkhan}
staff:
  - {id: alee, name: Alee, role: owner}
  - {id: mkhan, name: Mkhan, role: clinical_director}
  - {id: bsmith, name: Bsmith, role: clinician}
  - {id: jdoe, name: Jdoe, role: clinician}
"""


def _cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def test_purge_skips_an_original_a_duplicate_outside_the_config_points_to(db_url: str, tmp_path: Path) -> None:
    """C-Y is due for purge, but C-1 (not named in the config) is a duplicate of it: purging
    it would break C-1's link (a foreign key), so only C-Z goes, and apply converges."""
    snap = tmp_path / "snap.yaml"
    snap.write_text(yaml.safe_dump(SNAPSHOT))
    fresh_db(db_url, snap).dispose()
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "p.yaml").write_text(CONFIG)
    common = ["-c", str(cfg), "--db", db_url, "--at", "2026-11-24T10:00:00"]
    code, out = _cli("plan", *common, "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert [(a["type"], a["target"]) for a in doc["actions"]] == [("client.purge", "C-Z")]
    assert any("C-Y" in w for w in doc["warnings"])
    code, out = _cli("apply", *common, "--auto-approve", "--actor", "alee", "--export-dir", str(tmp_path / "exp"))
    assert code == 0, out
    code, out = _cli("plan", *common, "--format", "json")
    assert code == 0 and json.loads(out)["actions"] == []


def _person(i: str, role: str = "clinician", **kw: Any) -> dict[str, Any]:
    access = "entire_practice" if role != "clinician" else "assigned_clients"
    return {"id": i, "name": i.title(), "role": role, "access": access, "active": True, **kw}


def _client_row(i: str, primary: str | None, **kw: Any) -> dict[str, Any]:
    return {"id": i, "first_name": "F", "last_name": "L", "status": "active", "primary": primary, "balance_cents": 0, **kw}


def _session(i: str, c: str, s: str, start: str, **kw: Any) -> dict[str, Any]:
    return {"id": i, "client": c, "staff": s, "start": start, "end": start[:14] + "50" + start[16:], "status": "scheduled", **kw}


BASE_STAFF = [_person("alee", "owner"), _person("mkhan", "clinical_director"), _person("bsmith"), _person("jdoe"), _person("cdavis")]
CHAIN_CONFIG = """version: 1
practice: {timezone: %s, owner: alee, clinical_director: mkhan}
staff:
  - {id: alee, name: Alee, role: owner}
  - {id: mkhan, name: Mkhan, role: clinical_director}
  - {id: bsmith, name: Bsmith, role: clinician %s}
  - {id: jdoe, name: Jdoe, role: clinician %s}
  - {id: cdavis, name: Cdavis, role: clinician}
"""

# (id, timezone, bsmith's extra keys, jdoe's extra keys, extra rows, [(at, expected (type, target) list)])
CONVERGENCE = [
    ("chain A->B->C with B leaving later converges on every date", "America/New_York",
     ", deactivate_on: 2026-12-10, successor: jdoe, offboarding: handover",
     ", deactivate_on: 2026-12-20, successor: cdavis, offboarding: handover",
     {"clients": [_client_row("C-1", "bsmith"), _client_row("C-2", "jdoe")],
      "appointments": [_session("A-1", "C-1", "bsmith", "2026-12-05T15:00:00-05:00"),
                       _session("A-2", "C-1", "bsmith", "2026-12-12T15:00:00-05:00"),
                       _session("A-3", "C-1", "bsmith", "2026-12-22T15:00:00-05:00"),
                       _session("A-4", "C-2", "jdoe", "2026-12-21T15:00:00-05:00")]},
     [("2026-11-24T10:00:00", [("staff.schedule_deactivation", "bsmith"), ("appointment.transfer", "A-2"),
                               ("appointment.transfer", "A-3"), ("staff.schedule_deactivation", "jdoe"),
                               ("appointment.transfer", "A-4")]),
      ("2026-12-09T23:59:59", []),
      ("2026-12-10", [("export.write", "bsmith"), ("client.reassign", "C-1"), ("staff.deactivate", "bsmith")]),
      ("2026-12-20", [("export.write", "jdoe"), ("client.reassign", "C-2"), ("staff.deactivate", "jdoe")])]),
    ("deactivation at local midnight in Australia/Sydney after the DST change", "Australia/Sydney",
     ", deactivate_on: 2027-04-05", "",
     {"clients": [_client_row("C-1", "bsmith", balance_cents=100), _client_row("C-2", "jdoe"), _client_row("C-3", "jdoe"),
                  _client_row("C-4", "cdavis"), _client_row("C-5", "cdavis")],
      "appointments": [_session("A-1", "C-1", "bsmith", "2027-04-04T23:00:00+10:00"),
                       _session("A-2", "C-1", "bsmith", "2027-04-05T00:00:00+10:00"),
                       _session("A-3", "C-1", "bsmith", "2027-04-04T02:00:00+11:00")]},
     [("2026-11-24", [("staff.schedule_deactivation", "bsmith"), ("appointment.cancel", "A-2")]),
      ("2027-04-04T23:59:59", []),
      ("2027-04-05", [("client.reassign", "C-1"), ("staff.deactivate", "bsmith")])]),
]


@pytest.mark.parametrize("tz,b_keys,j_keys,rows,steps_", [c[1:] for c in CONVERGENCE], ids=[c[0] for c in CONVERGENCE])
def test_scenario_plans_as_the_spec_says_and_converges(db_url: str, tmp_path: Path, tz: str, b_keys: str, j_keys: str,
                                                        rows: dict[str, Any], steps_: list[tuple[str, list[tuple[str, str]]]]) -> None:
    snap = tmp_path / "snap.yaml"
    snap.write_text(yaml.safe_dump({"practice": {"name": "P", "timezone": tz, "owner": "alee", "clinical_director": "mkhan"},
                                    "staff": BASE_STAFF, **rows}))
    fresh_db(db_url, snap).dispose()
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "p.yaml").write_text(CHAIN_CONFIG % (tz, b_keys, j_keys))
    for at, expected in steps_:
        common = ["-c", str(cfg), "--db", db_url, "--at", at, "--allow-mass-change"]
        code, out = _cli("plan", *common, "--format", "json")
        assert code == 0, out
        first = json.loads(out)
        assert [(a["type"], a["target"]) for a in first["actions"]] == expected, at
        again = _cli("plan", *common, "--format", "json")[1]
        stamp = re.compile(r'"generated_at": "[^"]*"')
        assert stamp.sub("", again) == stamp.sub("", out)  # byte-identical apart from generated_at
        code, out = _cli("apply", *common, "--auto-approve", "--actor", "alee", "--export-dir", str(tmp_path / "exp"))
        assert code == 0, out
        code, out = _cli("plan", *common, "--format", "json")
        assert code == 0 and json.loads(out)["actions"] == [], (at, out)
