"""The vertical slice: read staff/clients/appointments from OpenEMR, plan the
standard offboarding, apply it, and re-plan to nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reconciler.config.loader import load_config
from reconciler.targets.native.engine import make_engine
from reconciler.targets.openemr.apply import apply_plan
from reconciler.targets.openemr.migrate import init_db
from reconciler.targets.openemr.plan import compute_plan

NOW = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone.utc)

CONFIG = """\
version: 1
practice: {timezone: America/New_York, owner: alee, clinical_director: mkhan}
staff:
  - {id: alee, name: Ana Lee, role: owner, access: entire_practice}
  - {id: mkhan, name: Mo Khan, role: clinical_director, access: entire_practice}
  - {id: bsmith, name: Beth Smith, role: clinician, active: false, successor: jdoe}
  - {id: jdoe, name: Jon Doe, role: clinician}
"""


def test_offboarding_round_trip(oedb, tmp_path: Path) -> None:
    url, oe = oedb
    alee = oe.user("alee", "Ana", "Lee")
    mkhan = oe.user("mkhan", "Mo", "Khan")
    bsmith = oe.user("bsmith", "Beth", "Smith")
    oe.user("jdoe", "Jon", "Doe")
    p1 = oe.patient("C-1001", "Tom", "Reyes", bsmith)
    p2 = oe.patient("C-1002", "Ann", "Poe", bsmith)
    oe.patient("C-1003", "Kim", "Ray", alee)
    enc = oe.encounter(p2)
    oe.charge(p2, enc, "120.00")
    future = oe.appt(bsmith, p1, "2026-12-07")
    past = oe.appt(bsmith, p1, "2026-11-30")
    s = oe.series(bsmith, p2, "2026-11-02")
    engine = make_engine(url)
    init_db(engine)
    cfg = tmp_path / "practice"
    cfg.mkdir()
    (cfg / "practice.yaml").write_text(CONFIG)
    desired = load_config(cfg)
    plan = compute_plan(engine, desired, at_text=None, now=NOW, allow_mass_change=True)
    got = [(a.type.value, a.target) for a in plan.actions]
    assert ("appointment.cancel", str(future)) in got
    assert ("appointment.cancel", str(past)) not in got
    assert ("series.end", str(s)) in got
    assert ("client.reassign", "C-1002") in got  # a balance: to the clinical director
    assert ("client.inactivate", "C-1001") in got
    assert got[-1] == ("staff.deactivate", "bsmith")
    result = apply_plan(engine, plan, actor="alee", now=NOW)
    assert result.actions == len(plan.actions)
    again = compute_plan(engine, desired, at_text=None, now=NOW, allow_mass_change=True)
    assert again.actions == (), [a.to_json() for a in again.actions]
    assert oe.q("SELECT active FROM users WHERE id=%s", (bsmith,)) == [(0,)]
    assert oe.q("SELECT pc_apptstatus FROM openemr_postcalendar_events WHERE pc_eid=%s", (future,)) == [("x",)]
    assert oe.q("SELECT pc_apptstatus FROM openemr_postcalendar_events WHERE pc_eid=%s", (past,)) == [("-",)]
    assert oe.q("SELECT providerID, care_team_status, allow_patient_portal FROM patient_data WHERE pubpid='C-1001'") == [(0, "inactive", "NO")]
    assert oe.q("SELECT providerID FROM patient_data WHERE pubpid='C-1002'") == [(mkhan,)]
    assert oe.q("SELECT pc_endDate FROM openemr_postcalendar_events WHERE pc_eid=%s", (s,)) == [(dt.date(2026, 12, 2),)]
    logs = oe.q("SELECT user, event, category FROM log ORDER BY id")
    assert len(logs) == len(plan.actions) and all(r[0] == "alee" for r in logs)
