"""Convergence (SPEC §3.7) as a property: for a random desired state over the example
practice, plan -> apply -> plan is empty. SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from test_executor_support import AT, NOW, practice_db

from reconciler.app.executor import apply_plan
from reconciler.app.workflow import compute_plan
from reconciler.config.loader import load_config
from reconciler.errors import PlanRefused, ValidationFailed
from reconciler.model.actions import ActionType
from reconciler.targets.native.target import NativeTarget

BASE_STAFF: list[dict[str, Any]] = [
    {"id": "alee", "name": "Ana Lee", "role": "owner", "access": "entire_practice"},
    {"id": "mkhan", "name": "Mina Khan", "role": "clinical_director", "access": "entire_practice", "max_caseload": 60},
    {"id": "pmorgan", "name": "Pat Morgan", "role": "practice_manager", "access": "entire_practice"},
    {"id": "rbill", "name": "Rae Billings", "role": "biller", "access": "assigned_clients"},
]
CLINICIANS = {"bsmith": "Beth Smith", "jdoe": "Jon Doe", "cdavis": "Cara Davis", "egarcia": "Eli Garcia"}
CLIENT_IDS = [f"C-{n}" for n in range(1001, 1030)]  # the active ones; C-1030 is inactive
LEAVE_MODES = {
    "now": {"active": False},
    "dated-past": {"deactivate_on": "2026-11-20"},
    "dated-future": {"deactivate_on": "2026-12-15"},
}


@st.composite
def desired_states(draw: st.DrawFn) -> dict[str, Any]:
    """A config over the example practice: some clinicians leave (any policy, any
    date, a staying successor), some clients get explicit entries, tnguyen may return."""
    leaving = draw(st.lists(st.sampled_from(sorted(CLINICIANS)), max_size=2, unique=True))
    staying = sorted(set(CLINICIANS) - set(leaving)) + ["mkhan"]
    staff = [dict(s) for s in BASE_STAFF]
    for sid in sorted(CLINICIANS):
        entry: dict[str, Any] = {"id": sid, "name": CLINICIANS[sid], "role": "clinician"}
        if sid in leaving:
            entry.update(LEAVE_MODES[draw(st.sampled_from(sorted(LEAVE_MODES)))])
            entry["successor"] = draw(st.sampled_from(staying))
            entry["offboarding"] = draw(st.sampled_from(["standard", "handover"]))
        staff.append(entry)
    staff.append({"id": "tnguyen", "name": "Tam Nguyen", "role": "clinician", "active": draw(st.booleans())})
    chosen = draw(st.lists(st.sampled_from(CLIENT_IDS), max_size=5, unique=True))
    untouched = sorted(set(CLIENT_IDS) - set(chosen))
    clients: list[dict[str, Any]] = []
    for cid in chosen:
        kind = draw(st.sampled_from(["inactive", "primary", "deleted", "duplicate"]))
        if kind == "inactive":
            clients.append({"id": cid, "status": "inactive"})
        elif kind == "primary":
            clients.append({"id": cid, "primary": draw(st.sampled_from(staying))})
        elif kind == "deleted":
            clients.append({"id": cid, "status": "deleted"})
        else:
            clients.append({"id": cid, "duplicate_of": draw(st.sampled_from(untouched))})
    if draw(st.booleans()):
        clients.append({"id": "C-1030", "status": "active", "primary": draw(st.sampled_from(staying))})
    return {
        "version": 1,
        "practice": {"timezone": "America/New_York", "owner": "alee", "clinical_director": "mkhan"},
        "staff": staff,
        "clients": clients,
    }


def new_db_url(backend: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'practice.db'}"
    return request.getfixturevalue("pg_server").create_database()  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend, examples", [("sqlite", 12), ("postgresql", 4)], ids=["sqlite", "postgresql"])
def test_random_desired_state_converges(backend: str, examples: int, request: pytest.FixtureRequest) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],  # each example loads a database: slow by design
    )
    @given(config=desired_states())
    def check(config: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            (tmp / "cfg").mkdir()
            (tmp / "cfg" / "practice.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
            engine = practice_db(new_db_url(backend, tmp, request))
            try:
                desired = load_config(tmp / "cfg")
                try:
                    plan = compute_plan(NativeTarget(engine), desired, at_text=AT, now=NOW, allow_mass_change=True)
                except (ValidationFailed, PlanRefused):
                    reject()  # an invalid random config is not a convergence case
                deletes = tuple(a.target for a in plan.actions if a.type is ActionType.CLIENT_DELETE)
                apply_plan(
                    NativeTarget(engine),
                    plan,
                    actor="alee",
                    confirm_delete=deletes,
                    export_dir=tmp / "exports",
                    lock_timeout=5,
                    progress=False,
                    now=NOW,
                )
                again = compute_plan(NativeTarget(engine), desired, at_text=AT, now=NOW, allow_mass_change=True)
                assert [a.to_json() for a in again.actions] == []
            finally:
                engine.dispose()

    check()
