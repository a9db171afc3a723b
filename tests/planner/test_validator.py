"""Static checks of the desired state: each rule gives exactly one located problem."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reconciler.config.loader import load_config
from reconciler.model.desired import DesiredState, PolicySpec, StaffSpec
from reconciler.planner.validator import check_desired

TODAY = dt.date(2026, 11, 24)

PRACTICE = """\
version: 1
practice: {timezone: America/New_York, owner: alee, clinical_director: mkhan}
staff:
  - {id: alee, role: owner}
  - {id: mkhan, role: clinical_director}
  - {id: jdoe, role: clinician}
  - {id: tnguyen, role: clinician, active: false}
"""


def load(tmp_path: Path, files: dict[str, str]) -> DesiredState:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    for name, text in {"practice.yaml": PRACTICE, **files}.items():
        (cfg / name).write_text(text, encoding="utf-8")
    return load_config(cfg)


def marked(files: dict[str, str]) -> tuple[str, int]:
    """(file name, line) of the line marked ``# <-`` in the case's files."""
    for name, text in files.items():
        for number, line in enumerate(text.splitlines(), start=1):
            if "# <-" in line:
                return name, number
    raise AssertionError("no '# <-' marker")


def staff(*lines: str) -> dict[str, str]:
    return {"case.yaml": "version: 1\nstaff:\n" + "".join(f"  - {line}\n" for line in lines)}


def clients(*lines: str) -> dict[str, str]:
    return {"case.yaml": "version: 1\nclients:\n" + "".join(f"  - {line}\n" for line in lines)}


def practice(mapping: str, *staff_lines: str) -> dict[str, str]:
    """A replacement practice.yaml with ``mapping`` as practice: and alee/mkhan/jdoe as staff."""
    lines = ["{id: alee, role: owner}", "{id: mkhan, role: clinical_director}", "{id: jdoe}", *staff_lines]
    return {"practice.yaml": f"version: 1\npractice: {mapping}\nstaff:\n" + "".join(f"  - {s}\n" for s in lines)}


