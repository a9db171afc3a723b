"""Helpers for database tests: a fresh, initialised practice database.

Use with the ``db_url`` fixture so a test runs on SQLite and PostgreSQL::

    def test_something(db_url):
        engine = fresh_db(db_url, EXAMPLES / "practice.yaml")
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from reconciler.db.engine import make_engine
from reconciler.db.migrate import init_db

ROOT = Path(__file__).resolve().parent.parent
PRACTICE_YAML = ROOT / "examples" / "practice.yaml"


def fresh_db(db_url: str, snapshot: Path | None = None) -> Engine:
    """An engine on ``db_url`` with the schema at head and, if given, ``snapshot`` loaded."""
    engine = make_engine(db_url)
    init_db(engine)
    if snapshot is not None:
        from reconciler.db.snapshot import load_snapshot

        load_snapshot(engine, snapshot)
    return engine
