"""Issue 12 (SPEC §8) on the openemr target against a real MariaDB: practice.update (and
the timezone rule), series.split on a scheduled handover, revert (appointment.restore,
series.restore), audit filters and CSV, show, and notifications."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import json
import threading
from typing import Any

import pytest

from reconciler.app.audit import read_audit, verify_audit
from reconciler.app.revert import build_revert
from reconciler.app.workflow import compute_plan
from reconciler.config.loader import load_config
from reconciler.errors import ValidationFailed
from reconciler.model.records import AuditFilter

from .practice import BASE, LEAVE, NOW, PHI, build

OWNER_LEAVES = """\
version: 1
practice: {timezone: America/New_York, owner: mkhan, clinical_director: mkhan, client_plan_limit: 600}
staff:
  - {id: alee, name: Ana Lee, role: owner, access: entire_practice, active: false}
  - {id: mkhan, name: Mo Khan, role: clinical_director, access: entire_practice}
  - {id: jdoe, name: Jon Doe, role: clinician}
  - {id: bsmith, name: Beth Smith, role: clinician}
"""
TRANSFER = """\
policies:
  - {name: move, future_sessions: transfer, clients_with_balance: successor, other_clients: transfer, export: none}
"""
LEAVES_ON_15TH = "  - {id: bsmith, name: Beth Smith, role: clinician, deactivate_on: 2026-12-15, successor: jdoe, offboarding: move}\n"
STAYS = "  - {id: bsmith, name: Beth Smith, role: clinician}\n"


def _types(plan: Any) -> list[tuple[str, str]]:
    return [(a.type.value, a.target) for a in plan.actions]


def _plan_text(p: Any, text: str, at: dt.datetime = NOW) -> Any:
    (p.cfg / "practice.yaml").write_text(text)
    return compute_plan(p.target, load_config(p.cfg), at_text=None, now=at, allow_mass_change=True)


def _logs(p: Any) -> list[str]:
    return [base64.b64decode(c).decode() for (c,) in p.q("SELECT comments FROM log ORDER BY id")]


# ---------------------------------------------------------------- §8.1 practice.update
def test_owner_hands_over_and_leaves_in_one_plan(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    p.apply(p.plan(STAYS))  # the practice row learns its owner and clinical director
    plan = _plan_text(p, OWNER_LEAVES)
    got = _types(plan)
    assert got[0] == ("practice.update", "practice") and got[-1] == ("staff.deactivate", "alee")
    assert dict(plan.actions[0].changes) == {"owner": ("alee", "mkhan"), "client_plan_limit": (None, 600)}
    p.apply(plan)
    assert p.q("SELECT owner_id, clinical_director_id, client_plan_limit FROM reconciler_practice") == [
        ("mkhan", "mkhan", 600)
    ]
    assert p.q("SELECT active FROM users WHERE username='alee'") == [(0,)]
    assert _plan_text(p, OWNER_LEAVES).actions == ()
    events = read_audit(p.target, plan.plan_id)
    assert events[0]["type"] == "practice.update" and events[0]["after"]["owner"] == "mkhan"
    assert any("practice.update practice" in c for c in _logs(p))  # OpenEMR's own log shows it too
    assert verify_audit(p.target).failure is None


def test_practice_update_is_conditional_on_the_before_values(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    p.apply(p.plan(STAYS))
    plan = _plan_text(p, OWNER_LEAVES)
    p.oe.q("UPDATE reconciler_practice SET owner_id='jdoe'")
    from reconciler.errors import ApplyFailed, StalePlan

    with pytest.raises((ApplyFailed, StalePlan)):
        p.apply(plan)
    assert p.q("SELECT active FROM users WHERE username='alee'") == [(1,)]
    assert p.q("SELECT owner_id FROM reconciler_practice") == [("jdoe",)]


def test_timezone_follows_openemrs_own_zone_only(oedb_raw, tmp_path):
    url, oe, _ = oedb_raw
    p = build(url, oe, tmp_path)
    p.oe.q("UPDATE reconciler_practice SET timezone='UTC'")
    # OpenEMR's own globals table (as OpenEMR 7 defines it), set to another zone
    p.oe.q(
        "CREATE TABLE globals (gl_name varchar(63) NOT NULL, gl_index int(11) NOT NULL DEFAULT 0, "
        "gl_value varchar(255) NOT NULL DEFAULT '', PRIMARY KEY (gl_name, gl_index)) ENGINE=InnoDB"
    )
    p.oe.q("INSERT INTO globals VALUES ('gbl_time_zone', 0, 'America/Chicago')")
    with pytest.raises(ValidationFailed) as err:
        p.plan(STAYS)
    problem = err.value.problems[0]
    assert "practice.update of timezone is not supported by the openemr target" in problem.message
    assert "America/Chicago" in problem.message
    assert problem.location.file is not None and problem.location.file.endswith("practice.yaml")
    assert problem.location.line == 2
    assert p.q("SELECT timezone FROM reconciler_practice") == [("UTC",)]
    # once OpenEMR itself is set to the config's zone, the practice follows it
    p.oe.q("UPDATE globals SET gl_value='America/New_York' WHERE gl_name='gbl_time_zone'")
    plan = p.plan(STAYS)
    assert plan.actions[0].changes["timezone"] == ("UTC", "America/New_York")
    p.apply(plan)
    assert p.q("SELECT timezone FROM reconciler_practice") == [("America/New_York",)]
    assert p.plan(STAYS).actions == ()


# ---------------------------------------------------------------- §8.3 series.split
def test_scheduled_handover_splits_the_series_on_the_date(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    eid = p.ids["series"]
    before = p.q("SELECT * FROM openemr_postcalendar_events WHERE pc_eid=%s", (eid,))[0]
    plan = p.plan(LEAVES_ON_15TH + TRANSFER)
    split = next(a for a in plan.actions if a.type.value == "series.split")
    assert split.target == str(eid) and split.changes["successor_staff"] == (None, "jdoe")
    assert split.changes["successor_start"] == (None, "2026-12-21T14:00:00Z")  # the first Monday on/after the 15th
    assert ("appointment.transfer", str(p.ids["future"])) not in _types(plan)  # Dec 7: before the date, stays
    p.apply(plan)
    rows = p.q(
        "SELECT pc_eid, pc_aid, pc_eventDate, pc_endDate, pc_startTime, pc_pid FROM openemr_postcalendar_events "
        "WHERE pc_recurrtype > 0 ORDER BY pc_eid"
    )
    old, new = rows
    assert (old[0], old[1]) == (eid, str(p.ids["bsmith"]))
    assert (old[2], old[3]) == (dt.date(2026, 11, 2), dt.date(2026, 12, 14))  # the leaver keeps her sessions
    assert new[1] == str(p.ids["jdoe"]) and (new[2], new[3]) == (dt.date(2026, 12, 21), dt.date(2027, 3, 29))
    assert (new[4], new[5]) == (old[4], old[5])
    after = p.q("SELECT * FROM openemr_postcalendar_events WHERE pc_eid=%s", (eid,))[0]
    assert [i for i, (x, y) in enumerate(zip(before, after)) if x != y] == [
        [c[0] for c in p.q("SHOW COLUMNS FROM openemr_postcalendar_events")].index("pc_endDate")
    ]  # the past is never rewritten: only the end day changed
    assert any(f"successor series {new[0]}" in c and "plan's" in c for c in _logs(p))
    assert p.plan(LEAVES_ON_15TH + TRANSFER).actions == ()  # converged
    # on the day itself the leaver is offboarded; the successor's series is not touched
    on_the_day = p.plan(LEAVES_ON_15TH + TRANSFER, at=dt.datetime(2026, 12, 15, 15, 0, tzinfo=dt.UTC))
    assert ("staff.deactivate", "bsmith") in _types(on_the_day)
    assert all(a.target != str(new[0]) for a in on_the_day.actions)


def test_series_split_checks_the_first_session_it_was_planned_on(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    plan = p.plan(LEAVES_ON_15TH + TRANSFER)
    # the Dec 21 session is excluded in OpenEMR after planning: the successor would start elsewhere
    spec = p.q("SELECT pc_recurrspec FROM openemr_postcalendar_events WHERE pc_eid=%s", (p.ids["series"],))[0][0]
    from reconciler.targets.openemr import recurrence as rec

    edited = rec.dump_recurrspec(rec.parse_recurrspec(spec).with_exdates(("20261221",)))
    p.oe.q("UPDATE openemr_postcalendar_events SET pc_recurrspec=%s WHERE pc_eid=%s", (edited, p.ids["series"]))
    before = p.q("SELECT * FROM openemr_postcalendar_events ORDER BY pc_eid")
    from reconciler.errors import ApplyFailed, StalePlan

    with pytest.raises((ApplyFailed, StalePlan)):
        p.apply(plan)
    assert p.q("SELECT * FROM openemr_postcalendar_events ORDER BY pc_eid") == before


# ---------------------------------------------------------------- §8.6 revert
def test_offboard_by_mistake_then_revert_on_openemr(oedb, tmp_path):
    p = build(*oedb, tmp_path)
    p.apply(p.plan(STAYS))  # the practice row and staff facts as the config says: the mistake is the only change
    calendar = p.q("SELECT * FROM openemr_postcalendar_events ORDER BY pc_eid")
    patients = p.q("SELECT pubpid, providerID, care_team_status, allow_patient_portal FROM patient_data ORDER BY pid")
    mistake = p.plan(LEAVE % "")
    p.apply(mistake)
    assert p.q("SELECT active FROM users WHERE username='bsmith'") == [(0,)]
    (p.cfg / "practice.yaml").write_text(BASE + STAYS)  # the config reverted in git
    rev = build_revert(p.target, mistake.plan_id, load_config(p.cfg), at=NOW + dt.timedelta(minutes=1))
    kinds = {a.type.value for a in rev.plan.actions}
    assert {"staff.reactivate", "appointment.restore", "series.restore", "client.reactivate"} <= kinds, kinds
    assert rev.plan.actions[0].type.value == "staff.reactivate"
    p.apply(rev.plan, now=NOW + dt.timedelta(minutes=1))
    assert p.q("SELECT active FROM users WHERE username='bsmith'") == [(1,)]
    assert (
        p.q("SELECT pubpid, providerID, care_team_status, allow_patient_portal FROM patient_data ORDER BY pid")
        == patients
    )
    # every session and the series as they were ('-': a booked session, OpenEMR's default status)
    assert p.q("SELECT * FROM openemr_postcalendar_events ORDER BY pc_eid") == calendar
    assert p.plan(STAYS).actions == ()  # the next plan is empty
    assert verify_audit(p.target).failure is None  # the chain holds across the revert
    again = build_revert(p.target, mistake.plan_id, load_config(p.cfg), at=NOW + dt.timedelta(minutes=2))
    assert again.plan.is_empty


def test_saved_revert_plan_applies_through_the_cli_on_openemr(oedb, tmp_path):
    """SPEC §7.4 for a revert plan: `apply PLANFILE` re-plans it as a revert and applies it once."""
    from click.testing import CliRunner

    from reconciler.cli import main

    p = build(*oedb, tmp_path)
    p.apply(p.plan(STAYS))
    mistake = p.plan(LEAVE % "")
    p.apply(mistake)
    (p.cfg / "practice.yaml").write_text(BASE + STAYS)
    out = tmp_path / "revert.json"

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["--target", "openemr", *args, "--db", p.url])

    r = run("revert", mistake.plan_id, "-c", str(p.cfg), "--out", str(out))
    assert r.exit_code == 0 and out.exists(), r.output
    assert p.q("SELECT active FROM users WHERE username='bsmith'") == [(0,)]  # saved, not applied
    r = run("apply", str(out), "-c", str(p.cfg), "--auto-approve", "--actor", "pmorgan")
    assert r.exit_code == 0, r.output
    assert p.q("SELECT active FROM users WHERE username='bsmith'") == [(1,)]
    r = run("apply", str(out), "-c", str(p.cfg), "--auto-approve", "--actor", "pmorgan")
    assert r.exit_code == 1 and "already applied" in r.output
    r = run("audit", "verify")
    assert r.exit_code == 0, r.output


# ---------------------------------------------------------------- §8.5 audit queries, §8.4 show
def test_audit_filters_csv_and_show_on_openemr(oedb, tmp_path):
    from click.testing import CliRunner

    from reconciler.cli import main

    p = build(*oedb, tmp_path)
    plan = p.plan(LEAVE % "")
    p.apply(plan, actor="pmorgan")
    mine = read_audit(p.target, where=AuditFilter(client="C-1001"))
    assert mine and all(e["client"] == "C-1001" for e in mine)
    assert {e["type"] for e in mine} == {"appointment.cancel", "client.inactivate"}
    assert read_audit(p.target, where=AuditFilter(type="staff.deactivate", actor="pmorgan"))[0]["target"] == "bsmith"
    assert read_audit(p.target, where=AuditFilter(actor="nobody")) == []
    assert read_audit(p.target, where=AuditFilter(since=NOW + dt.timedelta(days=1))) == []

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["--target", "openemr", *args, "--db", p.url])

    r = run("audit", "--client", "C-1002", "--format", "csv")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("at,actor,plan_id") and len(lines) > 1 and all("C-1002" in x for x in lines[1:])
    r = run("show", "staff", "mkhan", "--at", NOW.isoformat(), "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["staff"]["id"] == "mkhan" and "C-1002" in json.dumps(doc)  # the balance went to the director
    r = run("show", "client", "C-1002", "--at", NOW.isoformat())
    assert r.exit_code == 0 and "C-1002" in r.output, r.output
    for out in (r.output, run("audit", "--format", "csv").output):
        assert not any(name in out for name in PHI)


# ---------------------------------------------------------------- §8.7 notifications
def test_apply_on_openemr_notifies_with_ids_only(oedb, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from reconciler.cli import main

    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            received.append((dict(self.headers.items()), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        p = build(*oedb, tmp_path)
        hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
        notify = f"practice: {{timezone: America/New_York, owner: alee, clinical_director: mkhan, notify: [{{url: '{hook}', events: [applied], secret_env: OE_HOOK}}]}}"
        (p.cfg / "practice.yaml").write_text(BASE.replace(BASE.splitlines()[1], notify) + LEAVE % "")
        monkeypatch.setenv("OE_HOOK", "k")
        r = CliRunner().invoke(
            main,
            ["--target", "openemr", "apply", "-c", str(p.cfg), "--auto-approve", "--allow-mass-change", "--db", p.url],
        )
        assert r.exit_code == 0, r.output
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 1
    headers, body = received[0]
    assert headers["X-Reconciler-Signature"] == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    doc = json.loads(body)
    assert doc["event"] == "applied" and doc["counts"]["staff.deactivate"] == 1 and "bsmith" in doc["staff"]
    assert "C-1001" in doc["clients"] and not any(name in body.decode() for name in PHI)
