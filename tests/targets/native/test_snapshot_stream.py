"""The streaming JSON load (``snapshot_stream``): the same rows and the same located
problems, word for word, as the detailed pass over the whole document, whatever
piece size the file is read in; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from dbhelpers import PRACTICE_YAML, fresh_db
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from test_snapshot import BAD_YAML, BASE

import reconciler.targets.native.bulkload as bulkload_mod
import reconciler.targets.native.snapshot_stream as stream_mod
from reconciler.errors import DatabaseError, SnapshotError
from reconciler.targets.native.schema import metadata
from reconciler.targets.native.snapshot import dump_snapshot, iter_json, load_snapshot, parse_snapshot


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per practice table (``reconciler_meta`` holds the database's identity from ``db init``)."""
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
            if t.name != "reconciler_meta"
        }


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def wait_until_ended(pids: set[int], timeout: float = 120) -> None:
    """Block until none of ``pids`` is running (an orphan is reaped by init)."""
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.monotonic() < deadline, f"processes {sorted(pids)} still running"
        time.sleep(0.05)


def journal_mode(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())


def index_names(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {ix["name"] for t in metadata.sorted_tables for ix in inspect(conn).get_indexes(t.name)}


def dump_layout(doc: dict[str, Any]) -> str:
    """The layout ``db dump`` writes (the one that streams)."""
    return "".join(iter_json(doc["practice"], {k: v for k, v in doc.items() if k != "practice"}))


@pytest.fixture(params=["whole", "tiny-pieces", "child", "child-tiny-pieces"])
def pieces(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Read the file in one piece, or a few characters at a time (every row crosses a
    piece, batches of two rows); inserted in this process or by a second one."""
    if "tiny-pieces" in request.param:
        monkeypatch.setattr(stream_mod, "READ_CHARS", 7)
        monkeypatch.setattr(stream_mod, "AHEAD", 3)
        monkeypatch.setattr(stream_mod, "LINES_AHEAD", 5)
        monkeypatch.setattr(bulkload_mod, "CHUNK", 2)
    monkeypatch.setattr(stream_mod, "PARALLEL_MIN_BYTES", 0 if "child" in request.param else 1 << 40)
    return str(request.param)


def detailed_error(path: Path) -> SnapshotError:
    with pytest.raises(SnapshotError) as err:
        parse_snapshot(path)
    return err.value


def streamed_error(engine: Engine, path: Path) -> SnapshotError:
    calls: list[int] = []
    real = stream_mod.load_json_stream

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stream_mod, "load_json_stream", spy)
        with pytest.raises(SnapshotError) as err:
            load_snapshot(engine, path)
    assert calls, "the streaming path was not taken"
    assert set(row_counts(engine).values()) == {0}, "an invalid snapshot loaded rows"
    return err.value


DATA_CASES = [c for c in BAD_YAML if c[0] not in ("python-tag", "duplicate-yaml-key", "syntax-error", "alias-bomb")]


@pytest.mark.parametrize("edit", [c[1] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_streamed_problems_are_the_detailed_passes(db_url: str, tmp_path: Path, pieces: str, edit: Any) -> None:
    doc = yaml.safe_load(BASE.replace(*edit, 1))
    if not isinstance(doc.get("practice"), dict):
        pytest.fail("case without a practice mapping")
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(doc, default=str) if "serie" in doc else dump_layout(_str_times(doc)), encoding="utf-8")
    got = streamed_error(fresh_db(db_url), path)
    want = detailed_error(path)
    assert str(got) == str(want)
    assert got.problems == want.problems


def _str_times(doc: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(doc, default=str))  # type: ignore[no-any-return]


def _big_doc(n: int) -> dict[str, Any]:
    doc = _str_times(yaml.safe_load(BASE))
    row = doc["appointments"][0]
    doc["appointments"] = [{**row, "id": f"A-{i}"} for i in range(n)]
    return doc


@pytest.mark.parametrize(
    "case",
    [
        "many-unknown",
        "duplicate-appointment-ids",
        "schema-and-reference",
        "self-duplicate",
        "name-in-wrong-field",
        "client-links-sort-in",
    ],
)
def test_streamed_problem_lists_are_the_detailed_passes(db_url: str, tmp_path: Path, pieces: str, case: str) -> None:
    doc = _big_doc(80)
    if case == "many-unknown":  # more than MAX_PROBLEMS: the same 50 and the same count
        for a in doc["appointments"][::1]:
            a["staff"] = "zz"
        doc["clients"][0]["primary"] = "yy"
    elif case == "duplicate-appointment-ids":
        doc["appointments"][5]["id"] = "A-2"
        doc["appointments"][70]["id"] = "A-2"
        doc["appointments"][71]["series"] = "S-404"
    elif case == "schema-and-reference":  # schema problems hide reference ones
        doc["appointments"][3]["staff"] = "zz"
        doc["appointments"][60]["telehealth"] = "yes"
        doc["staff"][0]["role"] = "wizard"
    elif case == "self-duplicate":
        doc["clients"].append({"id": "C-2", "first_name": "Eve", "last_name": "Ray", "duplicate_of": "C-2"})
        doc["clients"].append({"id": "C-3", "first_name": "Al", "last_name": "Bo", "duplicate_of": "C-9"})
    elif case == "client-links-sort-in":  # duplicate_of is checked last, yet reported in client order
        doc["clients"] += [{"id": f"C-{k}", "first_name": "A", "last_name": "B", "primary": "qq"} for k in range(2, 70)]
        doc["clients"][0]["duplicate_of"] = "C-404"
    elif case == "name-in-wrong-field":  # a client's name typed as an id is never shown
        doc["clients"].append({"id": "C-2", "first_name": "Zebulon", "last_name": "Quist"})
        doc["appointments"][7]["client"] = "Zebulon"
    path = tmp_path / "snap.json"
    path.write_text(dump_layout(doc), encoding="utf-8")
    got = streamed_error(fresh_db(db_url), path)
    want = detailed_error(path)
    assert str(got) == str(want)
    assert got.problems == want.problems
    assert "Zebulon" not in str(got)


def test_a_syntax_error_in_a_row_is_json_loads_error(db_url: str, tmp_path: Path, pieces: str) -> None:
    text = dump_layout(_big_doc(30)).replace('"id": "A-17", ', '"id": "A-17" ', 1)
    path = tmp_path / "snap.json"
    path.write_text(text, encoding="utf-8")
    got = streamed_error(fresh_db(db_url), path)
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(text)
    assert str(got) == f"{path}:{want.value.lineno}: invalid JSON: {want.value.msg}"


def test_a_streamed_dump_loads_as_the_detailed_pass_would(
    db_url: str, other_url_factory: Any, tmp_path: Path, pieces: str
) -> None:
    source = fresh_db(db_url, PRACTICE_YAML)
    path = tmp_path / "dump.json"
    path.write_text(dump_snapshot(source, "json"), encoding="utf-8")
    target = fresh_db(other_url_factory())
    assert load_snapshot(target, path) == {"practice": 1, "staff": 9, "clients": 30, "series": 15, "appointments": 261}
    assert dump_snapshot(target, "json") == path.read_text(encoding="utf-8")


def test_other_layouts_are_read_whole(db_url: str, other_url_factory: Any, tmp_path: Path) -> None:
    doc = _str_times(yaml.safe_load(PRACTICE_YAML.read_text(encoding="utf-8")))
    path = tmp_path / "reversed.json"
    path.write_text(json.dumps(dict(reversed(list(doc.items())))), encoding="utf-8")
    target = fresh_db(other_url_factory())
    assert load_snapshot(target, path)["appointments"] == 261


@pytest.fixture
def other_url_factory(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Makes further empty databases on the same backend as ``db_url``."""
    n = [0]

    def make() -> str:
        n[0] += 1
        if db_url.startswith("sqlite"):
            return f"sqlite:///{tmp_path / f'other{n[0]}.db'}"
        return request.getfixturevalue("pg_server").create_database()  # type: ignore[no-any-return]

    return make


def test_a_pretty_printed_dump_loads_row_by_row(
    db_url: str, other_url_factory: Any, tmp_path: Path, pieces: str
) -> None:
    """Rows over several lines (``json.dumps(indent=2)``, keys in dump order): the batches
    of lines do not parse, and the rows are read one by one, with the same result."""
    doc = _big_doc(25)
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    target = fresh_db(db_url)
    assert load_snapshot(target, path)["appointments"] == 25
    flat = tmp_path / "flat.json"
    flat.write_text(dump_layout(doc), encoding="utf-8")
    again = fresh_db(other_url_factory())
    load_snapshot(again, flat)
    assert dump_snapshot(again, "json") == dump_snapshot(target, "json")


def test_rows_one_per_line_then_not(db_url: str, tmp_path: Path, pieces: str) -> None:
    """A file that changes layout half way (two rows on one line) still loads every row."""
    text = dump_layout(_big_doc(30)).replace('},\n    {"id": "A-20"', '}, {"id": "A-20"', 1)
    assert '}, {"id": "A-20"' in text
    path = tmp_path / "mixed.json"
    path.write_text(text, encoding="utf-8")
    engine = fresh_db(db_url)
    assert load_snapshot(engine, path)["appointments"] == 30
    assert row_counts(engine)["appointments"] == 30


@pytest.mark.parametrize("child", [False, True], ids=["here", "child"])
def test_a_database_error_while_inserting_loads_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: bool
) -> None:
    """The driver's error, worded as before, in either process; the transaction is rolled back."""
    monkeypatch.setattr(stream_mod, "PARALLEL_MIN_BYTES", 0 if child else 1 << 40)
    real = bulkload_mod.Loader.bulk

    def failing(self: Any, section: str, rows: Any, *args: Any, **kwargs: Any) -> None:
        real(self, section, rows, *args, **kwargs)
        if section == "appointments":
            raise sa_exc.OperationalError("INSERT", {}, Exception("disk I/O error\nsecond line"))

    monkeypatch.setattr(bulkload_mod.Loader, "bulk", failing)
    path = tmp_path / "snap.json"
    path.write_text(dump_layout(_big_doc(30)), encoding="utf-8")
    engine = fresh_db(db_url)
    with pytest.raises(DatabaseError) as err:
        load_snapshot(engine, path)
    assert str(err.value).startswith(f"loading {path} into ")
    assert str(err.value).endswith("failed, nothing was loaded: disk I/O error")
    assert set(row_counts(engine).values()) == {0}
    monkeypatch.setattr(bulkload_mod.Loader, "bulk", real)
    assert load_snapshot(engine, path)["appointments"] == 30  # not locked, not half loaded


def test_the_inserting_process_dying_loads_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_mod, "PARALLEL_MIN_BYTES", 0)
    real = bulkload_mod.Loader.bulk

    def dying(self: Any, section: str, rows: Any, *args: Any, **kwargs: Any) -> None:
        real(self, section, rows, *args, **kwargs)
        if section == "appointments":
            os._exit(3)  # (in the forked child only: this process never inserts here)

    monkeypatch.setattr(bulkload_mod.Loader, "bulk", dying)
    path = tmp_path / "snap.json"
    path.write_text(dump_layout(_big_doc(30)), encoding="utf-8")
    engine = fresh_db(db_url)
    with pytest.raises(DatabaseError, match="nothing was loaded: the inserting process ended unexpectedly"):
        load_snapshot(engine, path)
    assert set(row_counts(engine).values()) == {0}
    if db_url.startswith("sqlite"):
        # It loaded with a rollback journal: the next connection rolled that back and
        # put the database in WAL again.
        assert journal_mode(engine) == "wal"
        assert not Path(engine.url.database + "-journal").exists()
    monkeypatch.setattr(bulkload_mod.Loader, "bulk", real)
    assert load_snapshot(engine, path)["appointments"] == 30


