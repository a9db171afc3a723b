"""Smaller edges (issue 11, item 6), one test each."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from dbhelpers import MATCHING_CONFIG, PRACTICE_YAML, fresh_db

from reconciler.cli import main

AT = "2026-11-24T12:00:00-05:00"
LEAVE = MATCHING_CONFIG.replace(
    "{id: bsmith, name: Beth Smith, role: clinician}",
    "{id: bsmith, name: Beth Smith, role: clinician, active: false, successor: jdoe}",
)


def run(*args: str, env: dict[str, str] | None = None) -> object:
    return CliRunner(env={"RECONCILER_DB": None, "RECONCILER_ACTOR": "alee", **(env or {})}).invoke(main, list(args))


def practice(tmp_path: Path, config: str = MATCHING_CONFIG) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    fresh_db(url, PRACTICE_YAML).dispose()
    cfg = tmp_path / "practice"
    cfg.mkdir()
    (cfg / "p.yaml").write_text(config)
    return url, cfg


def test_empty_db_option_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fresh_db(f"sqlite:///{tmp_path / 'practice.db'}", PRACTICE_YAML).dispose()  # the default database
    result = run("status", "--db", "")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "--db" in result.stderr and "empty" in result.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize("cmd", ["plan", "export"])
def test_out_with_a_missing_parent_directory_is_an_error(tmp_path: Path, cmd: str) -> None:
    url, cfg = practice(tmp_path)
    out = tmp_path / "no" / "such" / "file.json"
    args = (
        ["plan", "-c", str(cfg), "--at", AT] if cmd == "plan" else ["export", "--staff", "bsmith", "--format", "fhir"]
    ) + ["--out", str(out), "--db", url]
    result = run(*args)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and str(tmp_path / "no") in lines[0] and "does not exist" in lines[0], lines
    assert not (tmp_path / "no").exists()


def test_apply_planfile_with_a_missing_config_directory_is_an_error(
    tmp_path: Path,
) -> None:
    url, cfg = practice(tmp_path, LEAVE)
    assert (
        run(
            "plan",
            "-c",
            str(cfg),
            "--db",
            url,
            "--at",
            AT,
            "--out",
            str(tmp_path / "p.json"),
        ).exit_code
        == 0
    )  # type: ignore[attr-defined]
    result = run(
        "apply",
        str(tmp_path / "p.json"),
        "-c",
        str(tmp_path / "nope"),
        "--db",
        url,
        "--auto-approve",
    )
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert f"{tmp_path / 'nope'}" in result.stderr and "does not exist" in result.stderr  # type: ignore[attr-defined]


def test_plan_made_against_another_database_is_refused_as_such(tmp_path: Path) -> None:
    url, cfg = practice(tmp_path, LEAVE)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    fresh_db(other, PRACTICE_YAML).dispose()  # same rows, another database
    assert (
        run(
            "plan",
            "-c",
            str(cfg),
            "--db",
            url,
            "--at",
            AT,
            "--out",
            str(tmp_path / "p.json"),
        ).exit_code
        == 0
    )  # type: ignore[attr-defined]
    result = run("apply", str(tmp_path / "p.json"), "-c", str(cfg), "--db", other, "--auto-approve")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "made against another database" in result.stderr, result.stderr  # type: ignore[attr-defined]
    assert "stale" not in result.stderr  # type: ignore[attr-defined]
    # ... and against its own database it applies.
    again = run(
        "apply",
        str(tmp_path / "p.json"),
        "-c",
        str(cfg),
        "--db",
        url,
        "--at",
        AT,
        "--allow-time-travel",
        "--auto-approve",
    )
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]


def test_db_init_on_an_initialised_database_says_only_nothing_to_do(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    first = run("db", "init", "--db", url)
    assert first.exit_code == 0 and "database initialised" in first.output  # type: ignore[attr-defined]
    again = run("db", "init", "--db", url)
    assert again.exit_code == 0  # type: ignore[attr-defined]
    assert "nothing to do" in again.output and "database initialised" not in again.output  # type: ignore[attr-defined]


def test_apply_of_one_action_says_one_action(tmp_path: Path) -> None:
    config = MATCHING_CONFIG.replace(
        "{id: tnguyen, name: Tam Nguyen, role: clinician, active: false}",
        "{id: tnguyen, name: Tam Nguyen, role: clinician, active: true}",
    )
    url, cfg = practice(tmp_path, config)
    result = run("apply", "-c", str(cfg), "--db", url, "--at", AT, "--allow-time-travel", "--auto-approve")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "Apply complete: 1 action, 1 audit event (plan" in result.stdout  # type: ignore[attr-defined]


SCHEMA_ERROR = "version: 1\nstaff:\n  - {id: bsmith, role: clinican}\n"
CHECK_ERROR = "version: 1\nstaff:\n  - {id: bsmith, active: false, successor: ghost}\n"


@pytest.mark.parametrize("body", [SCHEMA_ERROR, CHECK_ERROR], ids=["schema", "check"])
@pytest.mark.parametrize("cmd", ["validate", "plan"])
def test_config_errors_have_one_shape(tmp_path: Path, body: str, cmd: str) -> None:
    """validate and plan, schema errors and check errors: located lines, then a count."""
    url, cfg = practice(tmp_path, body)
    args = ["validate", "-c", str(cfg)] if cmd == "validate" else ["plan", "-c", str(cfg), "--db", url, "--at", AT]
    result = run(*args)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{cfg / 'p.yaml'}:3: staff[0]."), lines
    assert lines[1] == "1 error, 0 warnings", lines


def test_validate_help_tells_the_truth_about_db() -> None:
    result = run("validate", "--help")
    text = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "$RECONCILER_DB" not in text.split("--db")[1].split("--")[0] or "not read" in text, text
    assert "no database" in text.lower(), text


def test_validate_without_db_ignores_reconciler_db(tmp_path: Path) -> None:
    """What the help says: validate uses a database only when --db names one."""
    cfg = tmp_path / "practice"
    cfg.mkdir()
    (cfg / "p.yaml").write_text(MATCHING_CONFIG)
    result = run(
        "validate",
        "-c",
        str(cfg),
        env={"RECONCILER_DB": f"sqlite:///{tmp_path / 'missing.db'}"},
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]


def test_validate_without_db_accepts_a_clinical_director_plan_accepts(
    tmp_path: Path,
) -> None:
    """mkhan is not declared in the config but is in the database: plan accepts it,
    so validate without a database cannot reject it (a warning says what to check)."""
    config = (
        "version: 1\npractice: {timezone: America/New_York, owner: alee, clinical_director: mkhan}\n"
        "staff:\n  - {id: alee, name: Ana Lee, role: owner}\n"
    )
    url, cfg = practice(tmp_path, config)
    assert run("plan", "-c", str(cfg), "--db", url, "--at", AT).exit_code == 0  # type: ignore[attr-defined]
    result = run("validate", "-c", str(cfg))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "warning:" in result.stderr and "mkhan" in result.stderr  # type: ignore[attr-defined]
    # With the database, an unknown id is still an error.
    bad = config.replace("clinical_director: mkhan", "clinical_director: nobody")
    (cfg / "p.yaml").write_text(bad)
    assert run("validate", "-c", str(cfg), "--db", url).exit_code == 1  # type: ignore[attr-defined]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare and mount")
def test_read_only_sqlite_database_can_be_planned(tmp_path: Path) -> None:
    """The database on a read-only mount (a bind mount in a private mount namespace)."""
    url, cfg = practice(tmp_path, LEAVE)
    src, ro = tmp_path / "p.db", tmp_path / "ro"
    ro.mkdir()
    script = (
        f"mount --bind {tmp_path} {ro} && mount -o remount,bind,ro {ro} && "
        f"{sys.executable} -m reconciler.cli plan -c {cfg} --db sqlite:///{ro / src.name} --at {AT}"
    )
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --bind {tmp_path} {ro}"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip("cannot make a read-only mount here")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "staff.deactivate" in proc.stdout or "bsmith" in proc.stdout


def test_deactivate_on_before_1900_is_a_warning(tmp_path: Path) -> None:
    config = MATCHING_CONFIG.replace(
        "{id: bsmith, name: Beth Smith, role: clinician}",
        "{id: bsmith, name: Beth Smith, role: clinician, deactivate_on: 0001-01-01, successor: jdoe}",
    )
    url, cfg = practice(tmp_path, config)
    result = run("validate", "-c", str(cfg))
    assert "warning:" in result.stderr and "0001-01-01" in result.stderr, result.output  # type: ignore[attr-defined]
    plan = run("plan", "-c", str(cfg), "--db", url, "--at", AT)
    assert "0001-01-01" in plan.output and "1900" in plan.output, plan.output  # type: ignore[attr-defined]
