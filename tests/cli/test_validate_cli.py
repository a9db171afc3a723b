"""`reconciler validate`: exit codes, located messages, JSON shape, the database checks."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from constants import CONFIG_EXAMPLE_DIRS, ROOT
from dbhelpers import PRACTICE_YAML, fresh_db

from reconciler.app.validation import validate_config
from reconciler.cli import main
from reconciler.config.loader import load_config
from reconciler.errors import DatabaseError, Location, Problem
from reconciler.render.diagnostics import format_problems
from reconciler.targets.native.target import NativeTarget

EXAMPLES = ROOT / "examples"
AT = "2026-11-24T14:00:00Z"
NOW = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.timezone.utc)

BROKEN_ROLE = "version: 1\nstaff:\n  - id: alee\n  - id: bsmith\n    role: clinican\n"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["validate", *args])


def make_config(tmp_path: Path, files: dict[str, str]) -> Path:
    cfg = tmp_path / "practice"
    for name, text in files.items():
        (cfg / name).parent.mkdir(parents=True, exist_ok=True)
        (cfg / name).write_text(text, encoding="utf-8")
    return cfg


# ---------------------------------------------------------------- without a database
def test_schema_error_exits_1_with_located_message(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, {"staff.yaml": BROKEN_ROLE})
    result = run("-c", str(cfg))
    assert result.exit_code == 1
    assert f"{cfg}/staff.yaml:5: staff[1].role: Input should be 'owner'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_check_error_exits_1_with_located_message_and_summary(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path, {"staff.yaml": "version: 1\nstaff:\n  - {id: bsmith, active: false, successor: ghost}\n"}
    )
    result = run("-c", str(cfg))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{cfg}/staff.yaml:3: staff[0].successor: successor 'ghost' is not a declared staff member "
        "(successors must be declared)",
        "1 error, 0 warnings",
    ]
    assert result.stdout == ""


def test_unsafe_yaml_exits_1_without_traceback(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, {"a.yaml": "version: 1\nx: !!python/object/apply:os.system [id]\n"})
    result = run("-c", str(cfg))
    assert result.exit_code == 1
    assert f"{cfg}/a.yaml:2: YAML tag !!python/object/apply:os.system is not allowed" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_directory_exits_1(tmp_path: Path) -> None:
    result = run("-c", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_valid_config_exits_0_and_says_so() -> None:
    result = run("-c", str(EXAMPLES / "offboarding"))
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{EXAMPLES / 'offboarding'}: valid\n", "")


@pytest.mark.parametrize(
    ("files", "valid", "located"),
    [
        ({"a.yaml": "version: 1\nstaff:\n  - {id: bsmith}\n"}, True, []),
        ({"a.yaml": BROKEN_ROLE}, False, [("a.yaml", 5, "staff[1].role", "schema")]),
        (
            {"a.yaml": "version: 1\nclients:\n  - {id: C-1, duplicate_of: C-1}\n"},
            False,
            [("a.yaml", 3, "clients[0].duplicate_of", "duplicate_of")],
        ),
        ({"a.yaml": "version: 1\nx: &a [*a]\n"}, False, [("a.yaml", 2, "", "yaml")]),
    ],
    ids=["valid", "schema error", "check error", "yaml error"],
)
def test_json_format_shape(
    tmp_path: Path, files: dict[str, str], valid: bool, located: list[tuple[str, int, str, str]]
) -> None:
    cfg = make_config(tmp_path, files)
    result = run("-c", str(cfg), "--format", "json")
    assert result.exit_code == (0 if valid else 1)
    doc = json.loads(result.stdout)
    assert set(doc) == {"valid", "problems"} and doc["valid"] is valid
    assert [(Path(p["file"]).name, p["line"], p["field"], p["code"]) for p in doc["problems"]] == located
    for p in doc["problems"]:
        assert set(p) == {"file", "line", "field", "entity", "code", "severity", "message"}
        assert p["severity"] == "error"


def test_validate_without_db_imports_no_sqlalchemy_or_watchdog() -> None:
    script = textwrap.dedent(f"""
        import json, sys
        from reconciler.cli import main
        try:
            main(["validate", "-c", {str(EXAMPLES / "clients")!r}], standalone_mode=False)
        except SystemExit as exc:
            assert not exc.code, exc.code
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "watchdog", "psycopg", "alembic"))
        print(json.dumps(heavy))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


# ---------------------------------------------------------------- diagnostics rendering
def test_format_problems_lists_errors_then_warnings_sorted_with_summary() -> None:
    problems = [
        Problem(Location("b.yaml", 3, "staff[0].role"), "bad role"),
        Problem(Location(), "seat price unknown", "plan_warning", "warning"),
        Problem(Location("a.yaml", 9, "clients[1].primary"), "unknown primary"),
        Problem(Location("a.yaml", 2, "practice.owner"), "owner leaves later", "x", "warning"),
    ]
    assert format_problems(problems).splitlines() == [
        "a.yaml:9: clients[1].primary: unknown primary",
        "b.yaml:3: staff[0].role: bad role",
        "warning: seat price unknown",
        "a.yaml:2: practice.owner: warning: owner leaves later",
        "2 errors, 2 warnings",
    ]


