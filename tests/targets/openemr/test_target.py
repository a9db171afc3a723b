"""The openemr target against a real MariaDB: mapping, balance, writers, safety."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from reconciler.errors import LockHeld, PlanRefused, StalePlan, ValidationFailed
from reconciler.model.actions import ActionType as T
from reconciler.planner.scope import ReadScope
from reconciler.targets.openemr.read import read_base, read_scoped

from .practice import LEAVE, NOW, PHI, build

HANDOVER = """\
policies:
  - {name: handover, future_sessions: transfer, clients_with_balance: successor, other_clients: transfer, export: none}
"""


def _types(plan):
    return [(a.type.value, a.target) for a in plan.actions]


def _snapshot(p):
    return {
        t: p.q(f"SELECT * FROM `{t}` ORDER BY 1")
        for t in (
            "users",
            "patient_data",
            "openemr_postcalendar_events",
            "log",
            "reconciler_audit_events",
            "reconciler_staff",
            "reconciler_seat_events",
        )
    }


# ---------------------------------------------------------------- mapping
def test_staff_mapping(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    p.oe.user("old", "Olga", "Dean", active=0)
    with p.engine.connect() as conn:
        practice, staff = read_base(conn)
    assert practice is not None and practice.timezone == "America/New_York"
    assert sorted(staff) == ["alee", "bsmith", "jdoe", "mkhan", "old"]  # the address-book row is not staff
    assert staff["bsmith"].name == "Beth Smith" and staff["bsmith"].active
    assert not staff["old"].active
    assert (staff["jdoe"].role, staff["jdoe"].access) == ("clinician", "assigned_clients")


def test_client_and_session_mapping(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    p.oe.patient("C-2000", "Zed", "Quill", None, status=None, portal="")  # NULL provider, NULL status
    scope = ReadScope(at=NOW, now_staff=("bsmith",), client_ids=("C-1003", "C-2000"))
    with p.engine.connect() as conn:
        actual = read_scoped(conn, scope)
    c1, c3, c0 = actual.clients["C-1001"], actual.clients["C-1003"], actual.clients["C-2000"]
    assert (c1.primary, c1.status, c1.portal_access, c1.balance_cents) == ("bsmith", "active", True, 0)
    assert actual.clients["C-1002"].balance_cents == 12000
    assert c3.primary == "alee"
    assert (c0.primary, c0.status, c0.portal_access) == (None, "active", False)
    ids = p.ids
    # scheduled, at or after now: the session at 11:00 today and next Monday's; not 09:00 today, not last week
    assert sorted(actual.appointments) == sorted([str(ids["future"]), str(ids["today_future"])])
    a = actual.appointments[str(ids["today_future"])]
    assert a.start == dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC)  # 11:00 EST
    assert a.end - a.start == dt.timedelta(minutes=50) and a.staff == "bsmith" and a.client == "C-1001"
    s = actual.series[str(ids["series"])]
    assert s.rrule == "FREQ=WEEKLY;BYDAY=MO" and s.client == "C-1002" and s.active
    assert s.start == dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)
    assert s.until == dt.datetime(2027, 3, 30, 4, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "raw,status",
    [("x", None), ("%", None), ("?", None), (">", None), ("-", "scheduled"), ("@", "scheduled"), ("<", "scheduled")],
)
def test_status_mapping(oedb, tmp_path, raw, status):
    p = build(*oedb, tmp_path)
    eid = p.oe.appt(p.ids["bsmith"], p.ids["p1"], "2026-12-09", status=raw)
    with p.engine.connect() as conn:
        actual = read_scoped(conn, ReadScope(at=NOW, now_staff=("bsmith",)))
    got = actual.appointments.get(str(eid))
    assert (got.status if got else None) == status  # only scheduled sessions are read for a plan


def test_zero_dates_and_null_times(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    p.oe.q(
        "INSERT INTO openemr_postcalendar_events (pc_catid, pc_multiple, pc_aid, pc_pid, pc_eventDate, pc_endDate, "
        "pc_duration, pc_recurrtype, pc_startTime, pc_apptstatus) VALUES (5,0,%s,%s,'0000-00-00','0000-00-00',0,0,NULL,'-')",
        (str(p.ids["bsmith"]), str(p.ids["p1"])),
    )
    zero_series = p.oe.series(p.ids["bsmith"], p.ids["p2"], "2026-11-03", "0000-00-00")  # OpenEMR never shows it
    allday = p.oe.appt(p.ids["bsmith"], p.ids["p1"], "2026-12-10")
    p.oe.q("UPDATE openemr_postcalendar_events SET pc_startTime=NULL WHERE pc_eid=%s", (allday,))
    with p.engine.connect() as conn:
        actual = read_scoped(conn, ReadScope(at=NOW, now_staff=("bsmith",)))
    assert str(zero_series) not in actual.series
    assert actual.appointments[str(allday)].start == dt.datetime(2026, 12, 10, 5, 0, tzinfo=dt.UTC)


# ---------------------------------------------------------------- balance
def test_balance_as_openemr_computes_it(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    pid = p.oe.patient("C-3000", "Zed", "Quill", p.ids["jdoe"])
    e1, e2 = p.oe.encounter(pid), p.oe.encounter(pid)
    p.oe.charge(pid, e1, "100.00")
    p.oe.charge(pid, e1, "55.55", activity=0)  # a deleted line of the fee sheet: ignored
    p.oe.sale(pid, e2, "20.10")
    p.oe.payment(pid, e1, pay="30.00")
    p.oe.payment(pid, e1, adj="10.05")
    p.oe.payment(pid, e1, pay="99.00", deleted=True)  # voided: ignored
    p.oe.charge(pid, 999, "500.00")  # no such encounter: OpenEMR's balance loops over form_encounter
    with p.engine.connect() as conn:
        actual = read_scoped(conn, ReadScope(at=NOW, client_ids=("C-3000",)))
    assert actual.clients["C-3000"].balance_cents == 10000 + 2010 - 3000 - 1005


# ---------------------------------------------------------------- the writers
@pytest.mark.parametrize("sql_mode", ["", "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO"])
def test_standard_offboarding_converges(oedb, tmp_path, sql_mode):
    p = build(*oedb, tmp_path)
    from reconciler.targets.openemr.target import OpenEMRTarget

    p.target = OpenEMRTarget(
        create_engine(
            p.url + "&init_command=" + f"SET SESSION sql_mode='{sql_mode}'".replace(" ", "%20"), poolclass=NullPool
        )
    )
    assert p.target.engine.connect().exec_driver_sql("SELECT @@SESSION.sql_mode").scalar() == sql_mode
    plan = p.plan(LEAVE % "")
    got = _types(plan)
    ids = p.ids
    assert ("appointment.cancel", str(ids["future"])) in got and ("appointment.cancel", str(ids["today_future"])) in got
    assert ("appointment.cancel", str(ids["today_past"])) not in got
    assert ("series.end", str(ids["series"])) in got
    assert ("client.reassign", "C-1002") in got and ("client.inactivate", "C-1001") in got
    assert got[-1] == ("staff.deactivate", "bsmith")
    p.apply(plan)
    assert p.plan(LEAVE % "").actions == ()
    assert p.q(
        "SELECT pc_eid, pc_apptstatus FROM openemr_postcalendar_events WHERE pc_recurrtype=0 ORDER BY pc_eid"
    ) == [(ids["future"], "x"), (ids["today_past"], "-"), (ids["today_future"], "x"), (ids["past"], "-")]
    # the series ends on the cutoff day: Monday's 09:00 sessions up to Nov 30 stay as they were
    assert p.q(
        "SELECT pc_eventDate, pc_endDate FROM openemr_postcalendar_events WHERE pc_eid=%s", (ids["series"],)
    ) == [(dt.date(2026, 11, 2), dt.date(2026, 12, 2))]
    assert p.q("SELECT active FROM users WHERE username='bsmith'") == [(0,)]
    assert p.q("SELECT kind FROM reconciler_seat_events") == [("deactivated",)]


def test_handover_splits_series_without_rewriting_the_past(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    before = p.q("SELECT * FROM openemr_postcalendar_events WHERE pc_eid=%s", (p.ids["series"],))[0]
    plan = p.plan(LEAVE % ", offboarding: handover")
    got = _types(plan)
    assert ("series.transfer", str(p.ids["series"])) in got
    assert ("appointment.transfer", str(p.ids["future"])) in got
    p.apply(plan, export_dir=tmp_path / "exports")
    assert (tmp_path / "exports").is_dir() and len(list((tmp_path / "exports").iterdir())) == 1
    assert p.plan(LEAVE % ", offboarding: handover").actions == ()
    rows = p.q(
        "SELECT pc_eid, pc_aid, pc_eventDate, pc_endDate, pc_startTime, pc_duration, pc_pid, pc_catid, "
        "pc_title, pc_multiple, pc_recurrtype, pc_apptstatus, pc_facility, uuid FROM openemr_postcalendar_events "
        "WHERE pc_recurrtype > 0 ORDER BY pc_eid"
    )
    old, new = rows
    assert old[0] == p.ids["series"] and old[1] == str(p.ids["bsmith"])
    assert (old[2], old[3]) == (dt.date(2026, 11, 2), dt.date(2026, 12, 2))  # sessions before the cutoff untouched
    assert new[1] == str(p.ids["jdoe"]) and (new[2], new[3]) == (dt.date(2026, 12, 7), dt.date(2027, 3, 29))
    assert new[4:13] == old[4:13] and new[13] is not None and new[13] != before[-1]
    # every column of the old row but its end date is as it was
    after = p.q("SELECT * FROM openemr_postcalendar_events WHERE pc_eid=%s", (p.ids["series"],))[0]
    changed = [i for i, (x, y) in enumerate(zip(before, after)) if x != y]
    assert len(changed) == 1
    logs = [base64.b64decode(c).decode() for (c,) in p.q("SELECT comments FROM log ORDER BY id")]
    assert any("successor series" in c for c in logs)


def test_scheduled_deactivation_and_reactivation(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    later = "  - {id: bsmith, name: Beth Smith, role: clinician, deactivate_on: 2026-12-15, successor: jdoe}\n"
    plan = p.plan(later)
    got = _types(plan)
    assert ("staff.schedule_deactivation", "bsmith") in got
    assert ("appointment.cancel", str(p.ids["future"])) not in got  # before the date: kept
    assert ("series.end", str(p.ids["series"])) in got  # sessions from the date on go
    p.apply(plan)
    assert p.plan(later).actions == ()
    assert p.q("SELECT deactivate_on FROM reconciler_staff WHERE username='bsmith'") == [(dt.date(2026, 12, 15),)]
    assert p.q("SELECT pc_endDate FROM openemr_postcalendar_events WHERE pc_eid=%s", (p.ids["series"],)) == [
        (dt.date(2026, 12, 14),)
    ]
    p.oe.q("UPDATE users SET active=0 WHERE username='jdoe'")
    back = p.plan("")
    assert ("staff.reactivate", "jdoe") in _types(back)
    p.apply(back)
    assert p.q("SELECT active FROM users WHERE username='jdoe'") == [(1,)]


def test_client_entries(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    p.oe.patient("C-1004", "Zed", "Quill", p.ids["jdoe"])
    p.oe.patient("C-1005", "Zed", "Quill", p.ids["jdoe"], status="inactive", portal="NO")
    extra = (
        "clients:\n  - {id: C-1003, primary: jdoe}\n  - {id: C-1004, duplicate_of: C-1003}\n"
        "  - {id: C-1005, status: active, primary: mkhan}\n"
    )
    plan = p.plan(extra)
    got = _types(plan)
    assert {("client.reassign", "C-1003"), ("client.mark_duplicate", "C-1004"), ("client.reactivate", "C-1005")} <= set(
        got
    )
    p.apply(plan)
    assert p.plan(extra).actions == ()
    assert p.q(
        "SELECT pubpid, providerID, care_team_status, allow_patient_portal FROM patient_data "
        "WHERE pubpid IN ('C-1003','C-1004','C-1005') ORDER BY pubpid"
    ) == [
        ("C-1003", p.ids["jdoe"], "active", "YES"),
        ("C-1004", 0, "inactive", "NO"),
        ("C-1005", p.ids["mkhan"], "active", "NO"),
    ]
    assert p.q("SELECT pubpid, duplicate_of FROM reconciler_client_links") == [("C-1004", "C-1003")]


def test_client_delete_is_a_validation_error_naming_the_target(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    with pytest.raises(ValidationFailed) as exc:
        p.plan("clients:\n  - {id: C-1003, status: deleted}\n")
    text = str(exc.value) + " ".join(str(x) for x in exc.value.problems)
    assert "C-1003" in text and "openemr" in text and "client.delete" in text


def test_unknown_staff_is_unsupported_create(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    with pytest.raises(ValidationFailed) as exc:
        p.plan("  - {id: newbie, name: New Bie, role: clinician}\n")
    assert "newbie" in " ".join(str(x) for x in exc.value.problems) and "openemr" in str(exc.value.problems[0])


# ---------------------------------------------------------------- safety
def test_stale_plan_changes_nothing(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    plan = p.plan(LEAVE % "")
    p.oe.appt(p.ids["bsmith"], p.ids["p3"], "2026-12-20")  # booked after the plan was made
    before = _snapshot(p)
    with pytest.raises(StalePlan):
        p.apply(plan)
    assert _snapshot(p) == before


def test_conditional_write_fails_the_whole_apply(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    plan = p.plan(LEAVE % "")
    # change a row so that the fingerprint does not see it (a status that still reads as scheduled) ...
    p.oe.q("UPDATE openemr_postcalendar_events SET pc_apptstatus='@' WHERE pc_eid=%s", (p.ids["future"],))
    p.apply(plan)  # ... '@' (arrived) is still scheduled: the cancel applies
    plan2 = p.plan("clients:\n  - {id: C-1003, primary: jdoe}\n")
    p.oe.q("UPDATE patient_data SET providerID=%s WHERE pubpid='C-1003'", (p.ids["mkhan"],))
    before = _snapshot(p)
    with pytest.raises((StalePlan,)):
        p.apply(plan2)
    assert _snapshot(p) == before


def test_myisam_table_is_refused_before_anything_changes(oedb_raw, tmp_path):
    url, oe, _name = oedb_raw
    p = build(url, oe, tmp_path)
    plan = p.plan(LEAVE % "")
    oe.q("ALTER TABLE patient_data ENGINE=MyISAM")
    before = _snapshot(p)
    with pytest.raises(PlanRefused, match="patient_data.*MyISAM"):
        p.apply(plan)
    assert _snapshot(p) == before


def test_lock_contention(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    plan = p.plan(LEAVE % "")
    other = p.engine.connect()
    try:
        assert other.exec_driver_sql("SELECT GET_LOCK(CONCAT('reconciler-apply:', DATABASE()), 0)").scalar() == 1
        before = _snapshot(p)
        t0 = time.monotonic()
        with pytest.raises(LockHeld, match="another apply holds the lock: server connection"):
            p.apply(plan, lock_timeout=1)
        assert time.monotonic() - t0 < 5
        assert _snapshot(p) == before
    finally:
        other.close()
    p.apply(plan)  # the holder's session ended: the lock is free again


def test_kill_mid_transaction_leaves_nothing(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    plan = p.plan(LEAVE % "")
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.dumps())
    marker = tmp_path / "paused"
    before = _snapshot(p)
    cli = Path(__file__).resolve().parents[2] / "paused_cli.py"
    (p.cfg / "practice.yaml").write_text((p.cfg / "practice.yaml").read_text())
    proc = subprocess.Popen(
        [
            sys.executable,
            str(cli),
            "2",
            str(marker),
            "60",
            "--",
            "--target",
            "openemr",
            "apply",
            str(plan_file),
            "--db",
            p.url,
            "-c",
            str(p.cfg),
            "--at",
            plan.as_of,
            "--allow-time-travel",
            "--auto-approve",
            "--actor",
            "alee",
            "--export-dir",
            str(tmp_path / "exports"),
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "apply ended before the pause"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)  # the server notices the dropped connection and rolls back
    assert _snapshot(p) == before
    p.apply(plan)  # and the lock was released with the session
    assert p.plan(LEAVE % "").actions == ()


def test_plan_made_against_another_database_is_refused_as_such(oedb, tmp_path, mariadb_server):
    """Each OpenEMR database has its own identity (``reconciler_meta.db_id``, written by
    ``db init``); a plan carries it, and another database with the same rows refuses it
    as made elsewhere, not as stale (issue 11, item 6)."""
    from openemr import fixture as fx

    from .oe import OE

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    p = build(*oedb, tmp_path / "a")
    url2 = mariadb_server.create_database()
    engine2 = create_engine(url2, poolclass=NullPool)
    with engine2.begin() as conn:
        fx.create_tables(conn)
    oe2 = OE(engine2)
    try:
        q = build(url2, oe2, tmp_path / "b")
        plan = p.plan(LEAVE % "")
        assert plan.extra.get("db_id") and plan.extra["db_id"] != q.plan(LEAVE % "").extra.get("db_id")
        before = _snapshot(q)
        with pytest.raises(PlanRefused, match="made against another database"):
            q.apply(plan)
        assert _snapshot(q) == before
        q.target.dispose()
    finally:
        oe2.close()
        engine2.dispose()


def test_no_client_name_in_log_or_audit(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    p.apply(p.plan(LEAVE % ", offboarding: handover"), export_dir=tmp_path / "exports")
    rows = p.q("SELECT event, category, user, comments, patient_id FROM log")
    text = json.dumps([[str(x) for x in r] for r in rows]) + " ".join(base64.b64decode(r[3]).decode() for r in rows)
    text += json.dumps([[str(x) for x in r] for r in p.q("SELECT * FROM reconciler_audit_events")])
    for name in PHI:
        assert name not in text
    assert {r[2] for r in rows} == {"alee"}
    assert p.q("SELECT COUNT(*) FROM log_comment_encrypt") == [(len(rows),)]


def test_audit_chain_verifies(oedb, tmp_path):
    from reconciler.targets.openemr.audit import GENESIS, verify_chain

    p = build(*oedb, tmp_path)
    p.apply(p.plan(LEAVE % ""))
    n, head, problem = verify_chain(p.engine)
    assert problem is None and n > 0 and head != GENESIS
    p.oe.q("UPDATE reconciler_audit_events SET actor='mallory' WHERE id=2")
    assert "event 2" in (verify_chain(p.engine)[2] or "")


def test_db_init_creates_only_reconciler_tables(oedb, tmp_path):
    url, oe = oedb
    before = {t for (t,) in oe.q("SHOW TABLES")}
    p = build(url, oe, tmp_path)
    after = {t for (t,) in oe.q("SHOW TABLES")}
    assert sorted(after - before) == [
        "reconciler_alembic_version",
        "reconciler_audit_events",
        "reconciler_client_links",
        "reconciler_meta",
        "reconciler_practice",
        "reconciler_seat_events",
        "reconciler_staff",
    ]
    assert all(
        e == "InnoDB"
        for (e,) in oe.q(
            "SELECT ENGINE FROM information_schema.TABLES WHERE "
            "TABLE_SCHEMA=DATABASE() AND TABLE_NAME LIKE 'reconciler%%'"
        )
    )
    from reconciler.targets.openemr.migrate import init_db

    init_db(p.engine)  # again: nothing to do
    assert {t for (t,) in oe.q("SHOW TABLES")} == after


def test_each_writer_checks_the_state_it_was_planned_on(oedb, tmp_path):
    """Below the fingerprint: a writer handed a row that moved fails, and the transaction rolls back."""
    from reconciler.errors import ApplyFailed
    from reconciler.model.actions import Action
    from reconciler.targets.openemr.read import user_ids
    from reconciler.targets.openemr.write import WRITERS, WriteContext

    p = build(*oedb, tmp_path)
    p.oe.q("UPDATE openemr_postcalendar_events SET pc_apptstatus='x' WHERE pc_eid=%s", (p.ids["future"],))
    cases = [
        Action(
            1,
            T.APPOINTMENT_CANCEL,
            str(p.ids["future"]),
            "bsmith",
            {"status": ("scheduled", "cancelled"), "cancel_reason": (None, "r")},
            "r",
        ),
        Action(2, T.APPOINTMENT_TRANSFER, str(p.ids["today_future"]), "bsmith", {"staff": ("jdoe", "mkhan")}, "r"),
        Action(3, T.CLIENT_REASSIGN, "C-1003", "alee", {"primary": ("jdoe", "mkhan")}, "r"),
        Action(
            4,
            T.CLIENT_INACTIVATE,
            "C-1003",
            "alee",
            {"status": ("inactive", "inactive"), "primary": ("alee", None), "portal_access": (True, False)},
            "r",
        ),
        Action(
            5,
            T.STAFF_DEACTIVATE,
            "jdoe",
            "jdoe",
            {"active": (False, False), "deactivated_at": (None, "2026-12-02T15:00:00Z")},
            "r",
        ),
        Action(6, T.SERIES_END, str(p.ids["series"]), "jdoe", {"active": (True, False)}, "r"),
        Action(7, T.SERIES_TRANSFER, str(p.ids["series"]), "bsmith", {"staff": ("jdoe", "mkhan")}, "r"),
    ]
    before = _snapshot(p)
    for a in cases:
        with p.engine.connect() as conn, conn.begin():
            ctx = WriteContext(plan_id="plan-x", as_of=NOW, tz="America/New_York", uid=user_ids(conn))
            with pytest.raises(ApplyFailed, match=a.target):
                WRITERS[a.type](conn, [a], ctx)
    assert _snapshot(p) == before


# ---------------------------------------------------------------- import, status, export, the Target object
def test_import_then_plan_is_empty(oedb, tmp_path):
    from reconciler.app.importer import import_config
    from reconciler.app.workflow import compute_plan
    from reconciler.config.loader import load_config

    p = build(*oedb, tmp_path)
    p.oe.patient("C-1006", "Zed", "Quill", p.ids["jdoe"], status="inactive", portal="NO")
    p.oe.q("UPDATE reconciler_practice SET owner_id='alee', clinical_director_id='mkhan'")
    out = tmp_path / "imported"
    written = import_config(p.target, out, now=NOW)
    assert [w.name for w in written] == ["practice.yaml", "staff.yaml", "clients.yaml"]
    text = "".join(w.read_text() for w in written)
    assert "C-1006" in text and all(name not in text for name in PHI)
    plan = compute_plan(p.target, load_config(out), at_text=None, now=NOW)
    assert plan.actions == ()


def test_status_and_export(oedb, tmp_path):
    from reconciler.app.exports import export_staff
    from reconciler.targets.openemr.target import OpenEMRTarget

    p = build(*oedb, tmp_path)
    st = OpenEMRTarget(p.engine).read_status()
    assert [s["id"] for s in st.staff] == ["alee", "bsmith", "jdoe", "mkhan"]
    assert {s["id"]: s["caseload"] for s in st.staff}["bsmith"] == 2
    assert st.by_status == {"active": 3, "inactive": 0} and st.unassigned == []
    out = tmp_path / "bsmith.json"
    assert export_staff(p.target, "bsmith", "fhir", out) == 2
    body = out.read_text()
    assert oct(out.stat().st_mode & 0o777) == "0o600" and "Reyes" in body and "Practitioner" in body
    csv_out = tmp_path / "bsmith.csv"
    export_staff(p.target, "bsmith", "csv", csv_out)
    assert "C-1001" in csv_out.read_text()


def test_target_sessions_apply_like_the_executor(oedb, tmp_path):
    """The protocol path: read session for the fingerprint, locked write session, audit sink."""
    from reconciler.app.audit import audit_rows
    from reconciler.app.executor import seat_credits
    from reconciler.targets.base import WriteContext
    from reconciler.targets.openemr.target import OpenEMRTarget
    from reconciler.timeutil import parse_iso_z

    p = build(*oedb, tmp_path)
    plan = p.plan(LEAVE % "")
    t = OpenEMRTarget(p.engine)
    assert T.CLIENT_DELETE not in t.capabilities and T.SERIES_TRANSFER in t.capabilities
    with t.locked(actor="alee", plan_id=plan.plan_id, timeout=5) as s:
        assert s.read_scoped(ReadScope.from_json(plan.scope)).fingerprint() == plan.db_fingerprint
        ctx = WriteContext(plan.plan_id, parse_iso_z(plan.as_of), seat_credits(plan))
        for group in t.writer_groups(plan.actions):
            s.write(group, ctx)
        assert s.audit(audit_rows(plan, actor="alee", at=NOW, plan_id=plan.plan_id)) == len(plan.actions)
    assert p.plan(LEAVE % "").actions == ()
    assert [e["type"] for e in t.read_audit()] == [a.type.value for a in plan.actions]
    assert t.verify_audit()[2] is None


def test_missing_indexes_are_reported_not_created(oedb, tmp_path):
    """The indexes the reads would like are absent from OpenEMR 7's definitions; the
    target names them (tables.MISSING_INDEXES) and never creates them (the fixture
    checks every definition is unchanged)."""
    from reconciler.targets.openemr.tables import MISSING_INDEXES

    p = build(*oedb, tmp_path)
    p.apply(p.plan(LEAVE % ""))
    keys = {
        (t, k)
        for t, k in p.q(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND SEQ_IN_INDEX = 1"
        )
    }
    for table, column in (("patient_data", "providerID"), ("patient_data", "pubpid"), ("drug_sales", "pid")):
        assert (table, column) not in keys
        assert any(m.startswith(f"{table}({column}") for m in MISSING_INDEXES)


def test_series_with_exdates_and_weekdays(oedb, tmp_path):
    """exdate days are no sessions (a series whose only remaining days are excluded is not
    active), and a days-of-week series (type 3) splits on its own occurrences."""
    from openemr import fixture as fx

    p = build(*oedb, tmp_path)
    done = p.oe.series(
        p.ids["bsmith"], p.ids["p3"], "2026-11-02", "2026-12-07", exdates=(dt.date(2026, 12, 7),)
    )  # Mondays; the last one (Dec 7) excluded
    tuth = fx.insert_series(
        p.oe.c,
        p.ids["p3"],
        p.ids["bsmith"],
        dt.date(2026, 11, 3),
        dt.time(16, 0),
        fx.REPEAT_DAYS_OF_WEEK,
        fx.days_of_week((3, 5)),
        until=dt.date(2027, 1, 28),
    )
    with p.engine.connect() as conn:
        actual = read_scoped(conn, ReadScope(at=NOW, now_staff=("bsmith",)))
    assert str(done) not in actual.series
    assert actual.series[str(tuth)].rrule.startswith("FREQ=WEEKLY") and "TU" in actual.series[str(tuth)].rrule
    plan = p.plan(LEAVE % ", offboarding: handover")
    p.apply(plan)
    rows = p.q(
        "SELECT pc_aid, pc_eventDate, pc_endDate, pc_recurrtype FROM openemr_postcalendar_events "
        "WHERE pc_recurrtype = 3 ORDER BY pc_eid"
    )
    # Wednesday Dec 2, 10:00 EST: the leaver keeps Tue Dec 1; the successor starts Thu Dec 3
    assert rows == [
        (str(p.ids["bsmith"]), dt.date(2026, 11, 3), dt.date(2026, 12, 1), 3),
        (str(p.ids["jdoe"]), dt.date(2026, 12, 3), dt.date(2027, 1, 28), 3),
    ]
    assert p.plan(LEAVE % ", offboarding: handover").actions == ()


#: The apply user's minimum grants, as README "Using it with OpenEMR" lists them
#: (``db init`` runs once as a user that may create tables).
MINIMUM_GRANTS = (
    "GRANT SELECT ON `{db}`.`users` TO {u}",
    "GRANT UPDATE (`active`, `fname`, `lname`) ON `{db}`.`users` TO {u}",
    "GRANT SELECT ON `{db}`.`patient_data` TO {u}",
    "GRANT UPDATE (`providerID`, `care_team_status`, `allow_patient_portal`) ON `{db}`.`patient_data` TO {u}",
    "GRANT SELECT, INSERT ON `{db}`.`openemr_postcalendar_events` TO {u}",
    "GRANT UPDATE (`pc_apptstatus`, `pc_aid`, `pc_endDate`, `pc_recurrspec`) ON `{db}`.`openemr_postcalendar_events` TO {u}",
    "GRANT SELECT ON `{db}`.`form_encounter` TO {u}",
    "GRANT SELECT ON `{db}`.`billing` TO {u}",
    "GRANT SELECT ON `{db}`.`drug_sales` TO {u}",
    "GRANT SELECT ON `{db}`.`ar_activity` TO {u}",
    "GRANT INSERT ON `{db}`.`log` TO {u}",
    "GRANT INSERT ON `{db}`.`log_comment_encrypt` TO {u}",
    "GRANT SELECT ON `{db}`.`reconciler_alembic_version` TO {u}",
    "GRANT SELECT, UPDATE ON `{db}`.`reconciler_practice` TO {u}",  # practice.update (SPEC §8.1)
    "GRANT SELECT, INSERT, UPDATE ON `{db}`.`reconciler_staff` TO {u}",
    "GRANT SELECT, INSERT ON `{db}`.`reconciler_seat_events` TO {u}",
    "GRANT SELECT, INSERT ON `{db}`.`reconciler_audit_events` TO {u}",
    "GRANT SELECT, INSERT, DELETE ON `{db}`.`reconciler_client_links` TO {u}",
    "GRANT SELECT ON `{db}`.`reconciler_meta` TO {u}",
)


def test_minimum_grants_are_enough(oedb, tmp_path, mariadb_server):
    """plan and apply (practice settings, cancel, series split, reassign, inactivate, mark
    duplicate, deactivate, audit, OpenEMR log) as a user holding only the README's grants."""
    from reconciler.targets.openemr.target import OpenEMRTarget

    p = build(*oedb, tmp_path)  # db init as the database's owner
    p.oe.patient("C-1004", "Zed", "Quill", p.ids["jdoe"])
    db = p.url.split("/")[3].split("?")[0]
    name = f"min_{db[-8:]}"
    with mariadb_server.root_connection() as root, root.cursor() as cur:
        cur.execute(f"CREATE USER '{name}'@'localhost' IDENTIFIED BY 'pw'")
        for g in MINIMUM_GRANTS:
            cur.execute(g.format(db=db, u=f"'{name}'@'localhost'"))
    creds = p.url.split("//")[1].split("@")[0]
    p.target = OpenEMRTarget.open(p.url.replace(creds, f"{name}:pw"))
    extra = LEAVE % ", offboarding: handover" + "clients:\n  - {id: C-1004, duplicate_of: C-1003}\n"
    plan = p.plan(extra)
    assert {a.type for a in plan.actions} >= {
        T.PRACTICE_UPDATE,
        T.SERIES_TRANSFER,
        T.APPOINTMENT_TRANSFER,
        T.CLIENT_MARK_DUPLICATE,
        T.STAFF_DEACTIVATE,
        T.CLIENT_REASSIGN,
    }
    p.apply(plan)
    assert p.plan(extra).actions == ()


