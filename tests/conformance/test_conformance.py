"""The conformance suite on every shipped target and backend (issue 9): each scenario of
reconciler/conformance runs on native/SQLite, native/PostgreSQL and openemr/MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.conformance.scenarios import run_scenario, scenarios


@pytest.mark.parametrize("scenario", sorted(scenarios()))
def test_scenario(harness, scenario: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_scenario(harness, scenario, tmp_path / "run")
