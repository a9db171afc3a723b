"""SPEC §3 scenarios through the CLI and a database (``db load`` → ``plan`` → ``apply`` →
``plan`` again is empty), on SQLite and PostgreSQL (split from test_semantics_review.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from dbhelpers import fresh_db
from planner_builders import AT, world

from reconciler.cli import main
from reconciler.errors import ValidationFailed
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None, **kw: Any) -> Plan:
    return plan(d, a if a is not None else world(), AT, allow_mass_change=kw.pop("allow_mass_change", True), **kw)


def failure(d: DesiredState, a: ActualState | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        P(d, a)
    return exc.value


SNAPSHOT: dict[str, Any] = {
    "practice": {"name": "P", "timezone": "America/New_York", "owner": "alee", "clinical_director": "mkhan"},
    "staff": [
        {
            "id": i,
            "name": i.title(),
            "role": r,
            "access": "entire_practice" if r != "clinician" else "assigned_clients",
            "active": True,
        }
        for i, r in (("alee", "owner"), ("mkhan", "clinical_director"), ("bsmith", "clinician"), ("jdoe", "clinician"))
    ],
    "clients": [
        {"id": "C-1", "first_name": "F", "last_name": "L", "status": "inactive", "duplicate_of": "C-Y"},
        {
            "id": "C-Y",
            "first_name": "F",
            "last_name": "L",
            "status": "deleted",
            "deleted_at": "2026-10-01T00:00:00+00:00",
        },
        {"id": "C-2", "first_name": "F", "last_name": "L", "status": "active", "primary": "bsmith"},
        {
            "id": "C-Z",
            "first_name": "F",
            "last_name": "L",
            "status": "deleted",
            "deleted_at": "2026-10-01T00:00:00+00:00",
        },
    ],
    "appointments": [
        {
            "id": "A-1",
            "client": "C-Z",
            "staff": "bsmith",
            "start": "2026-09-05T15:00:00-04:00",
            "end": "2026-09-05T15:50:00-04:00",
            "status": "completed",
        },
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
    code, out = _cli(
        "apply",
        *common,
        "--allow-time-travel",
        "--auto-approve",
        "--actor",
        "alee",
        "--export-dir",
        str(tmp_path / "exp"),
    )
    assert code == 0, out
    code, out = _cli("plan", *common, "--format", "json")
    assert code == 0 and json.loads(out)["actions"] == []


def _person(i: str, role: str = "clinician", **kw: Any) -> dict[str, Any]:
    access = "entire_practice" if role != "clinician" else "assigned_clients"
    return {"id": i, "name": i.title(), "role": role, "access": access, "active": True, **kw}


def _client_row(i: str, primary: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "id": i,
        "first_name": "F",
        "last_name": "L",
        "status": "active",
        "primary": primary,
        "balance_cents": 0,
        **kw,
    }


def _session(i: str, c: str, s: str, start: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": i,
        "client": c,
        "staff": s,
        "start": start,
        "end": start[:14] + "50" + start[16:],
        "status": "scheduled",
        **kw,
    }


BASE_STAFF = [
    _person("alee", "owner"),
    _person("mkhan", "clinical_director"),
    _person("bsmith"),
    _person("jdoe"),
    _person("cdavis"),
]
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
    (
        "chain A->B->C with B leaving later converges on every date",
        "America/New_York",
        ", deactivate_on: 2026-12-10, successor: jdoe, offboarding: handover",
        ", deactivate_on: 2026-12-20, successor: cdavis, offboarding: handover",
        {
            "clients": [_client_row("C-1", "bsmith"), _client_row("C-2", "jdoe")],
            "appointments": [
                _session("A-1", "C-1", "bsmith", "2026-12-05T15:00:00-05:00"),
                _session("A-2", "C-1", "bsmith", "2026-12-12T15:00:00-05:00"),
                _session("A-3", "C-1", "bsmith", "2026-12-22T15:00:00-05:00"),
                _session("A-4", "C-2", "jdoe", "2026-12-21T15:00:00-05:00"),
            ],
        },
        [
            (
                "2026-11-24T10:00:00",
                [
                    ("staff.schedule_deactivation", "bsmith"),
                    ("appointment.transfer", "A-2"),
                    ("appointment.transfer", "A-3"),
                    ("staff.schedule_deactivation", "jdoe"),
                    ("appointment.transfer", "A-4"),
                ],
            ),
            ("2026-12-09T23:59:59", []),
            ("2026-12-10", [("export.write", "bsmith"), ("client.reassign", "C-1"), ("staff.deactivate", "bsmith")]),
            ("2026-12-20", [("export.write", "jdoe"), ("client.reassign", "C-2"), ("staff.deactivate", "jdoe")]),
        ],
    ),
    (
        "deactivation at local midnight in Australia/Sydney after the DST change",
        "Australia/Sydney",
        ", deactivate_on: 2027-04-05",
        "",
        {
            "clients": [
                _client_row("C-1", "bsmith", balance_cents=100),
                _client_row("C-2", "jdoe"),
                _client_row("C-3", "jdoe"),
                _client_row("C-4", "cdavis"),
                _client_row("C-5", "cdavis"),
            ],
            "appointments": [
                _session("A-1", "C-1", "bsmith", "2027-04-04T23:00:00+10:00"),
                _session("A-2", "C-1", "bsmith", "2027-04-05T00:00:00+10:00"),
                _session("A-3", "C-1", "bsmith", "2027-04-04T02:00:00+11:00"),
            ],
        },
        [
            ("2026-11-24", [("staff.schedule_deactivation", "bsmith"), ("appointment.cancel", "A-2")]),
            ("2027-04-04T23:59:59", []),
            ("2027-04-05", [("client.reassign", "C-1"), ("staff.deactivate", "bsmith")]),
        ],
    ),
]


@pytest.mark.parametrize("tz,b_keys,j_keys,rows,steps_", [c[1:] for c in CONVERGENCE], ids=[c[0] for c in CONVERGENCE])
def test_scenario_plans_as_the_spec_says_and_converges(
    db_url: str,
    tmp_path: Path,
    tz: str,
    b_keys: str,
    j_keys: str,
    rows: dict[str, Any],
    steps_: list[tuple[str, list[tuple[str, str]]]],
) -> None:
    snap = tmp_path / "snap.yaml"
    snap.write_text(
        yaml.safe_dump(
            {
                "practice": {"name": "P", "timezone": tz, "owner": "alee", "clinical_director": "mkhan"},
                "staff": BASE_STAFF,
                **rows,
            }
        )
    )
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
        code, out = _cli(
            "apply",
            *common,
            "--allow-time-travel",
            "--auto-approve",
            "--actor",
            "alee",
            "--export-dir",
            str(tmp_path / "exp"),
        )
        assert code == 0, out
        code, out = _cli("plan", *common, "--format", "json")
        assert code == 0 and json.loads(out)["actions"] == [], (at, out)
