"""Ctrl-C tells the truth (issue 11, item 2): SIGINT (or SIGTERM) while an apply is
paused inside its transaction ends "Interrupted: nothing was changed" (exit 130/143)
with the database as before; once the commit has started, the apply completes, prints
its normal success line and then "Interrupted after the changes were committed"
(same exit code)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from test_apply_cli import HANDOVER, start_paused_apply
from test_executor_support import (
    full_state,
    plan_for,
    practice_db,
    save_plan_file,
)


@pytest.mark.parametrize(
    "sig, code",
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["SIGINT", "SIGTERM"],
)
def test_interrupt_before_commit_says_nothing_changed(db_url: str, tmp_path: Path, sig: int, code: int) -> None:
    engine = practice_db(db_url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    before = full_state(engine)
    proc = start_paused_apply(db_url, plan, tmp_path, 5, 60)  # after the last writer group, before COMMIT
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
    proc = start_paused_apply(db_url, plan, tmp_path, "commit", 2)  # committed, not yet reported
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, (out, err)
    assert out.startswith("Apply complete: "), out
    assert err.strip().splitlines() == ["Interrupted after the changes were committed (the apply is complete)"], err
    assert plan_for(engine, HANDOVER).is_empty  # it really was applied
    engine.dispose()
