"""Command-line errors: damaged plan files, usage errors (exit 1, never 2), Ctrl-C and --debug,
bad --at and seconds (split from test_edges_review.py).
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
from test_executor_support import (
    AT,
    CLIENT_NAMES,
    EXAMPLES,
    cli_env,
    full_state,
    names_in,
    paused_cli_cmd,
    practice_db,
    save_plan_file,
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


# ---------------------------------------------------------------- damaged plan files
PLAN_FILES: list[tuple[str, Callable[[str], bytes], str]] = [
    ("not-json", lambda good: b"hello\n", "not a reconciler plan file"),
    ("empty-file", lambda good: b"", "not a reconciler plan file"),
    ("truncated", lambda good: good[:300].encode(), "not a reconciler plan file"),
    ("a-json-list", lambda good: b"[1, 2]", "JSON list, not an object"),
    (
        "format-version-2",
        lambda good: good.replace('"format_version": 1', '"format_version": 2').encode(),
        "unsupported plan format_version 2",
    ),
    ("not-utf-8", lambda good: b"\xff\xfe{}", "not UTF-8"),
    (
        "missing-actions",
        lambda good: json.dumps({k: v for k, v in json.loads(good).items() if k != "actions"}).encode(),
        "missing key 'actions'",
    ),
    (
        "unknown-action-type",
        lambda good: good.replace('"appointment.transfer"', '"appointment.teleport"').encode(),
        "not a valid ActionType",
    ),
    (
        "garbage-as-of",
        lambda good: good.replace(json.loads(good)["as_of"], "yesterday-ish").encode(),
        "not a reconciler plan file",
    ),
]


@pytest.mark.parametrize("make,words", [(m, w) for _, m, w in PLAN_FILES], ids=[i for i, _, _ in PLAN_FILES])
def test_a_damaged_plan_file_is_refused_before_touching_the_database(
    db_url: str, tmp_path: Path, make: Callable[[str], bytes], words: str
) -> None:
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


# ---------------------------------------------------------------- Ctrl-C and --debug
def test_ctrl_c_during_apply_exits_130_changes_nothing_and_leaves_no_export(db_url: str, tmp_path: Path) -> None:
    engine = practice_db(db_url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    before = full_state(engine)
    marker = tmp_path / "paused"
    env = cli_env(db_url)
    proc = subprocess.Popen(
        paused_cli_cmd(
            2,
            marker,
            120,
            "apply",
            str(plan),
            "--auto-approve",
            "-c",
            str(HANDOVER),
            "--at",
            AT,
            "--allow-time-travel",
            "--export-dir",
            str(tmp_path / "exports"),
        ),
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "apply never reached the pause point"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert err.strip() == "Interrupted: nothing was changed" and "Traceback" not in err
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
    for args in (
        ["plan", "-c", str(HANDOVER), "--db", db_url],
        ["status", "--db", db_url],
        ["validate", "-c", str(HANDOVER)],
    ):
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
