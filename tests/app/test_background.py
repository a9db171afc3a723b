"""``app.background.Later``: a string computed by a forked process, or here when a
process is not the right tool; the same value either way."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest
from constants import ROOT
from dbhelpers import PRACTICE_YAML, fresh_db

import reconciler.app.workflow as workflow
from reconciler.app.background import NO_FORK_ENV, Later
from reconciler.config.loader import load_config
from reconciler.model.actions import Action, ActionType, Plan
from reconciler.targets.native.target import NativeTarget

HERE = str(os.getpid())


def test_the_value_is_computed_in_another_process() -> None:
    assert threading.active_count() == 1, "the test process runs threads: nothing would fork"
    with Later(lambda: str(os.getpid())) as later:
        assert later() not in ("", HERE)


@pytest.mark.parametrize("why", ["too small", "switched off", "another thread"])
def test_it_is_computed_here_when_a_process_is_not_the_right_tool(why: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    if why == "switched off":
        monkeypatch.setenv(NO_FORK_ENV, "1")
    if why == "another thread":
        thread.start()
    try:
        with Later(lambda: str(os.getpid()), fork=why != "too small") as later:
            assert later() == str(os.getpid())
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


def test_a_child_that_fails_leaves_the_work_to_this_process() -> None:
    def only_here() -> str:
        if str(os.getpid()) != HERE:
            raise RuntimeError("the child fails")
        return "computed here"

    assert Later(only_here)() == "computed here"


def test_a_closed_child_leaves_the_work_to_this_process() -> None:
    later = Later(lambda: str(os.getpid()))
    later.close()
    assert later() == HERE
    later.close()  # nothing left to end


def test_the_value_is_asked_for_once_and_kept() -> None:
    calls: list[int] = []

    def value() -> str:
        calls.append(1)
        return "é" * 300_000  # more than a pipe holds at once, not ASCII

    later = Later(value, fork=False)
    assert later() == later() == "é" * 300_000
    assert len(calls) == 1
    assert Later(value)() == "é" * 300_000


def test_a_plan_fingerprinted_by_a_forked_process_is_the_same_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    fresh_db(url, PRACTICE_YAML).dispose()
    desired = load_config(ROOT / "examples" / "offboarding")
    now = dt.datetime(2026, 11, 24, 18, 30, tzinfo=dt.timezone.utc)
    target = NativeTarget.open(url)
    monkeypatch.setenv(NO_FORK_ENV, "1")
    inline = workflow.compute_plan(target, desired, at_text="2026-11-24T15:00:00Z", now=now)
    monkeypatch.delenv(NO_FORK_ENV)
    monkeypatch.setattr(workflow, "FORK_FINGERPRINT_ROWS", 0)
    forked = workflow.compute_plan(target, desired, at_text="2026-11-24T15:00:00Z", now=now)
    assert forked.dumps() == inline.dumps()
    target.dispose()


def _many_actions(n: int) -> Plan:
    actions = tuple(
        Action(i, ActionType.APPOINTMENT_CANCEL, f"A-{i}", "bsmith", {"status": ("scheduled", "cancelled")}, "r")
        for i in range(1, n + 1)
    )
    return Plan(as_of="2026-11-24T15:00:00Z", db_fingerprint="sha256:x", config_digest="sha256:y", actions=actions)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per child process a :class:`Later` forks from now on."""
    import reconciler.app.background as background

    made: list[int] = []
    real = background.Later._fork

    def counting(self: Later) -> None:
        made.append(1)
        real(self)

    monkeypatch.setattr(background.Later, "_fork", counting)
    return made


@pytest.mark.parametrize("n", [workflow.FORK_DIGEST_ACTIONS - 1, workflow.FORK_DIGEST_ACTIONS])
def test_a_large_plans_json_has_its_id_digested_by_a_forked_process(n: int, forks: list[int], tmp_path: Path) -> None:
    """``plan --format json`` / ``--out``: the id of a plan of FORK_DIGEST_ACTIONS actions or
    more is worked out in a child process; the text is the same either way."""
    expected = _many_actions(n).dumps()
    plan = _many_actions(n)
    assert workflow.render_plan(plan, "json") == expected
    assert forks == ([1] if n >= workflow.FORK_DIGEST_ACTIONS else [])
    saved = _many_actions(n)
    out = tmp_path / "plan.json"
    workflow.save_plan(saved, out)
    assert out.read_text(encoding="utf-8") == expected
    assert workflow.render_plan(plan, "json") == expected  # known now: no second child
    assert len(forks) == (2 if n >= workflow.FORK_DIGEST_ACTIONS else 0)


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_the_text_is_the_same_whoever_digests_the_id(fmt: str, forks: list[int]) -> None:
    """The text format asks for the id last too (its title is filled in at the end), so a
    large plan's id is digested by a child; markdown names it first and does not fork."""
    from reconciler.render import render_plan as render

    n = workflow.FORK_DIGEST_ACTIONS
    expected = render(_many_actions(n), fmt)
    assert workflow.render_plan(_many_actions(n), fmt) == expected
    if fmt == "text":
        assert expected.splitlines()[0] == f"Reconciler plan {_many_actions(n).plan_id}"
    assert forks == ([1] if fmt == "text" else [])
