"""A target from another package, registered under the ``reconciler.targets`` entry-point
group, is selected by ``--target`` and runs the conformance suite (docs/targets.md):
here the native target registered again as ``inhouse``."""

from __future__ import annotations

from pathlib import Path

import pytest

import reconciler.targets as targets
from reconciler.conformance.scenarios import run_scenario

from .harnesses import NativeHarness


class _EntryPoint:
    name = "inhouse"

    def load(self):  # type: ignore[no-untyped-def]
        from reconciler.targets.native.target import NativeTarget

        return NativeTarget.open


@pytest.fixture
def inhouse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "_entry_points", lambda: {"inhouse": _EntryPoint()})


def test_a_registered_target_is_known(inhouse: None) -> None:
    assert targets.known_names() == ("native", "openemr", "inhouse")
    assert targets.resolve_name("inhouse") == "inhouse"
    with pytest.raises(targets.ReconcilerError, match="known: native, openemr, inhouse"):
        targets.resolve_name("nosuch")


@pytest.mark.parametrize("scenario", ["offboard-standard", "stale-plan"])
def test_a_registered_target_runs_the_suite(inhouse: None, tmp_path: Path, scenario: str) -> None:
    counter = iter(range(100))
    harness = NativeHarness("inhouse/sqlite", lambda: f"sqlite:///{tmp_path / f'p{next(counter)}.db'}")
    harness.target = "inhouse"
    run_scenario(harness, scenario, tmp_path / "run")
