"""An uninitialised, missing or unreachable database is one clear error for every command
(split from test_edges_review.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from dbhelpers import PRACTICE_YAML
from test_executor_support import (
    EXAMPLES,
)

from reconciler.cli import main

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
    db_url: str, tmp_path: Path, args: list[str]
) -> None:
    argv = [a.replace("{url}", db_url).replace("{tmp}", str(tmp_path)) for a in args]
    res = cli(*argv, "--db", db_url) if "--db" not in argv else cli(*argv)
    assert_one_clear_error(res, "not initialised", "reconciler db init")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "imported").exists()


@pytest.mark.parametrize(
    "args",
    [["status"], ["audit"], ["plan", "-c", str(HANDOVER)], ["db", "dump"]],
    ids=["status", "audit", "plan", "db-dump"],
)
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
