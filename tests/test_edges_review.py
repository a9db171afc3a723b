"""Edges of the command line (SPEC §4): every bad input is ONE clear message on
stderr, exit 1 (130 for Ctrl-C), never a traceback, nothing changed; exit 2 means
only "the plan has actions"; no client name (PHI) in any error message; files that
hold names are mode 0600.

Each table row is one problem a user can cause; its id says which.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result

from dbhelpers import PRACTICE_YAML, fresh_db
from reconciler.cli import main
from reconciler.targets.native.snapshot import HIDDEN, parse_snapshot
from reconciler.errors import SnapshotError
from test_executor_support import (
    AT, CLIENT_NAMES, EXAMPLES, cli_cmd, cli_env, full_state, names_in, paused_cli_cmd, practice_db, save_plan_file,
)

HANDOVER = EXAMPLES / "handover"  # policy handover: an export file first, then 5 writer groups


def cli(*args: str, db_url: str | None = None) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("RECONCILER_")}
    env.update({"RECONCILER_DB": db_url or "", "RECONCILER_ACTOR": "alee"})
    return CliRunner(env=env).invoke(main, list(args))


def assert_one_clear_error(res: Result, *words: str, code: int = 1) -> None:
    """Exit ``code``, a message on stderr holding ``words``, nothing on stdout, no traceback."""
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    assert res.stderr.strip(), "no message on stderr"
    for w in words:
        assert w in res.stderr, (w, res.stderr)


# ---------------------------------------------------------------- uninitialised database
UNINITIALISED = [
    ("plan", ["plan", "-c", str(HANDOVER)]),
    ("apply", ["apply", "-c", str(HANDOVER), "--auto-approve"]),
    ("validate-with-db", ["validate", "-c", str(HANDOVER), "--db", "{url}"]),
    ("status", ["status"]),
    ("audit", ["audit"]),
    ("export", ["export", "--staff", "bsmith", "--format", "csv", "--out", "{tmp}/x.csv"]),
    ("import", ["import", "--out", "{tmp}/imported"]),
    ("db-dump", ["db", "dump"]),
    ("db-load", ["db", "load", str(PRACTICE_YAML)]),
    ("watch", ["watch", "-c", str(HANDOVER), "--interval", "1"]),
]


@pytest.mark.parametrize("args", [a for _, a in UNINITIALISED], ids=[i for i, _ in UNINITIALISED])
def test_every_command_on_an_uninitialised_database_says_run_db_init(
        db_url: str, tmp_path: Path, args: list[str]) -> None:
    argv = [a.replace("{url}", db_url).replace("{tmp}", str(tmp_path)) for a in args]
    res = cli(*argv, "--db", db_url) if "--db" not in argv else cli(*argv)
    assert_one_clear_error(res, "not initialised", "reconciler db init")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "imported").exists()


@pytest.mark.parametrize("args", [["status"], ["audit"], ["plan", "-c", str(HANDOVER)], ["db", "dump"]],
                         ids=["status", "audit", "plan", "db-dump"])
def test_a_missing_sqlite_file_is_named_and_not_created(tmp_path: Path, args: list[str]) -> None:
    db_file = tmp_path / "typo.db"
    assert_one_clear_error(cli(*args, "--db", f"sqlite:///{db_file}"), "not initialised", str(db_file))
    assert not db_file.exists()


def test_db_init_still_creates_a_new_sqlite_file(tmp_path: Path) -> None:
    db_file = tmp_path / "new.db"
    res = cli("db", "init", "--db", f"sqlite:///{db_file}")
    assert res.exit_code == 0, res.stderr
    assert db_file.exists()


BAD_URLS = [
    ("unknown-scheme", "foo://x/y", "cannot use database URL"),
    ("not-a-url", "garbage", "invalid database URL"),
    ("unreachable-postgresql", "postgresql+psycopg://u:secret@127.0.0.1:1/db", "cannot connect"),
    ("file-that-is-not-sqlite", "sqlite:///{tmp}/notes.txt", "file is not a database"),
    ("directory-as-sqlite-file", "sqlite:///{tmp}", "is a directory"),
    ("file-in-a-missing-directory", "sqlite:///{tmp}/missing/p.db", "not initialised"),
]


@pytest.mark.parametrize("url,words", [(u, w) for _, u, w in BAD_URLS], ids=[i for i, _, _ in BAD_URLS])
def test_a_bad_database_url_is_one_clear_error_without_the_password(tmp_path: Path, url: str, words: str) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n")
    res = cli("status", "--db", url.replace("{tmp}", str(tmp_path)))
    assert_one_clear_error(res, words)
    assert "secret" not in res.stderr


# ---------------------------------------------------------------- damaged plan files
PLAN_FILES: list[tuple[str, Callable[[str], bytes], str]] = [
    ("not-json", lambda good: b"hello\n", "not a reconciler plan file"),
    ("empty-file", lambda good: b"", "not a reconciler plan file"),
    ("truncated", lambda good: good[:300].encode(), "not a reconciler plan file"),
    ("a-json-list", lambda good: b"[1, 2]", "JSON list, not an object"),
    ("format-version-2", lambda good: good.replace('"format_version": 1', '"format_version": 2').encode(),
     "unsupported plan format_version 2"),
    ("not-utf-8", lambda good: b"\xff\xfe{}", "not UTF-8"),
    ("missing-actions", lambda good: json.dumps({k: v for k, v in json.loads(good).items() if k != "actions"}).encode(),
     "missing key 'actions'"),
    ("unknown-action-type", lambda good: good.replace('"appointment.transfer"', '"appointment.teleport"').encode(),
     "not a valid ActionType"),
    ("garbage-as-of", lambda good: good.replace(json.loads(good)["as_of"], "yesterday-ish").encode(),
     "not a reconciler plan file"),
]


@pytest.mark.parametrize("make,words", [(m, w) for _, m, w in PLAN_FILES], ids=[i for i, _, _ in PLAN_FILES])
def test_a_damaged_plan_file_is_refused_before_touching_the_database(
        db_url: str, tmp_path: Path, make: Callable[[str], bytes], words: str) -> None:
    engine = practice_db(db_url)
    good = save_plan_file(engine, HANDOVER, tmp_path / "good.json").read_text()
    before = full_state(engine)
    bad = tmp_path / "bad.json"
    bad.write_bytes(make(good))
    res = cli("apply", str(bad), "--auto-approve", "--export-dir", str(tmp_path / "exports"), "--db", db_url)
    assert_one_clear_error(res, str(bad), words)
    assert full_state(engine) == before
    assert not (tmp_path / "exports").exists()


# ---------------------------------------------------------------- usage errors are exit 1, never 2
USAGE = [
    ("unknown-option", ["plan", "--detailed-exitcode", "--bogus"], "No such option"),
    ("bad-format-choice", ["plan", "--detailed-exitcode", "--format", "xml"], "'xml' is not one of"),
    ("missing-plan-file", ["apply", "no-such-plan.json"], "does not exist"),
    ("export-without-staff", ["export", "--format", "csv", "--out", "x.csv"], "Missing option '--staff'"),
    ("unknown-command", ["plna"], "No such command"),
    ("unknown-db-subcommand", ["db", "dumpp"], "No such command"),
    ("db-load-of-a-directory", ["db", "load", "."], "is a directory"),
]


@pytest.mark.parametrize("args,words", [(a, w) for _, a, w in USAGE], ids=[i for i, _, _ in USAGE])
def test_a_usage_error_exits_1_so_it_cannot_read_as_plan_has_actions(args: list[str], words: str) -> None:
    assert_one_clear_error(cli(*args), words)


# ---------------------------------------------------------------- files the commands write
def test_a_file_that_cannot_be_written_is_named(db_url: str, tmp_path: Path) -> None:
    practice_db(db_url).dispose()
    (tmp_path / "afile").write_text("")
    cases = [
        (["db", "dump", "--out", str(tmp_path / "missing" / "dump.yaml")], "dump.yaml"),
        (["plan", "-c", str(HANDOVER), "--at", AT, "--out", str(tmp_path / "afile" / "p.json")], "not a directory"),
        (["import", "--out", str(tmp_path / "afile" / "cfg")], "afile"),
    ]
    for args, words in cases:
        assert_one_clear_error(cli(*args, "--db", db_url), words)


def test_db_dump_to_a_file_is_private_even_with_a_permissive_umask(db_url: str, tmp_path: Path) -> None:
    practice_db(db_url).dispose()
    out = tmp_path / "dump.yaml"
    out.write_text("old\n")
    os.chmod(out, 0o644)
    old = os.umask(0)
    try:
        res = cli("db", "dump", "--out", str(out), "--db", db_url)
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.stderr
    assert out.stat().st_mode & 0o777 == 0o600  # the snapshot holds client names
    assert names_in(out.read_text())  # ... really: it is a snapshot


def test_export_file_is_0600_with_a_permissive_umask_and_never_overwritten(db_url: str, tmp_path: Path) -> None:
    practice_db(db_url).dispose()
    out = tmp_path / "new" / "jdoe.csv"
    old = os.umask(0)
    try:
        res = cli("export", "--staff", "jdoe", "--format", "csv", "--out", str(out), "--db", db_url)
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.stderr
    assert out.stat().st_mode & 0o777 == 0o600 and out.parent.stat().st_mode & 0o777 == 0o700
    body = out.read_bytes()
    assert_one_clear_error(cli("export", "--staff", "jdoe", "--format", "csv", "--out", str(out), "--db", db_url),
                           "already exists")
    assert out.read_bytes() == body


# ---------------------------------------------------------------- PHI in snapshot errors
CLIENT_ROW = "{id: C-1002, first_name: Ava, last_name: Patel, status: active, primary: bsmith, balance_cents: 12500, portal_access: true}"
SNAPSHOT_PHI = [
    ("name-in-balance", "balance_cents: 12500", "balance_cents: Patel", "balance_cents"),
    ("name-in-portal-access", "portal_access: true", "portal_access: Patel", "portal_access"),
    ("name-in-status", "status: active", "status: Ava", "status"),
    ("name-as-a-list", "first_name: Ava", "first_name: [Ava]", "first_name"),
    ("name-too-long", "first_name: Ava", "first_name: Ava" + "a" * 300, "first_name"),
    ("name-in-deleted-at", "portal_access: true", "portal_access: true, deleted_at: Patel", "deleted_at"),
    ("other-clients-name-in-duplicate-of", "portal_access: true", "portal_access: true, duplicate_of: Reyes",
     "unknown client"),
    ("name-as-primary", "primary: bsmith", "primary: Patel", "unknown staff"),
    ("name-as-an-unknown-key", "portal_access: true", "portal_access: true, Patel: 1", "unknown key"),
]


@pytest.mark.parametrize("old,new,words", [(o, n, w) for _, o, n, w in SNAPSHOT_PHI], ids=[i for i, *_ in SNAPSHOT_PHI])
def test_a_snapshot_error_on_a_client_row_never_echoes_a_name(tmp_path: Path, old: str, new: str, words: str) -> None:
    text = PRACTICE_YAML.read_text()
    assert CLIENT_ROW in text
    bad = tmp_path / "snap.yaml"
    bad.write_text(text.replace(CLIENT_ROW, CLIENT_ROW.replace(old, new, 1)))
    with pytest.raises(SnapshotError) as err:
        parse_snapshot(bad)
    message = str(err.value)
    assert "clients[1] (C-1002)" in message and words in message and HIDDEN in message
    assert names_in(message) == []


def test_a_snapshot_error_still_shows_a_value_that_is_no_name(tmp_path: Path) -> None:
    bad = tmp_path / "snap.yaml"
    bad.write_text(PRACTICE_YAML.read_text().replace(CLIENT_ROW, CLIENT_ROW.replace("status: active", "status: bogus")))
    with pytest.raises(SnapshotError, match=r"snap.yaml:\d+: clients\[1\] \(C-1002\): status: .*\(got 'bogus'\)"):
        parse_snapshot(bad)


def test_db_load_of_a_bad_client_row_prints_no_name_and_loads_nothing(db_url: str, tmp_path: Path) -> None:
    engine = fresh_db(db_url)
    bad = tmp_path / "snap.yaml"
    bad.write_text(PRACTICE_YAML.read_text().replace(CLIENT_ROW, CLIENT_ROW.replace("balance_cents: 12500",
                                                                                    "balance_cents: Patel")))
    res = cli("db", "load", str(bad), "--db", db_url)
    assert_one_clear_error(res, "snap.yaml:", "C-1002", "balance_cents")
    assert names_in(res.stderr + res.stdout) == []
    assert all(rows == [] for rows in full_state(engine).values())


DB_LOAD = [
    ("missing-file", lambda tmp: tmp / "nope.yaml", "does not exist"),
    ("empty-file", lambda tmp: (tmp / "empty.yaml", (tmp / "empty.yaml").write_text(""))[0], "the snapshot is empty"),
    ("not-utf-8", lambda tmp: (tmp / "b.yaml", (tmp / "b.yaml").write_bytes(b"practice: \xff\n"))[0], "cannot read"),
    ("a-list", lambda tmp: (tmp / "l.yaml", (tmp / "l.yaml").write_text("- 1\n"))[0], "a snapshot is a mapping"),
]


@pytest.mark.parametrize("make,words", [(m, w) for _, m, w in DB_LOAD], ids=[i for i, _, _ in DB_LOAD])
def test_db_load_of_a_bad_file_is_one_clear_error(db_url: str, tmp_path: Path,
                                                  make: Callable[[Path], Path], words: str) -> None:
    fresh_db(db_url).dispose()
    assert_one_clear_error(cli("db", "load", str(make(tmp_path)), "--db", db_url), words)


def test_db_load_twice_is_refused_and_changes_nothing(db_url: str) -> None:
    engine = practice_db(db_url)
    before = full_state(engine)
    assert_one_clear_error(cli("db", "load", str(PRACTICE_YAML), "--db", db_url), "not empty", "nothing was loaded")
    assert full_state(engine) == before


# ---------------------------------------------------------------- Ctrl-C and --debug
def test_ctrl_c_during_apply_exits_130_changes_nothing_and_leaves_no_export(db_url: str, tmp_path: Path) -> None:
    engine = practice_db(db_url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    before = full_state(engine)
    marker = tmp_path / "paused"
    env = cli_env(db_url)
    proc = subprocess.Popen(paused_cli_cmd(2, marker, 120, "apply", str(plan), "--auto-approve",
                                           "--export-dir", str(tmp_path / "exports")),
                            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "apply never reached the pause point"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert err.strip() == "Interrupted." and "Traceback" not in err
    assert full_state(engine) == before
    assert list((tmp_path / "exports").glob("*")) == []  # the export of a change that did not happen


def test_debug_shows_the_traceback_that_is_otherwise_hidden(tmp_path: Path) -> None:
    plain = cli("validate", "-c", str(tmp_path / "missing"))
    assert_one_clear_error(plain, "does not exist")
    debug = cli("--debug", "validate", "-c", str(tmp_path / "missing"))
    assert debug.exit_code == 1 and debug.exception is not None
    assert type(debug.exception).__name__ == "ConfigError"


def test_an_unexpected_error_is_one_line_without_its_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The last line of defence: a bug is reported in one line, and the exception's own
    text (which may quote a database row, names included) is not printed."""
    import reconciler.config.loader as config

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError(f"row ({CLIENT_NAMES[0]}, {CLIENT_NAMES[1]}) broke")

    monkeypatch.setattr(config, "load_config", boom)
    res = cli("validate", "-c", str(EXAMPLES / "handover"))
    assert_one_clear_error(res, "unexpected RuntimeError", "--debug")
    assert names_in(res.stderr) == []


