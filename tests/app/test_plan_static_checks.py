"""`plan` rejects what `validate` rejects, in the same words, each fact once (both backends).

compute_plan runs the static config checks (reconciler.planner.validator, with the database's
staff and the practice-local date of ``--at``) before it reads or plans anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from constants import AT, NOW
from dbhelpers import MATCHING_CONFIG, PRACTICE_YAML, fresh_db
from sqlalchemy.engine import Engine

from reconciler.app.validation import validate_config
from reconciler.app.workflow import compute_plan
from reconciler.config.loader import load_config
from reconciler.errors import ValidationFailed
from reconciler.targets.native.target import NativeTarget

BASE = MATCHING_CONFIG

CASES = [
    (
        "successor cycle",
        {
            "{id: bsmith, name: Beth Smith, role: clinician}": "{id: bsmith, name: Beth Smith, role: clinician, active: false, offboarding: handover, successor: jdoe}",
            "{id: jdoe, name: Jon Doe, role: clinician}": "{id: jdoe, name: Jon Doe, role: clinician, active: false, offboarding: handover, successor: bsmith}",
        },
        "successor cycle",
    ),
    (
        "unknown offboarding policy",
        {
            "{id: bsmith, name: Beth Smith, role: clinician}": "{id: bsmith, name: Beth Smith, role: clinician, active: false, offboarding: gentle}"
        },
        "unknown policy 'gentle'",
    ),
    (
        "owner leaving",
        {"{id: alee, name: Ana Lee, role: owner}": "{id: alee, name: Ana Lee, role: owner, active: false}"},
        "alee is the practice owner",
    ),
]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = fresh_db(db_url, PRACTICE_YAML)
    yield eng
    eng.dispose()


def _config(tmp_path: Path, edits: dict[str, str]) -> Path:
    text = BASE
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    d = tmp_path / "cfg"
    d.mkdir()
    (d / "practice.yaml").write_text(text, encoding="utf-8")
    return d


@pytest.mark.parametrize("edits,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_reports_the_static_errors_validate_reports(
    engine: Engine, tmp_path: Path, edits: dict[str, str], needle: str
) -> None:
    desired = load_config(_config(tmp_path, edits))
    validated = [
        (str(p.location), p.message)
        for p in validate_config(desired, NativeTarget(engine), at_text=AT, now=NOW)
        if p.severity == "error"
    ]
    with pytest.raises(ValidationFailed) as err:
        compute_plan(NativeTarget(engine), desired, at_text=AT, now=NOW, allow_mass_change=True)
    planned = [(str(p.location), p.message) for p in err.value.problems]
    assert planned == validated
    assert any(needle in message for _, message in planned), planned
    assert len(set(planned)) == len(planned)  # each fact once
    assert all(":" in where and where.split(":")[0].endswith("practice.yaml") for where, _ in planned)  # located


def test_a_valid_config_still_plans(engine: Engine, tmp_path: Path) -> None:
    desired = load_config(
        _config(
            tmp_path,
            {
                "{id: bsmith, name: Beth Smith, role: clinician}": "{id: bsmith, name: Beth Smith, role: clinician, active: false}"
            },
        )
    )
    assert compute_plan(NativeTarget(engine), desired, at_text=AT, now=NOW).summary["staff.deactivate"] == 1
