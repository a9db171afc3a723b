"""Files the commands write are named when they cannot be written, private (0600) and never
overwritten (split from test_edges_review.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner, Result
from test_executor_support import (
    AT,
    EXAMPLES,
    names_in,
    practice_db,
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
    out.parent.mkdir()  # `export --out` never creates directories (issue 11)
    old = os.umask(0)
    try:
        res = cli("export", "--staff", "jdoe", "--format", "csv", "--out", str(out), "--db", db_url)
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    body = out.read_bytes()
    assert_one_clear_error(
        cli("export", "--staff", "jdoe", "--format", "csv", "--out", str(out), "--db", db_url), "already exists"
    )
    assert out.read_bytes() == body
