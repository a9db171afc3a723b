"""Scenario cases planned without a database: tests/cases/<name>/ holds the config, the
actual state the planner sees (actual.yaml), the plan time and the expected plan."""

from __future__ import annotations

import datetime as dt

import pytest
from cases import CASES_DIR, case_names, load_actual, normalised_json

from reconciler.config.loader import load_config
from reconciler.planner import plan


@pytest.mark.parametrize("name", case_names())
def test_case_plans_as_expected_without_a_database(name: str) -> None:
    case = CASES_DIR / name
    at = dt.datetime.fromisoformat((case / "at.txt").read_text(encoding="utf-8").strip().replace("Z", "+00:00"))
    got = normalised_json(plan(load_config(case / "config"), load_actual(case / "actual.yaml"), at))
    want = (case / "plan.json").read_text(encoding="utf-8")
    assert got == want, f"tests/cases/{name}: the plan differs from plan.json"
