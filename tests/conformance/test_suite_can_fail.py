"""The conformance suite catches what it claims to: a target that changes a protected
table definition, leaks a client name, or does not write what the plan says."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.conformance.harness import Facts
from reconciler.conformance.scenarios import ConformanceFailure, prepare, run_scenario

from .harnesses import NativeHarness


class _Drifting(NativeHarness):
    """A harness whose protected tables 'change' during every scenario."""

    def __init__(self, tmp: Path) -> None:
        super().__init__("native/sqlite", lambda: f"sqlite:///{tmp / 'p.db'}")
        self.calls = 0

    def schema_fingerprint(self, url: str) -> str:
        self.calls += 1
        return str(self.calls)


class _Frozen(NativeHarness):
    """A target whose writes do not show: the facts stay as seeded."""

    def __init__(self, tmp: Path) -> None:
        super().__init__("native/sqlite", lambda: f"sqlite:///{tmp / 'p.db'}")
        self.first: Facts | None = None

    def facts(self, url: str) -> Facts:
        self.first = self.first or super().facts(url)
        return self.first


def test_a_changed_table_definition_fails(tmp_path: Path) -> None:
    with pytest.raises(ConformanceFailure, match="protected table definition changed"):
        run_scenario(_Drifting(tmp_path), "reactivation", tmp_path / "run")


def test_writes_that_do_not_land_fail(tmp_path: Path) -> None:
    with pytest.raises(ConformanceFailure, match="bsmith active"):
        run_scenario(_Frozen(tmp_path), "offboard-standard", tmp_path / "run")


def test_a_client_name_in_any_output_fails(tmp_path: Path) -> None:
    run = prepare(NativeHarness("native/sqlite", lambda: f"sqlite:///{tmp_path / 'p.db'}"), tmp_path / "run")
    run.cli("status")
    run.assert_no_phi()
    run.outputs.append("client Marisol Brightwater")
    with pytest.raises(ConformanceFailure, match="Brightwater"):
        run.assert_no_phi()