def test_killing_the_load_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """``db load`` killed at some point: the database is empty or fully loaded, never in
    between, and the inserting process ends by itself (the database is not left locked)."""
    doc = _big_doc(60_000)  # ~10 MB: inserted by the child process
    path = tmp_path / "snap.json"
    path.write_text(dump_layout(doc), encoding="utf-8")
    assert path.stat().st_size >= stream_mod.PARALLEL_MIN_BYTES
    for delay in (0.8, 1.6):
        url = f"sqlite:///{tmp_path / f'kill{delay}.db'}"
        engine = fresh_db(url)
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler.cli", "db", "load", str(path), "--db", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        inserting = children_of(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The inserting child outlives its parent for a while: rolling back on end of
        # file, or finishing a commit the parent had already asked for. Count once it
        # has ended (WAL would let a reader see the state before a commit in progress).
        wait_until_ended(inserting)
        counts = row_counts(engine)
        assert counts["appointments"] in (0, 60_000)
        assert (counts["appointments"] == 0) == (set(counts.values()) == {0})
        assert journal_mode(engine) == "wal"
        if counts["appointments"] == 0:
            assert load_snapshot(engine, path)["appointments"] == 60_000
        assert journal_mode(engine) == "wal"
        engine.dispose()


def test_nulls_load_as_null_and_text_that_looks_like_the_mark_as_text(db_url: str, tmp_path: Path, pieces: str) -> None:
    """SQLite's bulk insert binds the NULLs of text columns as an integer mark and turns
    them back with NULLIF: a missing value is stored as NULL, and text "0", "" or
    "NULL" stays that text, in every nullable text column of the bulk tables."""
    doc = _big_doc(6)
    reasons = [None, "0", "", "NULL", " 0", None]
    for a, reason in zip(doc["appointments"], reasons):
        a.pop("series", None)
        if reason is not None:
            a["cancel_reason"] = reason
    doc["appointments"][5]["series"] = "S-1"
    doc["clients"].append({"id": "0", "first_name": "A", "last_name": "B", "duplicate_of": "C-1", "status": "inactive"})
    path = tmp_path / "snap.json"
    path.write_text(dump_layout(doc), encoding="utf-8")
    engine = fresh_db(db_url)
    load_snapshot(engine, path)
    with engine.connect() as conn:
        got = conn.exec_driver_sql("SELECT id, series_id, cancel_reason FROM appointments").all()
        clients = dict(conn.exec_driver_sql("SELECT id, primary_id FROM clients").all())
        dup = conn.exec_driver_sql("SELECT duplicate_of, deleted_at FROM clients WHERE id = '0'").one()
        until = conn.exec_driver_sql("SELECT until FROM series").scalar_one()
    assert sorted(got) == sorted((f"A-{i}", "S-1" if i == 5 else None, reason) for i, reason in enumerate(reasons))
    assert clients == {"C-1": "alee", "0": None}
    assert tuple(dup) == ("C-1", None) and until is None
    if db_url.startswith("sqlite"):
        with engine.connect() as conn:
            kinds = conn.exec_driver_sql(
                "SELECT DISTINCT typeof(series_id), typeof(cancel_reason) FROM appointments"
            ).all()
        assert set(kinds) == {("null", "null"), ("null", "text"), ("text", "null")}