def test_watch_leadership_is_a_server_lock(oedb, tmp_path):
    from reconciler.targets.openemr.target import OpenEMRTarget

    p = build(*oedb, tmp_path)
    a, b = p.target.leadership(), OpenEMRTarget.open(p.url).leadership()
    try:
        assert a.try_lead() and a.try_lead()
        assert not b.try_lead()
        a.release()
        assert b.try_lead()
    finally:
        a.release()
        b.release()


def test_db_load_and_dump_are_native_only() -> None:
    from click.testing import CliRunner

    from reconciler.cli import main

    res = CliRunner().invoke(main, ["--target", "openemr", "db", "dump", "--db", "mysql+pymysql://u:p@localhost/x"])
    assert res.exit_code == 1
    assert "native target only" in res.output and "openemr" in res.output


def test_audit_verify_and_status_check_work_on_openemr(oedb, tmp_path):
    """SPEC §7.1 and §7.3 through the CLI on the openemr target: the chain the application
    links verifies (exit 0, count and head), an edited event is named (exit 1), and the
    compliance check sees the offboarded professional holding nothing."""
    from click.testing import CliRunner

    from reconciler.cli import main

    p = build(*oedb, tmp_path)
    p.apply(p.plan(LEAVE % ""))

    def run(*args: str) -> tuple[int, str]:
        r = CliRunner().invoke(main, ["--target", "openemr", *args, "--db", p.url])
        return r.exit_code, r.output

    code, out = run("audit", "verify", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["count"] > 0 and doc["head"].startswith("sha256:"), out
    code, out = run("status", "--check", "--at", NOW.isoformat(), "--format", "json")
    assert code == 0, out
    p.oe.q("UPDATE reconciler_audit_events SET actor='mallory' WHERE id=2")
    code, out = run("audit", "verify")
    assert code == 1 and "2" in out and "edited" in out, out
