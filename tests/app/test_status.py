"""``reconciler status`` on both backends: seats, staff and caseloads, scheduled
deactivations, unassigned clients, deletions awaiting purge, the last apply."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from click.testing import CliRunner
from constants import NOW
from dbhelpers import fresh_db
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from reconciler.app.status import collect_status, format_status
from reconciler.cli import main
from reconciler.errors import DatabaseError
from reconciler.targets.native.schema import audit_t, clients_t, practice_t, staff_t
from reconciler.targets.native.target import NativeTarget


def _staff(id: str, role: str = "clinician", active: bool = True, **kw: Any) -> dict[str, Any]:
    row = {
        "id": id,
        "name": id.title(),
        "role": role,
        "access": "assigned_clients",
        "billing_role": None,
        "active": active,
        "deactivate_on": None,
        "deactivated_at": None,
        "settings": None,
        "max_caseload": None,
    }
    row.update(kw)
    return row


def _client(
    id: str,
    status: str = "active",
    primary: str | None = None,
    deleted_at: dt.datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": id,
        "first_name": "Secret",
        "last_name": "Patientname",
        "status": status,
        "primary_id": primary,
        "balance_cents": 0,
        "portal_access": False,
        "duplicate_of": None,
        "deleted_at": deleted_at,
    }


@pytest.fixture
def practice_db(db_url: str) -> Engine:
    """A small practice: 4 active staff (one leaving), one inactive, clients in every state."""
    engine = fresh_db(db_url)
    with engine.begin() as conn:
        conn.execute(
            insert(practice_t),
            [
                {
                    "id": 1,
                    "name": "Sunrise Counseling",
                    "timezone": "America/New_York",
                    "owner_id": "alee",
                    "clinical_director_id": "mkhan",
                    "client_plan_limit": 500,
                    "seat_price_cents": 6000,
                    "billing_cycle_day": 1,
                }
            ],
        )
        conn.execute(
            insert(staff_t),
            [
                _staff("alee", "owner", access="entire_practice"),
                _staff("mkhan", "clinical_director", max_caseload=60),
                _staff("egarcia", deactivate_on=dt.date(2026, 12, 31)),
                _staff("bsmith", deactivate_on=dt.date(2026, 11, 24), max_caseload=40),
                _staff(
                    "tnguyen",
                    active=False,
                    deactivated_at=dt.datetime(2026, 1, 5, 17, 0),
                ),
            ],
        )
        conn.execute(
            insert(clients_t),
            [
                _client("C-1", primary="bsmith"),
                _client("C-2", primary="bsmith"),
                _client("C-3", primary="mkhan"),
                _client("C-4"),
                _client("C-0"),  # unassigned active
                _client("C-5", primary="tnguyen"),  # primary has left
                _client("C-6", "inactive"),
                _client("C-7", "inactive", primary="bsmith"),
                _client("C-8", "deleted", deleted_at=dt.datetime(2026, 10, 1, 12, 0)),  # due 2026-10-31
                _client("C-9", "deleted", deleted_at=dt.datetime(2026, 11, 20, 9, 30)),  # due 2026-12-20
            ],
        )
        # Chained like every audit write (SPEC 7.1): signer, prev_hash and hash are required.
        from reconciler.security.chain import Linker

        linker = Linker()
        rows = [
            {
                "at": dt.datetime(2026, 11, 20, 10, 0),
                "actor": "pmorgan",
                "plan_id": "plan-old",
                "action_id": 1,
                "action_type": "client.reassign",
                "target": "C-3",
                "staff_id": "mkhan",
                "before": None,
                "after": None,
                "reason": "r",
            },
            {
                "at": dt.datetime(2026, 11, 23, 16, 0),
                "actor": "alee",
                "plan_id": "plan-new",
                "action_id": 1,
                "action_type": "client.delete",
                "target": "C-9",
                "staff_id": None,
                "before": None,
                "after": None,
                "reason": "r",
            },
            {
                "at": dt.datetime(2026, 11, 23, 16, 0),
                "actor": "alee",
                "plan_id": "plan-new",
                "action_id": 2,
                "action_type": "client.inactivate",
                "target": "C-7",
                "staff_id": "bsmith",
                "before": None,
                "after": None,
                "reason": "r",
            },
        ]
        for r in rows:
            r["signer"] = None
            r["prev_hash"], r["hash"] = linker.link(
                time=r["at"],
                actor=r["actor"],
                signer=None,
                plan_id=r["plan_id"],
                action_type=r["action_type"],
                target=r["target"],
                before=r["before"],
                after=r["after"],
            )
        conn.execute(insert(audit_t), rows)
    return engine


def test_practice_and_seats(practice_db: Engine) -> None:
    s = collect_status(NativeTarget(practice_db), at_text=None, now=NOW)
    assert s["as_of"] == "2026-11-24T15:00:00Z"
    assert s["practice"]["name"] == "Sunrise Counseling" and s["practice"]["timezone"] == "America/New_York"
    assert s["seats"] == {
        "active_staff": 4,
        "inactive_staff": 1,
        "seat_price_cents": 6000,
        "monthly_cents": 24000,
    }


def test_active_staff_with_roles_and_caseloads_in_id_order(practice_db: Engine) -> None:
    staff = collect_status(NativeTarget(practice_db), at_text=None, now=NOW)["staff"]
    assert [(s["id"], s["role"], s["caseload"], s["max_caseload"]) for s in staff] == [
        ("alee", "owner", 0, None),
        ("bsmith", "clinician", 2, 40),
        ("egarcia", "clinician", 0, None),
        ("mkhan", "clinical_director", 1, 60),
    ]


@pytest.mark.parametrize(
    "at_text, want",
    [
        (None, [("bsmith", "2026-11-24", 0), ("egarcia", "2026-12-31", 37)]),
        ("2026-12-01", [("bsmith", "2026-11-24", -7), ("egarcia", "2026-12-31", 30)]),
        # 2026-11-25T03:00Z is still the 24th in New York: days count in the practice timezone.
        (
            "2026-11-25T03:00:00Z",
            [("bsmith", "2026-11-24", 0), ("egarcia", "2026-12-31", 37)],
        ),
    ],
    ids=["today", "at-a-later-date", "practice-timezone"],
)
def test_scheduled_deactivations_with_days_left(
    practice_db: Engine, at_text: str | None, want: list[tuple[str, str, int]]
) -> None:
    got = collect_status(NativeTarget(practice_db), at_text=at_text, now=NOW)["scheduled_deactivations"]
    assert [(d["staff"], d["date"], d["days_left"]) for d in got] == want


def test_unassigned_and_inactive_clients(practice_db: Engine) -> None:
    s = collect_status(NativeTarget(practice_db), at_text=None, now=NOW)
    assert s["unassigned_clients"] == {"count": 2, "ids": ["C-0", "C-4"]}
    assert s["clients_with_inactive_primary"] == [{"client": "C-5", "primary": "tnguyen"}]
    assert s["clients"] == {"active": 6, "inactive": 2, "deleted": 2}


def test_deleted_clients_awaiting_purge_are_due_30_days_after_deletion(
    practice_db: Engine,
) -> None:
    got = collect_status(NativeTarget(practice_db), at_text=None, now=NOW)["awaiting_purge"]
    assert got == [
        {
            "client": "C-8",
            "deleted_at": "2026-10-01T12:00:00Z",
            "purge_due": "2026-10-31T12:00:00Z",
            "due": True,
        },
        {
            "client": "C-9",
            "deleted_at": "2026-11-20T09:30:00Z",
            "purge_due": "2026-12-20T09:30:00Z",
            "due": False,
        },
    ]


def test_last_apply_is_the_newest_audit_plan(practice_db: Engine) -> None:
    last = collect_status(NativeTarget(practice_db), at_text=None, now=NOW)["last_apply"]
    assert last == {
        "plan_id": "plan-new",
        "at": "2026-11-23T16:00:00Z",
        "actor": "alee",
        "actions": 2,
    }


def test_text_format_reads_like_a_report_and_names_no_client(
    practice_db: Engine,
) -> None:
    text = format_status(collect_status(NativeTarget(practice_db), at_text=None, now=NOW), "text")
    for want in [
        "Sunrise Counseling (America/New_York) — status as of 2026-11-24T15:00:00Z",
        "Seats: 4 active staff × $60.00 = $240.00 per cycle",
        "  bsmith   clinician          2/40 clients",
        "  bsmith  2026-11-24  (today)",
        "  egarcia  2026-12-31  (in 37 days)",
        "Unassigned active clients: 2 (C-0, C-4)",
        "Active clients of inactive staff: 1 (C-5→tnguyen)",
        "Clients: 6 active, 2 inactive, 2 deleted",
        "  C-8  deleted 2026-10-01T12:00:00Z  purge due 2026-10-31T12:00:00Z  (due: the next plan purges it)",
        "Last apply: plan-new at 2026-11-23T16:00:00Z by alee (2 actions)",
    ]:
        assert want in text.splitlines(), want
    assert "Secret" not in text and "Patientname" not in text


def test_an_empty_practice_database(db_url: str) -> None:
    engine = fresh_db(db_url)
    with engine.begin() as conn:
        conn.execute(
            insert(practice_t),
            [
                {
                    "id": 1,
                    "name": "New",
                    "timezone": "Europe/Berlin",
                    "billing_cycle_day": 1,
                }
            ],
        )
    s = collect_status(NativeTarget(engine), at_text=None, now=NOW)
    assert s["seats"]["active_staff"] == 0 and s["seats"]["monthly_cents"] is None
    assert s["last_apply"] is None and s["awaiting_purge"] == [] and s["unassigned_clients"]["count"] == 0
    text = format_status(s, "text")
    assert "Last apply: never" in text and "Seats: 0 active staff" in text.splitlines()


def test_a_database_without_practice_is_a_clear_error(db_url: str) -> None:
    with pytest.raises(DatabaseError, match="no practice"):
        collect_status(NativeTarget(fresh_db(db_url)), at_text=None, now=NOW)


def test_cli_status_json(practice_db: Engine, db_url: str) -> None:
    result = CliRunner().invoke(
        main,
        ["status", "--db", db_url, "--at", "2026-11-24T15:00:00Z", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc == collect_status(NativeTarget(practice_db), at_text="2026-11-24T15:00:00Z", now=NOW)
    assert doc["unassigned_clients"]["ids"] == ["C-0", "C-4"]


def test_cli_status_on_an_uninitialised_database_is_one_clear_error(
    db_url: str,
) -> None:
    result = CliRunner().invoke(main, ["status", "--db", db_url])
    assert result.exit_code == 1
    assert "not initialised" in result.output and "Traceback" not in result.output


def test_status_of_the_sample_practice_names_no_client(db_url: str) -> None:
    import yaml
    from dbhelpers import PRACTICE_YAML

    s = collect_status(
        NativeTarget(fresh_db(db_url, PRACTICE_YAML)),
        at_text="2026-11-24T15:00:00Z",
        now=NOW,
    )
    assert s["seats"]["active_staff"] == 8 and s["seats"]["monthly_cents"] == 48000
    assert {x["id"]: x["caseload"] for x in s["staff"]}["bsmith"] == 7
    assert s["clients"] == {"active": 29, "inactive": 1, "deleted": 0}
    text = format_status(s, "text") + format_status(s, "json")
    names = {c[k] for c in yaml.safe_load(PRACTICE_YAML.read_text())["clients"] for k in ("first_name", "last_name")}
    assert not [n for n in names if n in text]