def test_marked_columns_are_the_nullable_text_ones_on_sqlite_only() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    from reconciler.targets.native.bulkload import TABLES, null_marked

    def names(section: str, dialect: Any) -> set[str]:
        table = TABLES[section]
        return {list(table.columns)[i].name for i in null_marked(table, dialect)}

    lite = sqlite.dialect()
    assert names("appointments", lite) == {"series_id", "cancel_reason"}
    assert names("clients", lite) == {"primary_id", "duplicate_of", "deleted_at"}
    assert names("series", lite) == {"until"}
    assert names("appointments", postgresql.dialect()) == set()


@pytest.mark.parametrize(
    "message",
    [
        ("bulk", "appointments", [("A-1", "C-1", 0, None, True, 1.5, "\ud800")], True),
        ("staff", [{"id": "x", "deactivate_on": dt.date(2026, 1, 2)}]),
        ("commit",),
    ],
    ids=["marshal", "pickle", "plain"],
)
def test_messages_to_the_inserting_process_arrive_as_sent(message: tuple[Any, ...]) -> None:
    data = stream_mod._pack(message)
    assert data[:1] == (b"P" if message[0] == "staff" else b"M")
    assert stream_mod._unpack(data) == message
    # A section whose first batch needed pickle (PostgreSQL's datetimes) skips marshal's try.
    again = stream_mod._pack(message, try_marshal=False)
    assert again[:1] == b"P" and stream_mod._unpack(again) == message


