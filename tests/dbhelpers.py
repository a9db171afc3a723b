"""Helpers for database tests: a fresh, initialised practice database.

Use with the ``db_url`` fixture so a test runs on SQLite and PostgreSQL::

    def test_something(db_url):
        engine = fresh_db(db_url, EXAMPLES / "practice.yaml")
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from constants import ROOT
from sqlalchemy.engine import Engine

from reconciler.errors import DatabaseError
from reconciler.targets.native.engine import make_engine
from reconciler.targets.native.migrate import init_db

PRACTICE_YAML = ROOT / "examples" / "practice.yaml"

#: A config that matches PRACTICE_YAML exactly: its plan is empty.
MATCHING_CONFIG = """version: 1
practice: {timezone: America/New_York, owner: alee, clinical_director: mkhan}
staff:
  - {id: alee, name: Ana Lee, role: owner}
  - {id: mkhan, name: Mina Khan, role: clinical_director}
  - {id: pmorgan, name: Pat Morgan, role: practice_manager}
  - {id: rbill, name: Rae Billings, role: biller}
  - {id: bsmith, name: Beth Smith, role: clinician}
  - {id: jdoe, name: Jon Doe, role: clinician}
  - {id: cdavis, name: Cara Davis, role: clinician}
  - {id: egarcia, name: Eli Garcia, role: clinician}
  - {id: tnguyen, name: Tam Nguyen, role: clinician, active: false}
"""


def fresh_db(db_url: str, snapshot: Path | None = None) -> Engine:
    """An engine on ``db_url`` with the schema at head and, if given, ``snapshot`` loaded."""
    engine = make_engine(db_url)
    init_db(engine)
    if snapshot is not None:
        from reconciler.targets.native.snapshot import load_snapshot

        load_snapshot(engine, snapshot)
    return engine


def engine_error(url: str) -> str:
    """The engine path's words for an unusable database at ``url`` (make_engine, then
    require_schema)."""
    from reconciler.targets.native.engine import require_schema

    with pytest.raises(DatabaseError) as info:
        engine = make_engine(url, must_exist=True)
        try:
            require_schema(engine)
        finally:
            engine.dispose()
    return str(info.value)


def light_error(url: str) -> str:
    """The light read path's words for it (``NativeTarget.open`` without an engine)."""
    from reconciler.targets.native.target import NativeTarget

    with pytest.raises(DatabaseError) as info:
        target = NativeTarget.open(url)
        assert "engine" not in target.__dict__
        target.require_schema()
    return str(info.value)


def plan_in_a_fresh_process(url: str, at: str) -> tuple[str, list[str]]:
    """``reconciler plan`` of examples/offboarding on ``url`` in a new interpreter: its
    output, and the SQLAlchemy and Alembic modules it imported."""
    script = (
        "import sys\n"
        "from reconciler.cli import main\n"
        "try:\n"
        f"    main(['plan', '-c', {str(ROOT / 'examples' / 'offboarding')!r}, '--db', {url!r}, '--at', {at!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic'))\n"
        "print('loaded:', loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[-1].startswith("loaded: ")
    return out, ast.literal_eval(lines[-1].removeprefix("loaded: "))