# (files, field, code, message fragment); the offending line is marked "# <-"
ERROR_CASES = [
    pytest.param(
        staff("{id: bsmith, active: false, successor: nobody}  # <-"),
        "staff[0].successor",
        "unknown_staff",
        "'nobody' is not a declared staff member",
        id="successor not declared",
    ),
    pytest.param(
        staff("{id: bsmith, active: false, successor: bsmith}  # <-"),
        "staff[0].successor",
        "successor_cycle",
        "bsmith names themself as successor",
        id="own successor",
    ),
    pytest.param(
        staff("{id: bsmith, active: false, successor: cdavis}  # <-", "{id: cdavis, active: false, successor: bsmith}"),
        "staff[0].successor",
        "successor_cycle",
        "successor cycle: bsmith -> cdavis -> bsmith",
        id="successor cycle between two leavers is reported once",
    ),
    pytest.param(
        staff(
            "{id: bsmith, deactivate_on: 2026-12-31, successor: cdavis}  # <-",
            "{id: cdavis, deactivate_on: 2026-12-15, successor: bsmith}",
        ),
        "staff[0].successor",
        "successor_cycle",
        "bsmith -> cdavis -> bsmith",
        id="successor cycle through a successor leaving earlier",
    ),
    pytest.param(
        staff("{id: bsmith, active: false, successor: tnguyen}  # <-"),
        "staff[0].successor",
        "successor_inactive",
        "ends at tnguyen, who is inactive and names no successor",
        id="successor inactive without a successor of its own",
    ),
    pytest.param(
        staff(
            "{id: bsmith, deactivate_on: 2026-12-31, successor: cdavis}  # <-",
            "{id: cdavis, deactivate_on: 2026-12-15}",
        ),
        "staff[0].successor",
        "successor_inactive",
        "ends at cdavis, who is leaving on 2026-12-15",
        id="successor leaving earlier without a successor of its own",
    ),
    pytest.param(
        staff(
            "{id: bsmith, deactivate_on: 2026-12-31, successor: cdavis}  # <-",
            "{id: cdavis, deactivate_on: 2026-12-31}",
        ),
        "staff[0].successor",
        "successor_inactive",
        "ends at cdavis, who is leaving on 2026-12-31",
        id="successor leaving the same day",
    ),
    pytest.param(
        staff("{id: bsmith, active: false, offboarding: handover}  # <-"),
        "staff[0].offboarding",
        "missing_successor",
        "policy 'handover'",
        id="transfer policy without a successor",
    ),
    pytest.param(
        {
            "case.yaml": "version: 1\npolicies:\n  - {name: keep, clients_with_balance: successor}\n"
            "staff:\n  - {id: bsmith, deactivate_on: 2027-01-04, offboarding: keep}  # <-\n"
        },
        "staff[0].offboarding",
        "missing_successor",
        "names no successor",
        id="balances to the successor without a successor",
    ),
    pytest.param(
        practice("{default_policy: handover}", "{id: bsmith, active: false}  # <-"),
        "staff[3]",
        "missing_successor",
        "policy 'handover'",
        id="default policy needs a successor the leaver lacks",
    ),
    pytest.param(
        staff("{id: bsmith, offboarding: gentle}  # <-"),
        "staff[0].offboarding",
        "unknown_policy",
        "unknown policy 'gentle'",
        id="unknown offboarding policy",
    ),
    pytest.param(
        practice("{default_policy: gentle}  # <-"),
        "practice.default_policy",
        "unknown_policy",
        "unknown policy 'gentle'",
        id="unknown default policy",
    ),
    pytest.param(
        {"case.yaml": "version: 1\npolicies:\n  - name: p\n    clients_with_balance: nobody  # <-\n"},
        "policies[0].clients_with_balance",
        "unknown_staff",
        "'nobody' is not a declared staff member",
        id="balance target not declared",
    ),
    pytest.param(
        {"case.yaml": "version: 1\npolicies:\n  - name: p\n    clients_with_balance: tnguyen  # <-\n"},
        "policies[0].clients_with_balance",
        "unknown_staff",
        "tnguyen is inactive",
        id="balance target inactive",
    ),
    pytest.param(
        practice("{owner: alee, clinical_director: zz}  # <-"),
        "practice.clinical_director",
        "unknown_staff",
        "'zz' is not a declared staff member",
        id="clinical director not declared",
    ),
    pytest.param(
        practice("{owner: nobody}  # <-"),
        "practice.owner",
        "unknown_staff",
        "owner 'nobody' is not a declared staff member",
        id="owner not declared",
    ),
    pytest.param(
        {"practice.yaml": "version: 1\npractice: {owner: alee}\nstaff:\n  - id: alee\n    active: false  # <-\n"},
        "staff[0].active",
        "practice_role",
        "alee is the practice owner",
        id="owner deactivated while the practice names them",
    ),
    pytest.param(
        {
            "practice.yaml": "version: 1\npractice: {clinical_director: mkhan}\nstaff:\n"
            "  - id: mkhan\n    deactivate_on: 2027-01-01  # <-\n"
        },
        "staff[0].deactivate_on",
        "practice_role",
        "mkhan is the practice clinical director",
        id="clinical director leaving while the practice names them",
    ),
    pytest.param(
        practice("{timezone: Mars/Olympus_Mons}  # <-"),
        "practice.timezone",
        "timezone",
        "unknown IANA timezone 'Mars/Olympus_Mons'",
        id="unknown timezone",
    ),
    pytest.param(
        clients("{id: C-1, primary: nobody}  # <-"),
        "clients[0].primary",
        "unknown_staff",
        "'nobody' is not a declared staff member",
        id="primary not declared",
    ),
    pytest.param(
        clients("{id: C-1, primary: tnguyen}  # <-"),
        "clients[0].primary",
        "unknown_staff",
        "tnguyen is inactive",
        id="primary inactive",
    ),
    pytest.param(
        {
            "case.yaml": "version: 1\nstaff:\n  - {id: bsmith, deactivate_on: 2026-11-01}\n"
            "clients:\n  - {id: C-1, primary: bsmith}  # <-\n"
        },
        "clients[0].primary",
        "unknown_staff",
        "bsmith is inactive since 2026-11-01",
        id="primary left before today",
    ),
    pytest.param(
        clients("{id: C-1, status: deleted, primary: jdoe}  # <-"),
        "clients[0].primary",
        "contradiction",
        "to be deleted but names a primary",
        id="deleted client with a primary",
    ),
    pytest.param(
        clients("{id: C-1, duplicate_of: C-1}  # <-"),
        "clients[0].duplicate_of",
        "duplicate_of",
        "cannot be a duplicate of itself",
        id="duplicate of itself",
    ),
    pytest.param(
        clients("{id: C-2, duplicate_of: C-1}  # <-", "{id: C-1, duplicate_of: C-3}"),
        "clients[0].duplicate_of",
        "duplicate_of",
        "C-1 is itself a duplicate of C-3",
        id="duplicate of a duplicate",
    ),
    pytest.param(
        clients("{id: C-2, duplicate_of: C-1}  # <-", "{id: C-1, status: deleted}"),
        "clients[0].duplicate_of",
        "duplicate_of",
        "C-1 is to be deleted",
        id="duplicate of a client to be deleted",
    ),
    pytest.param(
        clients("{id: C-2, status: active, duplicate_of: C-1}  # <-"),
        "clients[0].status",
        "contradiction",
        "status active contradicts duplicate_of",
        id="active duplicate",
    ),
]


@pytest.mark.parametrize(("files", "field", "code", "fragment"), ERROR_CASES)
def test_each_mistake_is_one_located_error(
    tmp_path: Path, files: dict[str, str], field: str, code: str, fragment: str
) -> None:
    # known_staff={}: against a database that holds none of these ids. (Without a
    # database an undeclared id is only a warning: it may be a staff member the
    # database holds, which plan accepts; see test_undeclared_reference_without_database.)
    problems = check_desired(load(tmp_path, files), today=TODAY, known_staff={})
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    name, line = marked(files)
    assert (Path(problem.location.file or "").name, problem.location.line) == (name, line)
    assert (problem.location.field, problem.code, problem.severity) == (field, code, "error")
    assert fragment in problem.message


