"""`reconciler apply` as a user runs it (a real subprocess), on SQLite and PostgreSQL:
a kill at any moment leaves the database as before, two applies never interleave,
no confirmation without a terminal, and no client name in anything it prints."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_executor_support import (
    AT,
    EXAMPLES,
    approved_clients_config,
    cli_env,
    full_state,
    invoke,
    names_in,
    paused_cli_cmd,
    plan_for,
    practice_db,
    run_cli,
    save_plan_file,
)

from reconciler.app.workflow import render_plan

HANDOVER = EXAMPLES / "handover"  # 5 writer groups: export, sessions, series, clients, staff
OFFBOARDING = EXAMPLES / "offboarding"
WAIT_FOR_PAUSE = 90.0  # seconds; generous for a loaded CI machine (the test never sleeps this long normally)


TRAVEL = (
    "--at",
    AT,
    "--allow-time-travel",
)  # the saved plans are made at AT, in the past


def start_paused_apply(
    db_url: str,
    plan: Path,
    tmp_path: Path,
    after: int | str,
    seconds: float = 120,
    config: Path = HANDOVER,
) -> subprocess.Popen[str]:
    """Start `apply PLAN --auto-approve` that stops inside its transaction after writer group
    ``after`` (or at ``"commit"``: committed, not yet reported)."""
    marker = tmp_path / "paused"
    env = cli_env(db_url)
    proc = subprocess.Popen(
        paused_cli_cmd(
            after,
            marker,
            seconds,
            "apply",
            str(plan),
            "--auto-approve",
            "-c",
            str(config),
            *TRAVEL,
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
    deadline = time.monotonic() + WAIT_FOR_PAUSE
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"apply ended before the pause point (rc {proc.returncode}): {out}{err}")
        assert time.monotonic() < deadline, "apply never reached the pause point"
        time.sleep(0.05)
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


# ---------------------------------------------------------------- atomicity
@pytest.mark.parametrize("after", [2, 5], ids=["after-sessions-moved", "after-last-writer-before-commit"])
def test_sigkill_mid_transaction_leaves_the_database_as_before_and_reapply_converges(
    db_url: str, tmp_path: Path, after: int
) -> None:
    engine = practice_db(db_url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    before = full_state(engine)  # every row of every table, audit and seat events included
    kill(start_paused_apply(db_url, plan, tmp_path, after))
    assert full_state(engine) == before
    # The export was made before the first write; applying the same plan again reuses it and converges.
    res = run_cli(
        db_url,
        "apply",
        str(plan),
        "-c",
        str(HANDOVER),
        *TRAVEL,
        "--auto-approve",
        "--export-dir",
        str(tmp_path / "exports"),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Apply complete: 45 actions, 45 audit events")
    assert plan_for(engine, HANDOVER).is_empty


# ---------------------------------------------------------------- concurrency
def test_second_apply_waits_then_fails_naming_the_holder(db_url: str, tmp_path: Path) -> None:
    engine = practice_db(db_url)
    plan = save_plan_file(engine, OFFBOARDING, tmp_path / "plan.json")
    before = full_state(engine)
    first = start_paused_apply(db_url, plan, tmp_path, after=1, config=OFFBOARDING)
    try:
        plan_id = json.loads(plan.read_text())["plan_id"]
        second = invoke(
            db_url,
            "apply",
            str(plan),
            "-c",
            str(OFFBOARDING),
            *TRAVEL,
            "--auto-approve",
            "--lock-timeout",
            "1",
            actor="pmorgan",
        )
        assert second.exit_code == 1
        assert second.stderr.startswith(f"Error: another apply holds the lock: alee (plan {plan_id}")
    finally:
        kill(first)
    assert full_state(engine) == before


def test_second_apply_that_gets_the_lock_after_the_first_commits_finds_the_plan_already_applied(
    db_url: str, tmp_path: Path
) -> None:
    engine = practice_db(db_url)
    plan = save_plan_file(engine, OFFBOARDING, tmp_path / "plan.json")
    first = start_paused_apply(db_url, plan, tmp_path, after=1, seconds=2, config=OFFBOARDING)
    second = invoke(
        db_url,
        "apply",
        str(plan),
        "-c",
        str(OFFBOARDING),
        *TRAVEL,
        "--auto-approve",
        "--lock-timeout",
        "60",
    )
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    after_first = full_state(engine)
    assert second.exit_code == 1
    assert "already applied" in second.stderr and "re-run plan" in second.stderr
    assert full_state(engine) == after_first
    assert len(after_first["audit_events"]) == len(json.loads(plan.read_text())["actions"])


# ---------------------------------------------------------------- confirmation
@pytest.mark.parametrize("how", ["saved-plan", "plan-and-apply"])
def test_apply_without_auto_approve_and_no_terminal_refuses(db_url: str, tmp_path: Path, how: str) -> None:
    engine = practice_db(db_url)
    args = [str(save_plan_file(engine, OFFBOARDING, tmp_path / "p.json"))] if how == "saved-plan" else []
    args += ["-c", str(OFFBOARDING), *TRAVEL]
    before = full_state(engine)
    res = invoke(db_url, "apply", *args)
    assert res.exit_code == 1
    assert "stdin is not a terminal" in res.stderr and "--auto-approve" in res.stderr
    assert full_state(engine) == before


# ---------------------------------------------------------------- PHI
def test_no_client_name_in_plan_apply_audit_or_log_output(db_url: str, tmp_path: Path) -> None:
    engine = practice_db(db_url)
    printed: list[str] = []
    clients, approval = approved_clients_config(tmp_path)
    for config in (clients, HANDOVER):
        plan = plan_for(engine, config)
        printed += [render_plan(plan, fmt) for fmt in ("text", "json", "markdown")]
        res = run_cli(
            db_url,
            "apply",
            "-c",
            str(config),
            *TRAVEL,
            "--auto-approve",
            "--confirm-delete",
            "C-1013",
            "--approval",
            str(approval),
            "--export-dir",
            str(tmp_path / "exports"),
            cwd=tmp_path,
        )
        assert res.returncode == 0, res.stderr
        printed += [res.stdout, res.stderr]
    for fmt in ("text", "json"):
        res = invoke(db_url, "audit", "--format", fmt)
        assert res.exit_code == 0 and res.stdout.count("\n") > 40
        printed.append(res.output)
    assert names_in("\n".join(printed)) == []
    # ... while the exports, the one place for PHI, do hold names.
    exports = "".join(p.read_text() for p in sorted((tmp_path / "exports").iterdir()))
    assert names_in(exports)