# ---------------------------------------------------------------- --at and seconds
AT_GARBAGE = [
    ("not-a-date", "garbage", "not an ISO 8601 date"),
    ("month-13", "2026-13-45", "not an ISO 8601 date"),
    ("year-1", "0001-01-01", "out of range"),
    ("year-9999", "9999-12-31", "out of range"),
    ("year-9999-with-offset", "9999-12-31T23:00:00-05:00", "out of range"),
]


@pytest.mark.parametrize("at,words", [(a, w) for _, a, w in AT_GARBAGE], ids=[i for i, _, _ in AT_GARBAGE])
def test_a_bad_at_is_one_clear_error_for_plan_status_and_validate(db_url: str, at: str, words: str) -> None:
    practice_db(db_url).dispose()
    for args in (["plan", "-c", str(HANDOVER), "--db", db_url], ["status", "--db", db_url],
                 ["validate", "-c", str(HANDOVER)]):
        assert_one_clear_error(cli(*args, "--at", at), f"--at {at!r}", words)


SECONDS = [
    ("interval-nan", ["watch", "--interval", "nan"]),
    ("interval-inf", ["watch", "--interval", "inf"]),
    ("interval-zero", ["watch", "--interval", "0"]),
    ("lock-timeout-nan", ["apply", "--lock-timeout", "nan"]),
    ("lock-timeout-negative", ["apply", "--lock-timeout", "-1"]),
]


@pytest.mark.parametrize("args", [a for _, a in SECONDS], ids=[i for i, _ in SECONDS])
def test_seconds_must_be_a_finite_number(args: list[str]) -> None:
    assert_one_clear_error(cli(*args), "finite number")
