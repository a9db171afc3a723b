"""Static checks of the desired state: each rule gives exactly one located problem."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from reconciler.config.loader import load_config
from reconciler.errors import ReconcilerError
from reconciler.model.desired import ClientSpec, DesiredState, PolicySpec, StaffSpec
from reconciler.model.records import DbFacts
from reconciler.planner.validator import check_desired, db_reference_problems, validation_day

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
    assert (problem.severity, problem.location.field, problem.code) == (
        "warning",
        "practice.clinical_director",
        "unknown_staff",
    )
    assert "must be an active staff member in the database" in problem.message


def test_unlocated_desired_state_still_names_the_entity() -> None:
    desired = DesiredState(
        staff=(StaffSpec(id="bsmith", active=False, successor="ghost"),), policies=(PolicySpec(name="standard"),)
    )
    [problem] = check_desired(desired)
    assert str(problem.location) == "staff bsmith"


# ---------------------------------------------------------------- db_reference_problems: entries the database lacks
@pytest.mark.parametrize(
    ("entries", "in_db", "expected"),
    [
        (("{id: C-1}",), {"C-1"}, []),
        (
            ("{id: C-1}", "{id: C-2, status: inactive}"),
            {"C-1"},
            [("case.yaml:4: clients[1].id", "client C-2 does not exist in the database")],
        ),
        (
            ("{id: C-1, duplicate_of: C-9}",),
            {"C-1"},
            [
                (
                    "case.yaml:3: clients[0].duplicate_of",
                    "duplicate_of C-9: no such client in the config or the database",
                )
            ],
        ),
        (("{id: C-1, duplicate_of: C-9}",), {"C-1", "C-9"}, []),
        (
            ("{id: C-1, duplicate_of: C-2}", "{id: C-2, status: inactive}"),
            {"C-1"},
            [("case.yaml:4: clients[1].id", "client C-2 does not exist in the database")],
        ),
        (
            ("{id: C-1, duplicate_of: C-1}",),
            set(),
            [("case.yaml:3: clients[0].id", "client C-1 does not exist in the database")],
        ),
        (
            ("{id: C-1, duplicate_of: C-9}",),
            set(),
            [
                ("case.yaml:3: clients[0].id", "client C-1 does not exist in the database"),
                (
                    "case.yaml:3: clients[0].duplicate_of",
                    "duplicate_of C-9: no such client in the config or the database",
                ),
            ],
        ),
    ],
    ids=[
        "entry in the database",
        "entry missing from the database",
        "duplicate_of found nowhere",
        "duplicate_of in the database",
        "duplicate_of declared in the config: its own entry is reported",
        "duplicate of itself: the config check's, not this one's",
        "both missing",
    ],
)
def test_client_entries_and_duplicate_targets_must_exist_in_the_database(
    tmp_path: Path, entries: tuple[str, ...], in_db: set[str], expected: list[tuple[str, str]]
) -> None:
    desired = load(tmp_path, clients(*entries))
    facts = DbFacts(timezone="America/New_York", staff={}, clients=frozenset(in_db))
    problems = db_reference_problems(desired, facts)
    placed = [
        (f"{Path(p.location.file or '').name}:{p.location.line}: {p.location.field}", p.message) for p in problems
    ]
    assert placed == expected
    assert all(p.code == "unknown_client" for p in problems)


def test_an_unknown_client_is_named_even_without_locations() -> None:
    desired = DesiredState(clients=(ClientSpec(id="C-7", duplicate_of="C-8"),), policies=(PolicySpec(name="standard"),))
    problems = db_reference_problems(desired, DbFacts(timezone=None, staff={}, clients=frozenset()))
    assert [(p.code, p.message) for p in problems] == [
        ("unknown_client", "client C-7 does not exist in the database"),
        ("unknown_client", "duplicate_of C-8: no such client in the config or the database"),
    ]


# ---------------------------------------------------------------- validation_day: --at, else now, in the practice's zone
NOW = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.timezone.utc)  # 22:00 on the 24th in New York


@pytest.mark.parametrize(
    ("at_text", "timezone", "expected"),
    [
        (None, "America/New_York", dt.date(2026, 11, 24)),
        (None, "Europe/Berlin", dt.date(2026, 11, 25)),
        ("2026-12-01", "America/New_York", dt.date(2026, 12, 1)),
        ("2026-12-01T02:00:00Z", "America/New_York", dt.date(2026, 11, 30)),
        ("2026-12-01T02:00:00", "America/New_York", dt.date(2026, 12, 1)),
        (None, None, None),
        ("2026-12-01", None, None),
        (None, "Mars/Olympus", None),
    ],
    ids=[
        "now, local date behind UTC",
        "now, local date ahead",
        "--at date",
        "--at UTC time, local date earlier",
        "--at naive time is local",
        "no timezone: no date",
        "no timezone, --at given: still no date",
        "unknown timezone: no date (the validator reports it)",
    ],
)
def test_validation_day_is_the_local_date_of_at_or_now(
    at_text: str | None, timezone: str | None, expected: dt.date | None
) -> None:
    assert validation_day(at_text, NOW, timezone) == expected


@pytest.mark.parametrize("timezone", ["America/New_York", None, "Mars/Olympus"])
def test_validation_day_rejects_a_malformed_at_whatever_the_timezone(timezone: str | None) -> None:
    with pytest.raises(ReconcilerError, match="not an ISO 8601 date"):
        validation_day("next tuesday", NOW, timezone)


# ---------------------------------------------------------------- exact words and places of some rules
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            staff("{id: bsmith, offboarding: nope}"),
            ("case.yaml:3: staff[0].offboarding", "unknown policy 'nope' (known: handover, standard)"),
        ),
        (
            {
                "case.yaml": "version: 1\nstaff:\n  - {id: bsmith, deactivate_on: 2026-11-24}\nclients:\n  - {id: C-1, primary: bsmith}\n"
            },
            ("case.yaml:5: clients[0].primary", "primary bsmith is inactive since 2026-11-24 (case.yaml:3)"),
        ),
        (
            staff("{id: bsmith, active: false, successor: cdavis}", "{id: cdavis, deactivate_on: 2026-11-01}"),
            (
                "case.yaml:3: staff[0].successor",
                "successor chain bsmith -> cdavis ends at cdavis, who is leaving on 2026-11-01 and names no successor",
            ),
        ),
    ],
    ids=[
        "unknown policy lists the known ones",
        "leaving today is inactive today",
        "an inactive leaver's chain is walked as of today: a successor gone by date ends it",
    ],
)
def test_the_problem_names_the_rule_in_full(tmp_path: Path, files: dict[str, str], expected: tuple[str, str]) -> None:
    problems = check_desired(load(tmp_path, files), today=TODAY)
    assert [(str(p.location).rsplit("/", 1)[-1], p.message.replace(f"{tmp_path}/cfg/", "")) for p in problems] == [
        expected
    ]


def test_a_second_place_is_file_and_line_only_when_both_are_known() -> None:
    from reconciler.errors import Location

    base = DesiredState(
        staff=(StaffSpec(id="bsmith", deactivate_on=dt.date(2026, 11, 1)),),
        clients=(ClientSpec(id="C-1", primary="bsmith"),),
        policies=(PolicySpec(name="standard"),),
    )
    for locations, place in [
        ({}, "staff:bsmith.deactivate_on"),
        ({"staff:bsmith.deactivate_on": Location(file="staff.yaml")}, "staff:bsmith.deactivate_on"),
        ({"staff:bsmith.deactivate_on": Location(line=3)}, "staff:bsmith.deactivate_on"),
        ({"staff:bsmith.deactivate_on": Location(file="staff.yaml", line=3)}, "staff.yaml:3"),
    ]:
        d = dataclasses.replace(base, **{"locations": locations})
        assert [p.message for p in check_desired(d, today=TODAY)] == [
            f"primary bsmith is inactive since 2026-11-01 ({place})"
        ]


def test_each_successor_cycle_is_reported_once_at_the_first_leaver_entering_it(tmp_path: Path) -> None:
    files = staff(
        "{id: bsmith, active: false, successor: cdavis}",
        "{id: cdavis, active: false, successor: bsmith}",
        "{id: dlee, active: false, successor: elin}",
        "{id: elin, active: false, successor: fox}",
        "{id: fox, active: false, successor: elin}",
    )
    problems = check_desired(load(tmp_path, files), today=TODAY)
    assert [(p.code, str(p.location).rsplit("/", 1)[-1], p.message) for p in problems] == [
        (
            "successor_cycle",
            "case.yaml:3: staff[0].successor",
            "successor cycle: bsmith -> cdavis -> bsmith (nobody in it stays)",
        ),
        (
            "successor_cycle",
            "case.yaml:5: staff[2].successor",
            "successor cycle: dlee -> elin -> fox -> elin (nobody in it stays)",
        ),
    ]


def test_a_chain_that_ends_is_named_at_its_last_link_for_every_leaver_on_it(tmp_path: Path) -> None:
    files = staff(
        "{id: bsmith, active: false, successor: cdavis}",
        "{id: cdavis, active: false, successor: dlee}",
        "{id: dlee, deactivate_on: 2026-11-01}",
    )
    problems = check_desired(load(tmp_path, files), today=TODAY)
    assert [(p.code, str(p.location).rsplit("/", 1)[-1], p.message) for p in problems] == [
        (
            "successor_inactive",
            "case.yaml:3: staff[0].successor",
            "successor chain bsmith -> cdavis -> dlee ends at dlee, who is leaving on 2026-11-01 and names no successor",
        ),
        (
            "successor_inactive",
            "case.yaml:4: staff[1].successor",
            "successor chain cdavis -> dlee ends at dlee, who is leaving on 2026-11-01 and names no successor",
        ),
    ]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            clients("{id: C-1, duplicate_of: C-2, primary: jdoe}"),
            [
                (
                    "contradiction",
                    "case.yaml:3: clients[0].primary",
                    "client C-1 is marked a duplicate (made inactive) but names a primary (jdoe)",
                )
            ],
        ),
        (
            staff("{id: bsmith, successor: bsmith}", "{id: cdavis, successor: ghost}", "{id: dlee, offboarding: nope}"),
            [
                ("successor_cycle", "case.yaml:3: staff[0].successor", "bsmith names themself as successor"),
                (
                    "unknown_staff",
                    "case.yaml:4: staff[1].successor",
                    "successor 'ghost' is not a declared staff member (successors must be declared)",
                ),
                (
                    "unknown_policy",
                    "case.yaml:5: staff[2].offboarding",
                    "unknown policy 'nope' (known: handover, standard)",
                ),
            ],
        ),
        (
            practice(
                "{timezone: America/New_York, owner: alee, clinical_director: mkhan, default_policy: handover}",
                "{id: bsmith, active: false}",
            ),
            [
                (
                    "missing_successor",
                    "practice.yaml:7: staff[3]",
                    "bsmith leaves with policy 'handover', which hands work to a successor, but names no successor",
                )
            ],
        ),
    ],
    ids=[
        "a duplicate naming a primary",
        "a bad successor does not stop the checks of later entries",
        "the default policy hands over but no successor is named",
    ],
)
def test_each_rule_reports_its_code_place_and_words(
    tmp_path: Path, files: dict[str, str], expected: list[tuple[str, str, str]]
) -> None:
    problems = check_desired(load(tmp_path, files), today=TODAY)
    assert [(p.code, str(p.location).rsplit("/", 1)[-1], p.message) for p in problems] == expected


def test_every_client_entry_is_checked_whatever_the_one_before_said(tmp_path: Path) -> None:
    files = clients(
        "{id: C-1, duplicate_of: C-1}",
        "{id: C-2, duplicate_of: C-DB}",
        "{id: C-3, status: deleted, primary: jdoe}",
    )
    problems = check_desired(load(tmp_path, files), today=TODAY)
    assert [(p.code, str(p.location).rsplit("/", 1)[-1], p.message) for p in problems] == [
        ("duplicate_of", "case.yaml:3: clients[0].duplicate_of", "client C-1 cannot be a duplicate of itself"),
        ("contradiction", "case.yaml:5: clients[2].primary", "client C-3 is to be deleted but names a primary (jdoe)"),
    ]


# ---------------------------------------------------------------- further rules, word for word
@pytest.mark.parametrize(
    ("day", "warned"),
    [("1899-12-31", True), ("0001-01-01", True), ("1900-01-01", False)],
    ids=["the day before 1900", "year one", "1900 itself"],
)
def test_a_deactivation_date_before_1900_is_a_located_warning(tmp_path: Path, day: str, warned: bool) -> None:
    problems = check_desired(load(tmp_path, staff(f"{{id: bsmith, deactivate_on: {day}}}")), today=TODAY)
    expected = [
        (
            "warning",
            "implausible_date",
            "case.yaml:3: staff[0].deactivate_on",
            f"deactivate_on {day} is before 1900: a typo? (it deactivates bsmith now)",
        )
    ]
    assert [(p.severity, p.code, str(p.location).rsplit("/", 1)[-1], p.message) for p in problems] == (
        expected if warned else []
    )


def test_errors_come_before_warnings_whatever_their_lines(tmp_path: Path) -> None:
    files = staff("{id: bsmith, deactivate_on: 1899-12-31}", "{id: cdavis, successor: cdavis}")
    problems = check_desired(load(tmp_path, files), today=TODAY)
    assert [(p.severity, p.location.line) for p in problems] == [("error", 4), ("warning", 3)]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            clients("{id: C-1, status: inactive, primary: jdoe}"),
            (
                "error",
                "contradiction",
                "case.yaml:3: clients[0].primary",
                "client C-1 is to be made inactive but names a primary (jdoe)",
            ),
        ),
        (
            # Declared (inactive) here: an error even without a database, unlike an undeclared id.
            {"case.yaml": "version: 1\npolicies:\n  - {name: p, clients_with_balance: tnguyen}\n"},
            (
                "error",
                "unknown_staff",
                "case.yaml:3: policies[0].clients_with_balance",
                "clients_with_balance must be owner, clinical_director, successor or an active staff id: "
                "tnguyen is inactive (practice.yaml:7)",
            ),
        ),
    ],
    ids=["an inactive client naming a primary", "a balance target declared inactive"],
)
def test_each_further_rule_reports_its_severity_code_place_and_words(
    tmp_path: Path, files: dict[str, str], expected: tuple[str, str, str, str]
) -> None:
    problems = check_desired(load(tmp_path, files), today=TODAY)
    cfg = f"{tmp_path / 'cfg'}/"
    got = [(p.severity, p.code, str(p.location).rsplit("/", 1)[-1], p.message.replace(cfg, "")) for p in problems]
    assert got == [expected]