@pytest.mark.parametrize("sections", ["all", "no-appointments", "no-series-or-appointments"])
def test_a_load_leaves_every_index_of_the_schema(db_url: str, tmp_path: Path, pieces: str, sections: str) -> None:
    """Indexes are dropped for the load and built again, each section's as soon as the
    next section starts (or at the end): whichever sections a file has, the loaded
    database has exactly the schema's indexes, and the planner's reads use them."""
    doc = _big_doc(12)
    if sections != "all":
        doc.pop("appointments")
    if sections == "no-series-or-appointments":
        doc.pop("series")
    path = tmp_path / "snap.json"
    path.write_text(dump_layout(doc), encoding="utf-8")
    engine = fresh_db(db_url)
    want = index_names(engine)
    assert {"ix_appointments_staff_status_start", "ix_clients_primary_status", "ix_series_staff_active"} <= want
    load_snapshot(engine, path)
    assert index_names(engine) == want


def test_the_journal_mode_is_switched_only_when_the_database_is_ours(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    engine = fresh_db(url)

    def mode(conn: Any) -> str:
        return str(conn.connection.driver_connection.execute("PRAGMA journal_mode").fetchone()[0])

    other = sqlite3.connect(str(tmp_path / "j.db"))
    other.execute("SELECT count(*) FROM staff").fetchall()  # another connection has it open
    with engine.connect() as conn:
        assert stream_mod._journal_mode(conn, "DELETE") is None
        assert mode(conn) == "wal"
    other.close()
    engine.dispose()
    with engine.connect() as conn:
        assert stream_mod._journal_mode(conn, "DELETE") == "WAL"
        assert mode(conn) == "delete"
        assert stream_mod._journal_mode(conn, "DELETE") is None  # already so: nothing to restore
        assert stream_mod._journal_mode(conn, "WAL") == "DELETE"
        assert mode(conn) == "wal"
    engine.dispose()


def test_the_inserting_process_puts_the_database_back_in_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child loads with a rollback journal and switches back itself (not only the
    next connection): a database file that another tool opens is in WAL mode."""
    monkeypatch.setattr(stream_mod, "PARALLEL_MIN_BYTES", 0)
    real = stream_mod._journal_mode
    log = tmp_path / "modes.txt"

    def spy(conn: Any, mode: str) -> str | None:  # runs in the child: it writes down what it did
        before = real(conn, mode)
        with log.open("a", encoding="utf-8") as f:
            f.write(f"{mode} from {before}\n")
        return before

    monkeypatch.setattr(stream_mod, "_journal_mode", spy)
    path = tmp_path / "snap.json"
    path.write_text(dump_layout(_big_doc(30)), encoding="utf-8")
    engine = fresh_db(f"sqlite:///{tmp_path / 'w.db'}")
    engine.dispose()  # no connection of ours open: the child may switch
    load_snapshot(engine, path)
    engine.dispose()
    raw = sqlite3.connect(str(tmp_path / "w.db"))  # plain sqlite3: nothing switches it on opening
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("SELECT count(*) FROM appointments").fetchone()[0] == 30
    raw.close()
    assert log.read_text(encoding="utf-8").splitlines() == ["DELETE from WAL", "WAL from DELETE"]


@pytest.mark.parametrize("layout", ["streamed", "read whole"])
def test_a_postgresql_load_leaves_the_clients_table_vacuumed(pg_server: Any, tmp_path: Path, layout: str) -> None:
    """Counting active clients (every plan does) is an index-only scan right after a load,
    not a whole-table read until autovacuum comes by: every page is marked all-visible."""
    from sqlalchemy import create_engine, text

    source = fresh_db(f"sqlite:///{tmp_path / 'src.db'}", PRACTICE_YAML)
    path = tmp_path / "dump.json"
    doc = dump_snapshot(source, "json")
    if layout == "read whole":
        doc = json.dumps(dict(reversed(list(json.loads(doc).items()))))
    path.write_text(doc, encoding="utf-8")
    source.dispose()
    url = pg_server.create_database()
    target = fresh_db(url)
    try:
        assert load_snapshot(target, path)["clients"] == 30
    finally:
        target.dispose()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            pages, visible, vacuums = conn.execute(
                text(
                    "SELECT c.relpages, c.relallvisible, s.vacuum_count FROM pg_class c "
                    "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = 'clients'"
                )
            ).one()
    finally:
        engine.dispose()
    assert pages >= 1 and visible == pages
    assert vacuums >= 1