def test_format_problems_summary_without_problems() -> None:
    assert format_problems([]) == "0 errors, 0 warnings"


# ---------------------------------------------------------------- with a database
def test_examples_validate_against_the_sample_database(db_url: str) -> None:
    fresh_db(db_url, PRACTICE_YAML)
    for example in CONFIG_EXAMPLE_DIRS:
        result = run("-c", str(example), "--db", db_url, "--at", AT, "--format", "json")
        assert result.exit_code == 0, (example.name, result.stdout, result.stderr)
        doc = json.loads(result.stdout)
        assert doc["valid"] is True
        assert all(p["severity"] == "warning" for p in doc["problems"])


@pytest.mark.parametrize(
    ("clients", "line", "field", "fragment"),
    [
        ("  - {id: C-9999, status: inactive}\n", 3, "clients[0].id", "client C-9999 does not exist in the database"),
        (
            "  - {id: C-1001, duplicate_of: C-9999}\n",
            3,
            "clients[0].duplicate_of",
            "duplicate_of C-9999: no such client in the config or the database",
        ),
    ],
    ids=["client entry missing from the database", "duplicate of a client found nowhere"],
)
def test_database_references_are_located_errors(
    db_url: str, tmp_path: Path, clients: str, line: int, field: str, fragment: str
) -> None:
    engine = fresh_db(db_url, PRACTICE_YAML)
    cfg = make_config(tmp_path, {"clients.yaml": "version: 1\nclients:\n" + clients})
    problems = validate_config(load_config(cfg), NativeTarget(engine), at_text=AT, now=NOW)
    assert [(p.location.line, p.location.field, p.code) for p in problems] == [(line, field, "unknown_client")]
    assert fragment in problems[0].message


def test_database_staff_may_be_referenced_without_being_declared(db_url: str, tmp_path: Path) -> None:
    engine = fresh_db(db_url, PRACTICE_YAML)
    cfg = make_config(tmp_path, {"clients.yaml": "version: 1\nclients:\n  - {id: C-1001, primary: jdoe}\n"})
    desired = load_config(cfg)
    assert [p.code for p in validate_config(desired, None, at_text=AT, now=NOW)] == ["unknown_staff"]
    assert [
        p for p in validate_config(desired, NativeTarget(engine), at_text=AT, now=NOW) if p.severity == "error"
    ] == []


def test_inactive_database_staff_is_no_primary(db_url: str, tmp_path: Path) -> None:
    engine = fresh_db(db_url, PRACTICE_YAML)
    cfg = make_config(tmp_path, {"clients.yaml": "version: 1\nclients:\n  - {id: C-1001, primary: tnguyen}\n"})
    problems = validate_config(load_config(cfg), NativeTarget(engine), at_text=AT, now=NOW)
    assert [(p.location.line, p.message) for p in problems] == [(3, "primary tnguyen is inactive in the database")]


def test_plan_invariants_are_reported(db_url: str, tmp_path: Path) -> None:
    fresh_db(db_url, PRACTICE_YAML)
    cfg = tmp_path / "handover"
    shutil.copytree(EXAMPLES / "handover", cfg)
    path = cfg / "practice.yaml"
    path.write_text(
        path.read_text().replace(
            "{id: jdoe, name: Jon Doe, role: clinician}", "{id: jdoe, name: Jon Doe, role: clinician, max_caseload: 2}"
        )
    )
    result = run("-c", str(cfg), "--db", db_url, "--at", AT)
    assert result.exit_code == 1
    assert "max_caseload 2" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == "1 error, 0 warnings"


def test_uninitialised_database_is_one_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run("-c", str(EXAMPLES / "offboarding"), "--db", url)
    assert result.exit_code == 1
    assert "not initialised" in result.stderr and "Traceback" not in result.stderr


def test_uninitialised_database_raises_database_error(db_url: str) -> None:
    from reconciler.targets.native.engine import make_engine

    with pytest.raises(DatabaseError):
        validate_config(load_config(EXAMPLES / "offboarding"), NativeTarget(make_engine(db_url)), at_text=AT, now=NOW)


def test_malformed_at_is_one_clear_error() -> None:
    result = run("-c", str(EXAMPLES / "offboarding"), "--at", "next tuesday")
    assert result.exit_code == 1
    assert "--at 'next tuesday' is not an ISO 8601 date or date-time" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_at_is_an_error_even_without_a_timezone(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, {"a.yaml": "version: 1\nstaff:\n  - {id: bsmith}\n"})
    result = run("-c", str(cfg), "--at", "2026-99-99")
    assert result.exit_code == 1 and "--at '2026-99-99'" in result.stderr
