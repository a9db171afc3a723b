"""Helpers for database tests: a fresh, initialised practice database.

Use with the ``db_url`` fixture so a test runs on SQLite and PostgreSQL::

    def test_something(db_url):
        engine = fresh_db(db_url, EXAMPLES / "practice.yaml")
"""

from __future__ import annotations

from pathlib import Path

from constants import ROOT
from sqlalchemy.engine import Engine

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
