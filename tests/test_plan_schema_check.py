"""The schema check every planning command runs: at head, without importing Alembic (both backends)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from dbhelpers import fresh_db
from sqlalchemy import text

from reconciler.errors import DatabaseError
from reconciler.targets.native.engine import HEAD_REVISION, require_schema


def test_the_head_constant_is_alembics_head() -> None:
    from reconciler.targets.native.migrate import head_revision

    assert HEAD_REVISION == head_revision(), (
        "a migration was added: update reconciler.targets.native.lite.HEAD_REVISION"
    )


def test_require_schema_does_not_import_alembic(db_url: str) -> None:
    fresh_db(db_url).dispose()
    code = (
        "import sys\n"
        "from reconciler.targets.native.engine import make_engine, require_schema\n"
        f"require_schema(make_engine({db_url!r}))\n"
        "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('alembic.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "recorded, message",
    [("0000", "run `reconciler db upgrade`"), (None, None)],
    ids=["older-revision-refused", "head-accepted"],
)
def test_require_schema_compares_the_recorded_revision(db_url: str, recorded: str | None, message: str | None) -> None:
    engine = fresh_db(db_url)
    if recorded is not None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": recorded})
    try:
        if message is None:
            require_schema(engine)
        else:
            with pytest.raises(DatabaseError, match=f"revision {recorded}.*{message}"):
                require_schema(engine)
    finally:
        engine.dispose()
