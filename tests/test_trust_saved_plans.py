"""SPEC §7.4 (issue 10): a saved plan is authentic, applies once, and only while it is
still true. Every attack of the issue, on SQLite and PostgreSQL, ends with exit 1, a
message naming the failed check, and the database exactly as before (every row of
every table, audit trail included).

Plans are made at AT (2026-11-24, in the past), so applying them passes ``--at AT
--allow-time-travel``: the apply's time is AT, recorded in the audit trail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from test_executor_support import AT, EXAMPLES, full_state, invoke, practice_db

from reconciler.model.actions import Plan

OFFBOARDING = EXAMPLES / "offboarding"
TRAVEL = ("--at", AT, "--allow-time-travel")


@pytest.fixture
def setup(db_url: str, tmp_path: Path) -> tuple[Engine, Path]:
    engine = practice_db(db_url)
    cfg = tmp_path / "cfg"
    shutil.copytree(OFFBOARDING, cfg)
    yield engine, cfg
    engine.dispose()


def make_plan(db_url: str, cfg: Path, out: Path, at: str = AT) -> Path:
    res = invoke(
        db_url,
        "plan",
        "-c",
        str(cfg),
        "--at",
        at,
        "--out",
        str(out),
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    return out


def apply(db_url: str, plan: Path, cfg: Path, tmp_path: Path, *extra: str, actor: str = "alee") -> Any:
    return invoke(
        db_url,
        "apply",
        str(plan),
        "-c",
        str(cfg),
        "--auto-approve",
        "--export-dir",
        str(tmp_path / "exports"),
        *extra,
        actor=actor,
    )


def edit(plan: Path, change: Callable[[dict[str, Any]], None], *, rehash: bool = True) -> Path:
    """Change the plan file as an attacker would; ``rehash`` recomputes its plan_id too."""
    doc = json.loads(plan.read_text())
    change(doc)
    if rehash:
        doc["plan_id"] = Plan.from_json(doc).plan_id
    plan.write_text(json.dumps(doc))
    return plan


def refused(res: Any, *words: str) -> None:
    assert res.exit_code == 1, res.output
    err = res.stderr
    assert err.count("\n") == 1 and err.startswith("Error: "), err
    for w in words:
        assert w in err, err
    assert "nothing was changed" in err


def first(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(a for a in doc["actions"] if a["type"] == kind)


# ---------------------------------------------------------------- the honest path
def test_an_unedited_plan_applies_once_and_the_audit_records_the_time_travel(
    setup: tuple[Engine, Path], db_url: str, tmp_path: Path
) -> None:
    engine, cfg = setup
    plan = make_plan(db_url, cfg, tmp_path / "plan.json")
    res = apply(db_url, plan, cfg, tmp_path, *TRAVEL)
    assert res.exit_code == 0, res.output
    events = json.loads(invoke(db_url, "audit", "--format", "json").output)
    assert events and all(e["after"]["time_travel"] == "2026-11-24T17:00:00Z" for e in events)
    before = full_state(engine)
    again = apply(db_url, plan, cfg, tmp_path, *TRAVEL)
    refused(again, "already applied")
    assert full_state(engine) == before


def test_apply_without_c_reads_practice_in_the_current_directory(
    setup: tuple[Engine, Path],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, cfg = setup
    plan = make_plan(db_url, cfg, tmp_path / "plan.json")
    monkeypatch.chdir(tmp_path)
    before = full_state(engine)
    res = invoke(db_url, "apply", str(plan), "--auto-approve", *TRAVEL)
    assert res.exit_code == 1 and "config directory practice does not exist" in res.stderr, res.stderr
    assert full_state(engine) == before


# ---------------------------------------------------------------- edited plan files
def _to_owner(doc: dict[str, Any]) -> None:
    a = first(doc, "staff.deactivate")
    a["target"] = a["staff"] = "alee"


def _inject(doc: dict[str, Any]) -> None:
    doc["actions"].append(
        {
            "id": len(doc["actions"]) + 1,
            "type": "staff.deactivate",
            "target": "cdavis",
            "staff": "cdavis",
            "changes": {
                "active": [True, False],
                "deactivated_at": [None, doc["as_of"]],
            },
            "reason": "cdavis offboarding",
            "depends_on": [],
            "drift": False,
        }
    )


def _truncate(doc: dict[str, Any]) -> None:
    doc["actions"] = doc["actions"][:5]


def _cancel_to_transfer(doc: dict[str, Any]) -> None:
    a = first(doc, "appointment.cancel")
    a["type"] = "appointment.transfer"
    a["changes"] = {"staff": ["bsmith", "cdavis"]}


def _phi_in_reason(doc: dict[str, Any]) -> None:
    first(doc, "client.inactivate")["reason"] = "Tom Reyes moved away"


ATTACKS = {
    "target-to-owner": _to_owner,
    "injected-deactivation": _inject,
    "truncated-to-five": _truncate,
    "cancel-to-transfer": _cancel_to_transfer,
    "client-name-in-reason": _phi_in_reason,
}


@pytest.mark.parametrize("rehash", [True, False], ids=["plan-id-recomputed", "plan-id-kept"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_edited_plan_file_is_refused_and_changes_nothing(
    setup: tuple[Engine, Path], db_url: str, tmp_path: Path, attack: str, rehash: bool
) -> None:
    engine, cfg = setup
    plan = edit(make_plan(db_url, cfg, tmp_path / "plan.json"), ATTACKS[attack], rehash=rehash)
    before = full_state(engine)
    res = apply(db_url, plan, cfg, tmp_path, *TRAVEL)
    refused(res, "edited plan")
    assert full_state(engine) == before
    assert not (tmp_path / "exports").exists()
    assert "Reyes" not in res.output


# ---------------------------------------------------------------- config, database, time
def test_a_changed_config_is_refused(setup: tuple[Engine, Path], db_url: str, tmp_path: Path) -> None:
    engine, cfg = setup
    plan = make_plan(db_url, cfg, tmp_path / "plan.json")
    f = cfg / "practice.yaml"
    f.write_text(f.read_text() + "# reviewed\n")
    before = full_state(engine)
    refused(apply(db_url, plan, cfg, tmp_path, *TRAVEL), "config changed")
    assert full_state(engine) == before


def test_a_plan_whose_rows_changed_is_stale(setup: tuple[Engine, Path], db_url: str, tmp_path: Path) -> None:
    engine, cfg = setup
    plan = make_plan(db_url, cfg, tmp_path / "plan.json")
    with engine.begin() as conn:  # the front desk books one more session with the leaving clinician
        conn.execute(
            text(
                "INSERT INTO appointments (id, client_id, staff_id, start_at, end_at, status, telehealth) "
                "VALUES ('A-NEW', 'C-1001', 'bsmith', '2026-12-20 15:00:00', '2026-12-20 15:50:00', "
                "'scheduled', false)"
            )
        )
    before = full_state(engine)
    refused(apply(db_url, plan, cfg, tmp_path, *TRAVEL), "stale plan")
    assert full_state(engine) == before


def test_a_plan_made_against_another_database_says_so(
    setup: tuple[Engine, Path],
    db_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    from dbhelpers import fresh_db

    engine, cfg = setup
    plan = make_plan(db_url, cfg, tmp_path / "plan.json")
    other_snapshot = tmp_path / "other.yaml"
    other_snapshot.write_text(
        "practice: {name: Other Practice, timezone: America/New_York, owner: alee, clinical_director: mkhan}\n"
        "staff:\n"
        "  - {id: alee, name: A L, role: owner, access: entire_practice, active: true}\n"
        "  - {id: mkhan, name: M K, role: clinical_director, access: entire_practice, active: true}\n"
    )
    if db_url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path / 'other.db'}"
    else:
        other = request.getfixturevalue("pg_server").create_database()
    other_engine = fresh_db(other, other_snapshot)
    try:
        before = full_state(other_engine)
        refused(apply(other, plan, cfg, tmp_path, *TRAVEL), "another database")
        assert full_state(other_engine) == before
    finally:
        other_engine.dispose()


def test_a_plan_whose_as_of_lies_in_the_future_is_stale(
    setup: tuple[Engine, Path], db_url: str, tmp_path: Path
) -> None:
    import datetime as dt

    engine, cfg = setup
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).replace(microsecond=0).isoformat()
    plan = make_plan(db_url, cfg, tmp_path / "plan.json", at=future)
    before = full_state(engine)
    refused(apply(db_url, plan, cfg, tmp_path), "stale plan", "in the future")
    assert full_state(engine) == before


def test_a_plan_whose_sessions_have_started_is_stale(setup: tuple[Engine, Path], db_url: str, tmp_path: Path) -> None:
    engine, cfg = setup
    plan = make_plan(db_url, cfg, tmp_path / "plan.json")
    before = full_state(engine)
    res = apply(
        db_url,
        plan,
        cfg,
        tmp_path,
        "--at",
        "2026-11-26T00:00:00Z",
        "--allow-time-travel",
    )
    refused(res, "stale plan", "have started", "A-58")
    assert full_state(engine) == before


def test_reapplying_plan_a_after_a_revert_like_change_is_already_applied(db_url: str, tmp_path: Path) -> None:
    """Plan A moves C-1010 to egarcia; someone moves it back in the database; plan A
    would apply again (same config, same rows) but its id is in the audit trail."""
    engine = practice_db(db_url)
    cfg = tmp_path / "a"
    cfg.mkdir()
    shutil.copy(EXAMPLES / "clients" / "practice.yaml", cfg / "practice.yaml")
    (cfg / "clients.yaml").write_text("version: 1\nclients:\n  - {id: C-1010, primary: egarcia}\n")
    plan = make_plan(db_url, cfg, tmp_path / "planA.json")
    with engine.connect() as conn:
        was = conn.execute(text("SELECT primary_id FROM clients WHERE id = 'C-1010'")).scalar_one()
    assert apply(db_url, plan, cfg, tmp_path, *TRAVEL).exit_code == 0
    with engine.begin() as conn:
        conn.execute(text("UPDATE clients SET primary_id = :p WHERE id = 'C-1010'"), {"p": was})
    before = full_state(engine)
    refused(apply(db_url, plan, cfg, tmp_path, *TRAVEL), "already applied")
    assert full_state(engine) == before
    engine.dispose()


@pytest.mark.parametrize("at", ["2027-02-01", "1970-01-01"])
def test_apply_at_far_from_the_clock_is_refused(db_url: str, tmp_path: Path, at: str) -> None:
    """`apply --at 2027-02-01` once purged a client seconds after deleting it;
    `--at 1970-01-01` cancelled past sessions and stamped 1970."""
    engine = practice_db(db_url)
    before = full_state(engine)
    res = invoke(
        db_url,
        "apply",
        "-c",
        str(OFFBOARDING),
        "--at",
        at,
        "--auto-approve",
        "--export-dir",
        str(tmp_path / "exports"),
    )
    refused(res, "more than 5 minutes from the clock", "--allow-time-travel")
    assert full_state(engine) == before
    engine.dispose()


@pytest.mark.parametrize(
    "actor",
    ["alee\n2026-11-24T17:00:00Z  owner  forged line", "\x1b[2Kowner", "owner\u202e"],
    ids=["newline", "ansi-escape", "bidi-override"],
)
def test_a_forged_actor_name_is_refused_in_one_line(db_url: str, tmp_path: Path, actor: str) -> None:
    engine = practice_db(db_url)
    before = full_state(engine)
    res = invoke(
        db_url,
        "apply",
        "-c",
        str(OFFBOARDING),
        "--auto-approve",
        "--actor",
        actor,
        *TRAVEL,
    )
    assert res.exit_code == 1 and res.stderr.startswith("Error: actor name") and res.stderr.count("\n") == 1
    assert full_state(engine) == before
    engine.dispose()
