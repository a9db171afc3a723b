"""Snapshot loading never echoes a client's name in an error and loads all or nothing
(split from test_edges_review.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result
from dbhelpers import PRACTICE_YAML, fresh_db
from test_executor_support import (
    EXAMPLES,
    full_state,
    names_in,
    practice_db,
)

from reconciler.cli import main
from reconciler.errors import SnapshotError
from reconciler.targets.native.snapshot import HIDDEN, parse_snapshot

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


# ---------------------------------------------------------------- PHI in snapshot errors
CLIENT_ROW = "{id: C-1002, first_name: Ava, last_name: Patel, status: active, primary: bsmith, balance_cents: 12500, portal_access: true}"
SNAPSHOT_PHI = [
    ("name-in-balance", "balance_cents: 12500", "balance_cents: Patel", "balance_cents"),
    ("name-in-portal-access", "portal_access: true", "portal_access: Patel", "portal_access"),
    ("name-in-status", "status: active", "status: Ava", "status"),
    ("name-as-a-list", "first_name: Ava", "first_name: [Ava]", "first_name"),
    ("name-too-long", "first_name: Ava", "first_name: Ava" + "a" * 300, "first_name"),
    ("name-in-deleted-at", "portal_access: true", "portal_access: true, deleted_at: Patel", "deleted_at"),
    (
        "other-clients-name-in-duplicate-of",
        "portal_access: true",
        "portal_access: true, duplicate_of: Reyes",
        "unknown client",
    ),
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
    bad.write_text(
        PRACTICE_YAML.read_text().replace(
            CLIENT_ROW, CLIENT_ROW.replace("balance_cents: 12500", "balance_cents: Patel")
        )
    )
    res = cli("db", "load", str(bad), "--db", db_url)
    assert_one_clear_error(res, "snap.yaml:", "C-1002", "balance_cents")
    assert names_in(res.stderr + res.stdout) == []
    assert all(rows == [] for table, rows in full_state(engine).items() if table != "reconciler_meta")


DB_LOAD = [
    ("missing-file", lambda tmp: tmp / "nope.yaml", "does not exist"),
    ("empty-file", lambda tmp: (tmp / "empty.yaml", (tmp / "empty.yaml").write_text(""))[0], "the snapshot is empty"),
    ("not-utf-8", lambda tmp: (tmp / "b.yaml", (tmp / "b.yaml").write_bytes(b"practice: \xff\n"))[0], "cannot read"),
    ("a-list", lambda tmp: (tmp / "l.yaml", (tmp / "l.yaml").write_text("- 1\n"))[0], "a snapshot is a mapping"),
]


@pytest.mark.parametrize("make,words", [(m, w) for _, m, w in DB_LOAD], ids=[i for i, _, _ in DB_LOAD])
def test_db_load_of_a_bad_file_is_one_clear_error(
    db_url: str, tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    fresh_db(db_url).dispose()
    assert_one_clear_error(cli("db", "load", str(make(tmp_path)), "--db", db_url), words)


def test_db_load_twice_is_refused_and_changes_nothing(db_url: str) -> None:
    engine = practice_db(db_url)
    before = full_state(engine)
    assert_one_clear_error(cli("db", "load", str(PRACTICE_YAML), "--db", db_url), "not empty", "nothing was loaded")
    assert full_state(engine) == before