VALID_CASES = [
    pytest.param(
        staff("{id: bsmith, deactivate_on: 2026-12-15, successor: cdavis}", "{id: cdavis, deactivate_on: 2026-12-31}"),
        id="successor leaving later",
    ),
    pytest.param(
        staff(
            "{id: bsmith, active: false, successor: cdavis, offboarding: handover}",
            "{id: cdavis, active: false, successor: jdoe}",
        ),
        id="chain through an inactive successor ends at an active one",
    ),
    pytest.param(
        staff(
            "{id: bsmith, deactivate_on: 2026-12-31, successor: cdavis, offboarding: handover}",
            "{id: cdavis, deactivate_on: 2026-12-01, successor: jdoe}",
        ),
        id="chain through a successor leaving earlier ends at an active one",
    ),
    pytest.param(
        staff("{id: bsmith, successor: cdavis}", "{id: cdavis, successor: bsmith}"),
        id="staff who stay may name each other",
    ),
    pytest.param(
        staff("{id: bsmith, active: false, deactivate_on: 2027-01-01}"),
        id="active false with a deactivation date is inactive now",
    ),
    pytest.param(staff("{id: bsmith, active: false}"), id="standard policy needs no successor"),
    pytest.param(
        {"case.yaml": "version: 1\npolicies:\n  - {name: p, clients_with_balance: jdoe}\n"},
        id="balance target is an active staff id",
    ),
    pytest.param(
        {
            "case.yaml": "version: 1\nstaff:\n  - {id: bsmith, deactivate_on: 2026-12-31}\n"
            "clients:\n  - {id: C-1, primary: bsmith}\n"
        },
        id="primary leaving later this year",
    ),
    pytest.param(
        clients(
            "{id: C-1, status: deleted}",
            "{id: C-2, duplicate_of: C-99}",
            "{id: C-3, status: inactive}",
            "{id: C-4, duplicate_of: C-3, status: inactive}",
        ),
        id="client housekeeping",
    ),
]


@pytest.mark.parametrize("files", VALID_CASES)
def test_valid_configs_have_no_problems(tmp_path: Path, files: dict[str, str]) -> None:
    assert [str(p) for p in check_desired(load(tmp_path, files), today=TODAY)] == []


def test_without_a_date_a_past_deactivation_is_not_guessed(tmp_path: Path) -> None:
    files = {
        "case.yaml": "version: 1\nstaff:\n  - {id: bsmith, deactivate_on: 2026-11-01}\n"
        "clients:\n  - {id: C-1, primary: bsmith}\n"
    }
    assert check_desired(load(tmp_path, files), today=None) == []


@pytest.mark.parametrize(
    ("known", "expected"),
    [
        ({"dbonly": True}, []),
        ({"dbonly": False}, ["primary dbonly is inactive in the database"]),
        ({}, ["primary 'dbonly' is not a declared staff member"]),
    ],
    ids=["database staff may be a primary", "inactive database staff may not", "unknown everywhere"],
)
def test_known_database_staff_satisfy_references(tmp_path: Path, known: dict[str, bool], expected: list[str]) -> None:
    desired = load(tmp_path, clients("{id: C-1, primary: dbonly}"))
    assert [p.message for p in check_desired(desired, today=TODAY, known_staff=known)] == expected


def test_successors_must_be_declared_even_if_the_database_knows_them(tmp_path: Path) -> None:
    desired = load(tmp_path, staff("{id: bsmith, active: false, successor: dbonly}"))
    problems = check_desired(desired, today=TODAY, known_staff={"dbonly": True})
    assert [p.code for p in problems] == ["unknown_staff"]


def test_problems_are_sorted_by_place(tmp_path: Path) -> None:
    desired = load(tmp_path, clients("{id: C-1, primary: x}", "{id: C-2, primary: y}", "{id: C-3, duplicate_of: C-3}"))
    assert [p.location.line for p in check_desired(desired, today=TODAY, known_staff={})] == [3, 4, 5]


def test_undeclared_reference_without_database_is_a_warning(tmp_path: Path) -> None:
    """validate without --db cannot know the database's staff; plan accepts one it holds."""
    desired = load(tmp_path, practice("{owner: alee, clinical_director: zz}  # <-"))
    [problem] = check_desired(desired, today=TODAY)
    assert (problem.severity, problem.location.field) == ("warning", "practice.clinical_director")
    assert "must be an active staff member in the database" in problem.message


def test_unlocated_desired_state_still_names_the_entity() -> None:
    desired = DesiredState(
        staff=(StaffSpec(id="bsmith", active=False, successor="ghost"),), policies=(PolicySpec(name="standard"),)
    )
    [problem] = check_desired(desired)
    assert str(problem.location) == "staff bsmith"
