"""Out-of-range numbers (issue 11, item 3): every integer in the config and snapshot
models is bounded to what the database column stores (INTEGER: 2**31-1, BIGINT:
2**63-1); a larger one, or a float that is not a number in range, is one located
error with exit 1, never an OverflowError at apply or load time."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from dbhelpers import MATCHING_CONFIG, PRACTICE_YAML, fresh_db

from reconciler.cli import main

INT32 = 2**31
INT64 = 2**63


def _validate(tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    cfg = tmp_path / "practice"
    cfg.mkdir(exist_ok=True)
    (cfg / "practice.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "-c", str(cfg), *extra])
    return result.exit_code, result.stderr


CONFIG_CASES = [
    (
        "max_caseload-int64",
        "staff:\n  - {id: bsmith, max_caseload: %d}\n" % INT64,
        "staff[0].max_caseload",
    ),
    (
        "max_caseload-int32",
        "staff:\n  - {id: bsmith, max_caseload: %d}\n" % INT32,
        "staff[0].max_caseload",
    ),
    (
        "client_plan_limit",
        "practice: {client_plan_limit: %d}\n" % INT32,
        "practice.client_plan_limit",
    ),
    (
        "seat_price_cents",
        "practice: {seat_price_cents: %d}\n" % INT32,
        "practice.seat_price_cents",
    ),
    (
        "max_change_percent-1e32",
        "practice: {max_change_percent: 1.0e+32}\n",
        "practice.max_change_percent",
    ),
    (
        "max_change_percent-nan",
        "practice: {max_change_percent: .nan}\n",
        "practice.max_change_percent",
    ),
    (
        "max_change_percent-inf",
        "practice: {max_change_percent: .inf}\n",
        "practice.max_change_percent",
    ),
]


@pytest.mark.parametrize("body, field", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_out_of_range_config_number_is_a_located_error(tmp_path: Path, body: str, field: str) -> None:
    code, err = _validate(tmp_path, "version: 1\n" + body)
    assert code == 1, err
    assert "practice.yaml:" in err and field in err, err
    assert "unexpected" not in err and "Traceback" not in err


def test_largest_stored_config_numbers_are_valid(tmp_path: Path) -> None:
    code, err = _validate(
        tmp_path,
        "version: 1\npractice: {client_plan_limit: %d}\nstaff:\n"
        "  - {id: bsmith, max_caseload: %d}\n" % (INT32 - 1, INT32 - 1),
    )
    assert code == 0, err


def test_huge_max_caseload_cannot_reach_apply(tmp_path: Path) -> None:
    """The issue's case: valid, then `apply` ended with an OverflowError."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    fresh_db(url, PRACTICE_YAML).dispose()
    cfg = tmp_path / "practice"
    cfg.mkdir()
    (cfg / "p.yaml").write_text(
        MATCHING_CONFIG.replace(
            "{id: bsmith, name: Beth Smith, role: clinician}",
            f"{{id: bsmith, name: Beth Smith, role: clinician, max_caseload: {INT64}}}",
        )
    )
    result = CliRunner().invoke(
        main,
        [
            "apply",
            "-c",
            str(cfg),
            "--db",
            url,
            "--auto-approve",
            "--at",
            "2026-11-24T12:00:00-05:00",
        ],
    )
    assert result.exit_code == 1
    assert "p.yaml:" in result.stderr and "max_caseload" in result.stderr, result.stderr
    assert "unexpected" not in result.stderr


SNAP_BASE = """\
practice: {name: P, timezone: America/New_York, owner: alee, client_plan_limit: 10}
staff:
- {id: alee, name: Ana Lee, role: owner, access: entire_practice, max_caseload: 5}
clients:
- {id: C-1, first_name: A, last_name: B, primary: alee, balance_cents: 0}
series:
- {id: S-1, client: C-1, staff: alee, rrule: FREQ=WEEKLY, start: '2026-11-02T09:00:00-05:00', duration_minutes: 50}
"""

SNAP_CASES = [
    (
        "balance_cents",
        ("balance_cents: 0", f"balance_cents: {10**30}"),
        "clients[0] (C-1): balance_cents",
    ),
    (
        "balance_cents-int64",
        ("balance_cents: 0", f"balance_cents: {INT64}"),
        "clients[0] (C-1): balance_cents",
    ),
    (
        "duration_minutes",
        ("duration_minutes: 50", f"duration_minutes: {INT32}"),
        "series[0] (S-1): duration_minutes",
    ),
    (
        "max_caseload",
        ("max_caseload: 5", f"max_caseload: {INT32}"),
        "staff[0] (alee): max_caseload",
    ),
    (
        "client_plan_limit",
        ("client_plan_limit: 10", f"client_plan_limit: {INT32}"),
        "practice: client_plan_limit",
    ),
]


@pytest.mark.parametrize("edit, where", [c[1:] for c in SNAP_CASES], ids=[c[0] for c in SNAP_CASES])
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_out_of_range_snapshot_number_is_a_located_error(
    tmp_path: Path, edit: tuple[str, str], where: str, suffix: str
) -> None:
    import json

    import yaml

    text = SNAP_BASE.replace(*edit)
    if suffix == ".json":
        text = json.dumps(yaml.safe_load(text))
    path = tmp_path / f"snap{suffix}"
    path.write_text(text)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    fresh_db(url).dispose()
    result = CliRunner().invoke(main, ["db", "load", str(path), "--db", url])
    assert result.exit_code == 1, result.output
    assert str(path) in result.stderr and where.split(": ")[-1] in result.stderr, result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr


def test_largest_balance_loads_and_dumps(tmp_path: Path) -> None:
    path = tmp_path / "snap.yaml"
    path.write_text(SNAP_BASE.replace("balance_cents: 0", f"balance_cents: {INT64 - 1}"))
    url = f"sqlite:///{tmp_path / 'p.db'}"
    fresh_db(url).dispose()
    runner = CliRunner()
    assert runner.invoke(main, ["db", "load", str(path), "--db", url]).exit_code == 0
    assert f"balance_cents: {INT64 - 1}" in runner.invoke(main, ["db", "dump", "--db", url]).stdout


def test_out_of_range_numbers_in_a_plan_file_are_refused(tmp_path: Path) -> None:
    """A plan file's action id and seat credits land in INTEGER columns too."""
    import json

    from reconciler.app.executor import seat_credits
    from reconciler.app.workflow import load_plan
    from reconciler.errors import PlanRefused, ReconcilerError
    from reconciler.model.actions import Plan

    doc = {
        "format_version": 1,
        "generated_at": "2026-11-24T17:00:00Z",
        "as_of": "2026-11-24T17:00:00Z",
        "db_fingerprint": "sha256:0",
        "config_digest": "sha256:0",
        "actions": [
            {
                "id": INT64,
                "type": "staff.reactivate",
                "target": "tnguyen",
                "changes": {},
            }
        ],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ReconcilerError, match="out of range"):
        load_plan(path)
    doc["actions"][0]["id"] = 1
    plan = Plan.from_json({**doc, "extra": {"seat_credits": {"tnguyen": 10**30}}})
    with pytest.raises(PlanRefused, match="out of range"):
        seat_credits(plan)
