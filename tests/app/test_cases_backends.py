"""A subset of tests/cases/ planned through each backend (SQLite, PostgreSQL) from the
sample snapshot: the same plan.json as without a database."""

from __future__ import annotations

import datetime as dt

import pytest
from cases import CASES_DIR, normalised_json
from constants import EXAMPLES_DIR
from dbhelpers import fresh_db

from reconciler.app.workflow import compute_plan
from reconciler.config.loader import load_config
from reconciler.targets.native.target import NativeTarget

THROUGH_BACKENDS = ("offboarding", "scheduled")


@pytest.mark.parametrize("name", THROUGH_BACKENDS)
def test_case_plans_the_same_through_the_backend(db_url: str, name: str) -> None:
    case = CASES_DIR / name
    at = (case / "at.txt").read_text(encoding="utf-8").strip()
    engine = fresh_db(db_url, EXAMPLES_DIR / "practice.yaml")
    try:
        got = compute_plan(
            NativeTarget(engine),
            load_config(case / "config"),
            at_text=at,
            now=dt.datetime(2026, 11, 24, 15, tzinfo=dt.timezone.utc),
        )
    finally:
        engine.dispose()
    assert normalised_json(got) == (case / "plan.json").read_text(encoding="utf-8")
