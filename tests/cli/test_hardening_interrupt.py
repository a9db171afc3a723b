"""Ctrl-C tells the truth (issue 11, item 2): SIGINT (or SIGTERM) while an apply is
paused inside its transaction ends "Interrupted: nothing was changed" (exit 130/143)
with the database as before; once the commit has started, the apply completes, prints
its normal success line and then "Interrupted after the changes were committed"
(same exit code)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_apply_cli import HANDOVER, TRAVEL, WAIT_FOR_PAUSE
from test_executor_support import (
    cli_env,
    full_state,
    paused_cli_cmd,
    plan_for,
    practice_db,
    save_plan_file,
)


def _paused(db_url: str, plan: Path, tmp_path: Path, after: int | str, seconds: float) -> subprocess.Popen[str]:
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        paused_cli_cmd(
            after,
            marker,
            seconds,
            "apply",
            str(plan),
            "--auto-approve",
            "-c",
            str(HANDOVER),
            *TRAVEL,
            "--export-dir",
            str(tmp_path / "exports"),
        ),
        cwd=tmp_path,
        env=cli_env(db_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + WAIT_FOR_PAUSE
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"apply ended before the pause point: {proc.communicate()}")
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize(
    "sig, code",
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["SIGINT", "SIGTERM"],
)
def test_interrupt_before_commit_says_nothing_changed(db_url: str, tmp_path: Path, sig: int, code: int) -> None:
    engine = practice_db(db_url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    before = full_state(engine)
    proc = _paused(db_url, plan, tmp_path, 5, 60)  # after the last writer group, before COMMIT
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, (out, err)
    assert err.strip().splitlines() == ["Interrupted: nothing was changed"], err
    assert "Apply complete" not in out
    assert full_state(engine) == before
    assert not list((tmp_path / "exports").glob("*")) if (tmp_path / "exports").exists() else True
    engine.dispose()


@pytest.mark.parametrize(
    "sig, code",
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["SIGINT", "SIGTERM"],
)
def test_interrupt_after_commit_reports_the_apply_and_the_interrupt(
    db_url: str, tmp_path: Path, sig: int, code: int
) -> None:
    engine = practice_db(db_url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    proc = _paused(db_url, plan, tmp_path, "commit", 2)  # committed, not yet reported
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, (out, err)
    assert out.startswith("Apply complete: "), out
    assert err.strip().splitlines() == ["Interrupted after the changes were committed (the apply is complete)"], err
    assert plan_for(engine, HANDOVER).is_empty  # it really was applied
    engine.dispose()
