"""Backup/restore after an ordinary apply (issue 11, item 1): for random worlds (the
example practice with series moved to start before or after the plan time, some
with an ``until``) and random desired states, after ``apply`` the database dumps,
loads into a fresh database and dumps again byte-identically."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import yaml
from dbhelpers import MATCHING_CONFIG, PRACTICE_YAML, fresh_db
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st
from test_executor_property import desired_states
from test_executor_support import AT, NOW

from reconciler.app.executor import apply_plan
from reconciler.app.workflow import compute_plan
from reconciler.config.loader import load_config
from reconciler.errors import PlanRefused, ValidationFailed
from reconciler.model.actions import ActionType
from reconciler.targets.native.snapshot import dump_snapshot
from reconciler.targets.native.target import NativeTarget

SNAP: dict[str, Any] = yaml.safe_load(PRACTICE_YAML.read_text())


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    """The example practice with every series shifted by -3..+4 weeks (so some start
    after the plan time, 2026-11-24) and some given an ``until`` after their start."""
    snap = {k: [dict(r) for r in v] if isinstance(v, list) else v for k, v in SNAP.items()}
    for s in snap["series"]:
        weeks = draw(st.integers(-3, 4))
        start = dt.datetime.fromisoformat(s["start"]) + dt.timedelta(weeks=weeks)
        s["start"] = start.isoformat()
        if draw(st.booleans()):
            s["until"] = (start + dt.timedelta(weeks=draw(st.integers(0, 6)))).isoformat()
    return snap


_EMPTY: list[Path] = []


def _loaded(path: Path, snapshot: Path) -> Any:
    """``fresh_db(sqlite:///path, snapshot)`` made fast: the schema comes from a copy of
    one initialised empty database (Alembic runs once), then the snapshot is loaded."""
    import atexit
    import shutil

    from reconciler.targets.native.engine import make_engine
    from reconciler.targets.native.snapshot import load_snapshot

    if not _EMPTY:
        tmp = Path(tempfile.mkdtemp(prefix="reconciler-empty-"))
        atexit.register(shutil.rmtree, tmp, True)
        fresh_db(f"sqlite:///{tmp / 'empty.db'}").dispose()
        _EMPTY.append(tmp / "empty.db")
    shutil.copyfile(_EMPTY[0], path)
    engine = make_engine(f"sqlite:///{path}")
    load_snapshot(engine, snapshot)
    return engine


def test_dump_load_dump_round_trips_after_any_apply() -> None:
    # No shrinking phase: a failing world is printed as drawn (a shrink of a database
    # world takes minutes).
    @settings(
        max_examples=10,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(world=worlds(), config=desired_states())
    def check(world: dict[str, Any], config: dict[str, Any]) -> None:
        shm = Path("/dev/shm")
        with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as d:
            tmp = Path(d)
            (tmp / "cfg").mkdir()
            (tmp / "cfg" / "practice.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
            (tmp / "world.yaml").write_text(yaml.safe_dump(world, sort_keys=False))
            engine = _loaded(tmp / "a.db", tmp / "world.yaml")
            other = None
            try:
                try:
                    plan = compute_plan(
                        NativeTarget(engine),
                        load_config(tmp / "cfg"),
                        at_text=AT,
                        now=NOW,
                        allow_mass_change=True,
                    )
                except (ValidationFailed, PlanRefused):
                    reject()
                deletes = tuple(a.target for a in plan.actions if a.type is ActionType.CLIENT_DELETE)
                apply_plan(
                    NativeTarget(engine),
                    plan,
                    actor="alee",
                    confirm_delete=deletes,
                    export_dir=tmp / "exports",
                    lock_timeout=5,
                    now=NOW,
                )
                first = dump_snapshot(engine, "yaml")
                (tmp / "dump.yaml").write_text(first, encoding="utf-8")
                other = _loaded(tmp / "b.db", tmp / "dump.yaml")
                assert dump_snapshot(other, "yaml") == first
            finally:
                engine.dispose()
                if other is not None:
                    other.dispose()

    check()


def test_ending_a_series_that_has_not_started_ends_it_at_its_start(
    tmp_path: Path,
) -> None:
    """The example from the issue: bsmith leaves now; a series of hers starting next
    week is ended (inactive) with ``until`` at its start, never before it."""
    world = {k: [dict(r) for r in v] if isinstance(v, list) else v for k, v in SNAP.items()}
    world["series"][0]["start"] = "2026-12-07T09:00:00-05:00"  # S-1, bsmith, after AT
    (tmp_path / "world.yaml").write_text(yaml.safe_dump(world, sort_keys=False))
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    config = yaml.safe_load(MATCHING_CONFIG)
    for s in config["staff"]:
        if s["id"] == "bsmith":
            s.update({"active": False, "successor": "jdoe"})
    (cfg / "practice.yaml").write_text(yaml.safe_dump(config))
    engine = fresh_db(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "world.yaml")
    plan = compute_plan(
        NativeTarget(engine),
        load_config(cfg),
        at_text=AT,
        now=NOW,
        allow_mass_change=True,
    )
    end = next(a for a in plan.actions if a.type is ActionType.SERIES_END and a.target == "S-1")
    assert end.changes["until"] == (None, "2026-12-07T14:00:00Z")
    assert end.changes["active"] == (True, False)
    engine.dispose()
