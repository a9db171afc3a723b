"""`reconciler plan`: exit codes and JSON output (SPEC §4), on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from constants import AT, ROOT
from dbhelpers import MATCHING_CONFIG, PRACTICE_YAML, fresh_db

from reconciler.cli import main

MATCHING = MATCHING_CONFIG


@pytest.fixture
def db(db_url: str) -> str:
    fresh_db(db_url, PRACTICE_YAML).dispose()
    return db_url


def _config(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "cfg"
    d.mkdir(exist_ok=True)
    (d / "practice.yaml").write_text(text, encoding="utf-8")
    return d


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["plan", *args])
    return r.exit_code, r.stdout, r.stderr


CASES = [
    ("changes, plain exit", "offboarding", [], 0),
    ("changes, detailed exit", "offboarding", ["--detailed-exitcode"], 2),
    ("scheduled, detailed exit", "scheduled", ["--detailed-exitcode"], 2),
]


@pytest.mark.parametrize("scenario,flags,code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_exit_codes_with_changes(db: str, scenario: str, flags: list[str], code: int) -> None:
    rc, out, err = run("-c", str(ROOT / "examples" / scenario), "--db", db, "--at", AT, "--format", "json", *flags)
    assert rc == code, err
    doc = json.loads(out)
    assert doc["as_of"] == AT and doc["actions"] and doc["db_fingerprint"].startswith("sha256:")
    assert [a["id"] for a in doc["actions"]] == list(range(1, len(doc["actions"]) + 1))


@pytest.mark.parametrize("flags", [[], ["--detailed-exitcode"]], ids=["plain", "detailed"])
def test_empty_plan_exits_0(db: str, tmp_path: Path, flags: list[str]) -> None:
    rc, out, err = run("-c", str(_config(tmp_path, MATCHING)), "--db", db, "--at", AT, "--format", "json", *flags)
    assert rc == 0, err
    assert json.loads(out)["actions"] == []


def test_invariant_error_exits_1_naming_the_entity(db: str, tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        MATCHING.replace(
            "{id: alee, name: Ana Lee, role: owner}", "{id: alee, name: Ana Lee, role: owner, active: false}"
        ),
    )
    rc, out, err = run("-c", str(cfg), "--db", db, "--at", AT, "--format", "json", "--detailed-exitcode")
    assert rc == 1 and out == ""
    # The static check's words, as `validate` reports them (the planner is not reached).
    assert "practice.yaml:4" in err and "alee is the practice owner" in err and "Traceback" not in err


def test_blast_radius_refusal_exits_1_unless_allowed(db: str, tmp_path: Path) -> None:
    text = MATCHING
    for who in ("bsmith", "jdoe", "cdavis"):
        text = text.replace(f"{{id: {who}, ", f"{{id: {who}, active: false, ")
    cfg = _config(tmp_path, text)
    rc, _, err = run("-c", str(cfg), "--db", db, "--at", AT, "--format", "json")
    assert rc == 1 and "--allow-mass-change" in err
    rc, out, err = run(
        "-c", str(cfg), "--db", db, "--at", AT, "--format", "json", "--allow-mass-change", "--detailed-exitcode"
    )
    assert rc == 2, err
    assert json.loads(out)["summary"]["staff.deactivate"] == 3


def test_out_saves_the_plan_with_its_scope(db: str, tmp_path: Path) -> None:
    out_file = tmp_path / "plan.json"
    rc, out, err = run(
        "-c", str(ROOT / "examples" / "handover"), "--db", db, "--at", AT, "--format", "json", "--out", str(out_file)
    )
    assert rc == 0, err
    saved = json.loads(out_file.read_text())
    assert saved["scope"]["now_staff"] == ["cdavis", "tnguyen"]
    assert saved["plan_id"] == json.loads(out)["plan_id"]


def test_bad_at_exits_1(db: str) -> None:
    rc, _, err = run(
        "-c", str(ROOT / "examples" / "offboarding"), "--db", db, "--at", "next tuesday", "--format", "json"
    )
    assert rc == 1 and "--at" in err
