"""Snapshot load and dump (SPEC §1 "Snapshot format"), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from dbhelpers import PRACTICE_YAML, fresh_db
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

import reconciler.targets.native.bulkload as bulkload_mod
import reconciler.targets.native.snapshot as snapshot_mod
from reconciler.cli import main
from reconciler.errors import DatabaseError, SnapshotError
from reconciler.targets.native.engine import make_engine
from reconciler.targets.native.schema import metadata
from reconciler.targets.native.snapshot import (
    appointments_t,
    clients_t,
    dump_snapshot,
    load_snapshot,
    natural_key,
    parse_snapshot,
    read_rows,
    snapshot_rows,
    staff_t,
)


@pytest.fixture
def other_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A second empty database on the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.db'}"
    return request.getfixturevalue("pg_server").create_database()  # type: ignore[no-any-return]


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}


def assert_empty(engine: Engine) -> None:
    """No practice data (the database's own identity row in reconciler_meta is not data)."""
    assert {n for t, n in row_counts(engine).items() if t != "reconciler_meta"} == {0}


# ---------------------------------------------------------------- round trip
@pytest.mark.parametrize("fmt, suffix", [("yaml", ".yaml"), ("json", ".json")], ids=["yaml", "json"])
def test_dump_load_dump_is_byte_identical(db_url: str, other_url: str, tmp_path: Path, fmt: str, suffix: str) -> None:
    first = dump_snapshot(fresh_db(db_url, PRACTICE_YAML), fmt)
    path = tmp_path / f"dump{suffix}"
    path.write_text(first, encoding="utf-8")
    second = dump_snapshot(fresh_db(other_url, path), fmt)
    assert second == first


def test_loaded_dump_equals_the_original_data(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "dump.yaml"
    path.write_text(dump_snapshot(fresh_db(db_url, PRACTICE_YAML), "yaml"), encoding="utf-8")

    def canonical(p: Path) -> dict[str, list[dict[str, object]]]:
        rows = snapshot_rows(parse_snapshot(p))
        return {k: sorted(v, key=lambda r: str(r["id"])) for k, v in rows.items()}

    assert canonical(path) == canonical(PRACTICE_YAML)


def test_load_returns_counts_in_spec_order(db_url: str) -> None:
    counts = load_snapshot(fresh_db(db_url), PRACTICE_YAML)
    assert list(counts.items()) == [
        ("practice", 1),
        ("staff", 9),
        ("clients", 30),
        ("series", 15),
        ("appointments", 261),
    ]


def test_times_are_stored_as_naive_utc(db_url: str) -> None:
    engine = fresh_db(db_url, PRACTICE_YAML)
    with engine.connect() as conn:
        start = conn.execute(select(appointments_t.c.start_at).where(appointments_t.c.id == "A-1")).scalar_one()
    assert start == dt.datetime(2026, 11, 2, 14, 0)  # 09:00 -05:00


def test_dump_writes_times_in_practice_timezone_with_offset(db_url: str) -> None:
    doc = yaml.safe_load(dump_snapshot(fresh_db(db_url, PRACTICE_YAML), "yaml"))
    a1 = next(a for a in doc["appointments"] if a["id"] == "A-1")
    assert (a1["start"], a1["end"]) == ("2026-11-02T09:00:00-05:00", "2026-11-02T09:50:00-05:00")


def test_dump_sorts_ids_naturally_and_omits_null_optionals(db_url: str) -> None:
    doc = json.loads(dump_snapshot(fresh_db(db_url, PRACTICE_YAML), "json"))
    ids = [a["id"] for a in doc["appointments"]]
    assert ids[:3] == ["A-1", "A-2", "A-3"] and ids == sorted(ids, key=natural_key)
    c1030 = next(c for c in doc["clients"] if c["id"] == "C-1030")
    assert "primary" not in c1030 and "deleted_at" not in c1030


def test_yaml_dump_is_one_flow_mapping_per_row(db_url: str) -> None:
    text = dump_snapshot(fresh_db(db_url, PRACTICE_YAML), "yaml")
    assert "- {id: A-1, client: C-1001, staff: bsmith, start: '2026-11-02T09:00:00-05:00'," in text


def test_duplicate_of_may_point_forward(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        BASE.replace(
            "clients:\n", "clients:\n- {id: C-0, first_name: X, last_name: Y, status: inactive, duplicate_of: C-1}\n"
        ),
    )
    engine = fresh_db(db_url, path)
    with engine.connect() as conn:
        assert conn.execute(select(clients_t.c.duplicate_of).where(clients_t.c.id == "C-0")).scalar_one() == "C-1"


# ---------------------------------------------------------------- bad input
BASE = """\
practice: {name: P, timezone: America/New_York, owner: alee}
staff:
- {id: alee, name: Ana Lee, role: owner, access: entire_practice}
clients:
- {id: C-1, first_name: A, last_name: B, primary: alee}
series:
- {id: S-1, client: C-1, staff: alee, rrule: FREQ=WEEKLY, start: '2026-11-02T09:00:00-05:00'}
appointments:
- {id: A-1, client: C-1, staff: alee, start: '2026-11-02T09:00:00-05:00', end: '2026-11-02T09:50:00-05:00', series: S-1}
"""


def write(tmp_path: Path, text: str, name: str = "snap.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9)
)

BAD_YAML = [
    (
        "unknown-key",
        ("series: S-1}", "series: S-1, colour: red}"),
        r"snap.yaml:9: appointments\[0\] \(A-1\): unknown key 'colour'",
    ),
    ("unknown-top-level-key", ("series:\n", "serie: []\nseries:\n"), r"snap.yaml:6: unknown key 'serie'"),
    (
        "missing-required",
        ("first_name: A, ", ""),
        r"snap.yaml:5: clients\[0\] \(C-1\): missing required key 'first_name'",
    ),
    (
        "appointment-unknown-staff",
        ("staff: alee, start: '2026-11-02T09:00:00-05:00', end", "staff: zz, start: '2026-11-02T09:00:00-05:00', end"),
        r"snap.yaml:9: appointments\[0\] \(A-1\): unknown staff 'zz'",
    ),
    (
        "appointment-unknown-client",
        ("{id: A-1, client: C-1,", "{id: A-1, client: C-9,"),
        r"snap.yaml:9: appointments\[0\] \(A-1\): unknown client 'C-9'",
    ),
    (
        "appointment-unknown-series",
        ("series: S-1}", "series: S-9}"),
        r"snap.yaml:9: appointments\[0\] \(A-1\): unknown series 'S-9'",
    ),
    (
        "series-unknown-client",
        ("{id: S-1, client: C-1,", "{id: S-1, client: C-9,"),
        r"snap.yaml:7: series\[0\] \(S-1\): unknown client 'C-9'",
    ),
    (
        "series-unknown-staff",
        ("client: C-1, staff: alee, rrule", "client: C-1, staff: zz, rrule"),
        r"snap.yaml:7: series\[0\] \(S-1\): unknown staff 'zz'",
    ),
    (
        "client-unknown-primary",
        ("primary: alee}", "primary: zz}"),
        r"snap.yaml:5: clients\[0\] \(C-1\): unknown staff 'zz'",
    ),
    (
        "client-unknown-duplicate-of",
        ("primary: alee}", "primary: alee, duplicate_of: C-7}"),
        r"snap.yaml:5: clients\[0\] \(C-1\): unknown client 'C-7'",
    ),
    ("practice-unknown-owner", ("owner: alee}", "owner: zz}"), r"snap.yaml:1: practice: unknown staff 'zz'"),
    (
        "practice-unknown-clinical-director",
        ("owner: alee}", "owner: alee, clinical_director: zz}"),
        r"snap.yaml:1: practice: unknown staff 'zz'",
    ),
    (
        "duplicate-id",
        ("series:\n", "- {id: C-1, first_name: C, last_name: D}\nseries:\n"),
        r"snap.yaml:6: clients\[1\] \(C-1\): duplicate id 'C-1' \(also at clients\[0\], line 5\)",
    ),
    (
        "bad-time",
        ("start: '2026-11-02T09:00:00-05:00', end", "start: '2026-13-02T09:00:00-05:00', end"),
        r"snap.yaml:9: appointments\[0\] \(A-1\): start: .*month",
    ),
    (
        "time-without-offset",
        ("end: '2026-11-02T09:50:00-05:00'", "end: '2026-11-02T09:50:00'"),
        r"snap.yaml:9: appointments\[0\] \(A-1\): end: .*timezone",
    ),
    (
        "end-before-start",
        ("end: '2026-11-02T09:50:00-05:00'", "end: '2026-11-02T08:50:00-05:00'"),
        r"snap.yaml:9: appointments\[0\] \(A-1\): end is not after start",
    ),
    ("bad-enum", ("role: owner", "role: wizard"), r"snap.yaml:3: staff\[0\] \(alee\): role: Input should be 'owner'"),
    (
        "unknown-timezone",
        ("America/New_York", "Mars/Olympus"),
        r"snap.yaml:1: practice: timezone: unknown IANA timezone",
    ),
    (
        "string-for-bool",
        ("series: S-1}", "series: S-1, telehealth: 'yes'}"),
        r"snap.yaml:9: appointments\[0\] \(A-1\): telehealth: ",
    ),
    (
        "python-tag",
        ("name: P,", "name: !!python/object:os.system x,"),
        r"snap.yaml:1: YAML tag !!python/object:os.system is not allowed",
    ),
    ("duplicate-yaml-key", ("owner: alee}", "owner: alee, owner: alee}"), r"snap.yaml:1: duplicate key 'owner'"),
    ("syntax-error", ("- {id: alee,", "- {id: alee,,]"), r"snap.yaml:3: invalid YAML"),
    ("alias-bomb", (BASE, BOMB), r"snap.yaml:\d+: YAML aliases expand to more than \d+ nodes"),
]


@pytest.mark.parametrize("edit, want", [c[1:] for c in BAD_YAML], ids=[c[0] for c in BAD_YAML])
def test_bad_snapshot_is_one_located_error_and_loads_nothing(
    db_url: str, tmp_path: Path, edit: tuple[str, str], want: str
) -> None:
    old, new = edit
    assert old in BASE
    engine = fresh_db(db_url)
    with pytest.raises(SnapshotError) as err:
        load_snapshot(engine, write(tmp_path, BASE.replace(old, new, 1)))
    assert re.search(want, str(err.value)), str(err.value)
    assert_empty(engine)


def test_several_problems_are_reported_together(db_url: str, tmp_path: Path) -> None:
    text = BASE.replace("primary: alee}", "primary: zz}").replace("series: S-1}", "series: S-9}")
    engine = fresh_db(db_url)
    with pytest.raises(SnapshotError) as err:
        load_snapshot(engine, write(tmp_path, text))
    assert str(err.value).splitlines() == [
        f"snapshot {tmp_path / 'snap.yaml'} is invalid (2 problems); nothing was loaded",
        f"  {tmp_path / 'snap.yaml'}:5: clients[0] (C-1): unknown staff 'zz'",
        f"  {tmp_path / 'snap.yaml'}:9: appointments[0] (A-1): unknown series 'S-9'",
    ]
    assert_empty(engine)


def test_json_problem_names_the_entity(db_url: str, tmp_path: Path) -> None:
    doc = yaml.safe_load(BASE)
    doc["appointments"][0]["staff"] = "zz"
    engine = fresh_db(db_url)
    with pytest.raises(SnapshotError, match=r"snap.json: appointments\[0\] \(A-1\): unknown staff 'zz'$"):
        load_snapshot(engine, write(tmp_path, json.dumps(doc), "snap.json"))
    assert_empty(engine)


def test_json_syntax_error_names_the_line(db_url: str, tmp_path: Path) -> None:
    engine = fresh_db(db_url)
    with pytest.raises(SnapshotError, match=r"snap.json:3: invalid JSON"):
        load_snapshot(engine, write(tmp_path, '{\n"practice": {},\n"staff": [,]}', "snap.json"))


def test_missing_file_is_a_snapshot_error(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        load_snapshot(fresh_db(db_url), tmp_path / "nope.yaml")


def test_load_into_non_empty_database_is_refused(db_url: str) -> None:
    engine = fresh_db(db_url, PRACTICE_YAML)
    before = row_counts(engine)
    with pytest.raises(DatabaseError, match="not empty"):
        load_snapshot(engine, PRACTICE_YAML)
    assert row_counts(engine) == before


def test_load_into_uninitialised_database_says_run_init(db_url: str) -> None:
    with pytest.raises(DatabaseError, match=r"run `reconciler db init`"):
        load_snapshot(make_engine(db_url), PRACTICE_YAML)


def test_failure_while_inserting_rolls_everything_back(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row the database refuses (here: a foreign key, with the reference check
    switched off) after earlier chunks went in leaves the database empty."""
    monkeypatch.setattr(snapshot_mod, "_check_references", lambda snap, problems: None)
    monkeypatch.setattr(bulkload_mod, "CHUNK", 1)
    engine = fresh_db(db_url)
    with pytest.raises(DatabaseError, match="nothing was loaded"):
        load_snapshot(engine, write(tmp_path, BASE.replace("series: S-1}", "series: S-9}")))
    assert_empty(engine)


def test_foreign_keys_are_enforced(db_url: str) -> None:
    engine = fresh_db(db_url)
    with pytest.raises(Exception):
        with engine.begin() as conn:
            conn.execute(
                clients_t.insert(),
                [
                    dict(
                        id="C-1",
                        first_name="A",
                        last_name="B",
                        status="active",
                        primary_id="ghost",
                        balance_cents=0,
                        portal_access=False,
                    )
                ],
            )


# ---------------------------------------------------------------- fast pass == detailed pass
# Large files are validated by a cheaper "fast pass" that hands anything it cannot
# vouch for to the detailed (model) pass. These tests hold it to the same answers.
def detailed(path: Path) -> snapshot_mod.LoadRows:
    return snapshot_mod._rows_from_snapshot(parse_snapshot(path))


def fast_json(text: str) -> snapshot_mod.LoadRows:
    return snapshot_mod._fast_rows(snapshot_mod._JsonSections(text))


def practice_doc() -> dict[str, object]:
    return yaml.safe_load(PRACTICE_YAML.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_fast_pass_gives_the_detailed_rows_for_a_dump(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, dump_snapshot(fresh_db(db_url, PRACTICE_YAML), "json"), "dump.json")
    assert fast_json(path.read_text()) == detailed(path)


def _retimed(doc: dict[str, object], form: str) -> dict[str, object]:
    """The document with appointment A-1's start written in another ISO 8601 form."""
    doc["appointments"][0]["start"] = form  # type: ignore[index]
    return doc


JSON_FORMS = [
    ("pretty", lambda: json.dumps(practice_doc(), indent=2, default=str)),
    ("compact", lambda: json.dumps(practice_doc(), separators=(",", ":"), default=str)),
    ("sections-reversed", lambda: json.dumps(dict(reversed(list(practice_doc().items()))), default=str)),
    ("only-practice", lambda: json.dumps({"practice": {"name": "P", "timezone": "UTC"}})),
    (
        "empty-sections",
        lambda: json.dumps(
            {"practice": {"name": "P", "timezone": "UTC"}, "staff": [], "clients": [], "series": [], "appointments": []}
        ),
    ),
    ("time-without-seconds", lambda: json.dumps(_retimed(practice_doc(), "2026-11-02T09:00-05:00"), default=str)),
    ("time-with-space-and-z", lambda: json.dumps(_retimed(practice_doc(), "2026-11-02 14:00:00Z"), default=str)),
]


@pytest.mark.parametrize("make", [f[1] for f in JSON_FORMS], ids=[f[0] for f in JSON_FORMS])
def test_any_valid_json_layout_reads_as_the_detailed_pass_would(tmp_path: Path, make: object) -> None:
    path = write(tmp_path, make(), "snap.json")  # type: ignore[operator]
    assert read_rows(path) == detailed(path)


def test_yaml_reads_as_the_detailed_pass_would() -> None:
    assert read_rows(PRACTICE_YAML) == detailed(PRACTICE_YAML)


DATA_CASES = [c for c in BAD_YAML if c[0] not in ("python-tag", "duplicate-yaml-key", "syntax-error", "alias-bomb")]


@pytest.mark.parametrize("edit, want", [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_fast_pass_never_accepts_a_bad_snapshot(tmp_path: Path, edit: tuple[str, str], want: str) -> None:
    """... and the located error of a bad JSON snapshot is the detailed pass's."""
    doc = yaml.safe_load(BASE.replace(*edit, 1))
    text = json.dumps(doc, default=str)
    with pytest.raises(snapshot_mod._NotFast):
        fast_json(text)
    with pytest.raises(SnapshotError) as err:
        read_rows(write(tmp_path, text, "snap.json"))
    want_json = re.sub(r"^snap.yaml:\d+: ", "snap.json: ", want).replace(", line 5", "")  # JSON knows no lines
    assert re.search(want_json, str(err.value)), str(err.value)


MINIMAL_ROWS = {
    "clients": {"id": "C-1", "first_name": "A", "last_name": "B"},
    "series": {"id": "S-1", "client": "C-1", "staff": "s", "rrule": "FREQ=DAILY", "start": "2026-01-01T00:00:00Z"},
    "appointments": {
        "id": "A-1",
        "client": "C-1",
        "staff": "s",
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T01:00:00Z",
    },
}


@pytest.mark.parametrize("section", sorted(snapshot_mod.FAST_MODELS))
def test_fast_row_types_mirror_the_models(section: str) -> None:
    typed, model = snapshot_mod.FAST_MODELS[section]
    adapter, minimal = snapshot_mod._ADAPTERS[section], MINIMAL_ROWS[section]
    assert set(typed.__annotations__) - {"__pydantic_config__"} == set(model.model_fields)
    model.model_validate(minimal)
    # The same keys are required ...
    for key in minimal:
        with pytest.raises(ValidationError):
            model.model_validate({k: v for k, v in minimal.items() if k != key})
        with pytest.raises(ValidationError):
            adapter.validate_python([{k: v for k, v in minimal.items() if k != key}])
    # ... and the defaults the TypedDict fills in are the model's.
    row = adapter.validate_python([minimal])[0]
    defaults = {n: f.default for n, f in model.model_fields.items() if not f.is_required()}
    assert set(defaults) == set(model.model_fields) - set(minimal)
    assert {k: row[k] for k in defaults} == defaults


AWARE = TypeAdapter(AwareDatetime)
TRICKY_TIMES = [
    "2026-11-02T09:00:00-05:00",
    "2026-11-02T14:00:00Z",
    "2026-11-02T09:00:00.5+05:30",
    "2026-11-02T09:00:00.123456-00:00",
    "2026-02-29T09:00:00Z",
    "2026-13-02T09:00:00Z",
    "2026-11-02T24:00:00Z",
    "2026-11-02T09:00:60Z",
    "2026-11-02T09:00:00+24:00",
    "2026-11-02T09:00:00",
    "2026-11-02T09:00:00z",
    "2026-11-02T09:00:00.1234567Z",
    "0000-01-01T00:00:00Z",
    "1700000000",
    "2026-11-02 09:00:00Z",
    "2026-W45-1T09:00:00Z",
    " 2026-11-02T09:00:00Z",
]


def fast_time(text: str) -> dt.datetime | None:
    try:
        return snapshot_mod._Times()[text]
    except snapshot_mod._NotFast:
        return None


def pydantic_time(text: str) -> dt.datetime | None:
    try:
        return AWARE.validate_python(text).astimezone(dt.timezone.utc).replace(tzinfo=None)
    except ValidationError:
        return None


@pytest.mark.parametrize("text", TRICKY_TIMES)
def test_fast_times_are_pydantic_times_or_left_to_it(text: str) -> None:
    fast = fast_time(text)
    assert fast is None or fast == pydantic_time(text)


@settings(max_examples=200, deadline=None)
@given(
    when=st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    offset=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    spec=st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]),
)
def test_fast_times_agree_with_pydantic(when: dt.datetime, offset: int, spec: str) -> None:
    text = when.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset))).isoformat(timespec=spec)
    fast = fast_time(text)
    assert fast is None or fast == pydantic_time(text)
    if spec != "minutes":
        assert fast is not None  # the forms `db dump` writes are not left to the slow pass


# ---------------------------------------------------------------- progress
def test_load_is_quiet_without_progress(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = fresh_db(db_url)
    capsys.readouterr()
    load_snapshot(engine, PRACTICE_YAML)
    assert capsys.readouterr() == ("", "")


def test_progress_goes_to_stderr_on_a_terminal(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.targets.native.snapshot as snapshot

    monkeypatch.setattr(snapshot, "bar_wanted", lambda enabled, stream=None: enabled)  # as on a terminal
    engine = fresh_db(db_url)
    capsys.readouterr()
    load_snapshot(engine, PRACTICE_YAML, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "loading appointments" in err


def test_progress_stays_quiet_in_ci(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    engine = fresh_db(db_url)
    capsys.readouterr()
    load_snapshot(engine, PRACTICE_YAML, progress=True)
    assert capsys.readouterr() == ("", "")


# ---------------------------------------------------------------- CLI
def test_cli_init_load_dump(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init", "--db", db_url]).exit_code == 0
    loaded = runner.invoke(main, ["db", "load", str(PRACTICE_YAML), "--db", db_url])
    assert loaded.exit_code == 0, loaded.output
    assert loaded.stdout == "loaded 1 practice, 9 staff, 30 clients, 15 series, 261 appointments\n"
    dumped = runner.invoke(main, ["db", "dump", "--db", db_url])
    assert dumped.exit_code == 0
    assert dumped.stdout == dump_snapshot(make_engine(db_url), "yaml")
    out = tmp_path / "snap.json"
    assert runner.invoke(main, ["db", "dump", "--out", str(out), "--db", db_url]).exit_code == 0
    assert json.loads(out.read_text())["practice"]["name"] == "Sunrise Counseling"


def test_cli_bad_snapshot_exits_1_with_located_error(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("primary: alee}", "primary: zz}"))
    runner = CliRunner()
    runner.invoke(main, ["db", "init", "--db", db_url])
    result = runner.invoke(main, ["db", "load", str(path), "--db", db_url])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path}:5: clients[0] (C-1): unknown staff 'zz'\n"
    assert "Traceback" not in result.output
    assert_empty(make_engine(db_url))


@pytest.mark.parametrize("args", [["load", str(PRACTICE_YAML)], ["dump"]], ids=["load", "dump"])
def test_cli_on_uninitialised_database_says_run_init(db_url: str, args: list[str]) -> None:
    result = CliRunner().invoke(main, ["db", *args, "--db", db_url])
    assert result.exit_code == 1
    assert "not initialised: run `reconciler db init`" in result.stderr
    assert "Traceback" not in result.output


def test_cli_dump_of_database_without_practice_fails_cleanly(db_url: str) -> None:
    fresh_db(db_url)
    result = CliRunner().invoke(main, ["db", "dump", "--db", db_url])
    assert result.exit_code == 1 and "holds no practice" in result.stderr


def test_staff_rows_keep_settings(db_url: str) -> None:
    engine = fresh_db(db_url, PRACTICE_YAML)
    with engine.connect() as conn:
        settings = conn.execute(select(staff_t.c.settings).where(staff_t.c.id == "bsmith")).scalar_one()
    assert settings == {"messaging_enabled": True}


def test_schema_is_intact_after_a_load(db_url: str) -> None:
    """The loader rebuilds the indexes it set aside during the bulk insert."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = fresh_db(db_url, PRACTICE_YAML)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_loaded_times_compare_exactly_at_the_boundary(db_url: str) -> None:
    """A session starting exactly at an instant is found by ``start_at >= instant``:
    the bulk path must store times the way SQLAlchemy binds them (on SQLite, text
    with microseconds), or boundary comparisons silently drop rows."""
    import datetime as dt

    from dbhelpers import PRACTICE_YAML, fresh_db
    from sqlalchemy import select

    from reconciler.targets.native.schema import appointments_t

    engine = fresh_db(db_url, PRACTICE_YAML)
    try:
        with engine.connect() as conn:
            ids = (
                conn.execute(
                    select(appointments_t.c.id).where(
                        appointments_t.c.start_at >= dt.datetime(2026, 11, 24, 15, 0),
                        appointments_t.c.start_at <= dt.datetime(2026, 11, 24, 15, 0),
                    )
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert ids == ["A-13"]
