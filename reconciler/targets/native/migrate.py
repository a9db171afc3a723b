"""Schema creation and migration with Alembic, configured in code.

The migration scripts live inside the package (``reconciler/db/migrations``) and
ship with it, so no ``alembic.ini`` is needed at run time. Each command runs in
one transaction on the caller's engine: a failed migration changes nothing (DDL
is transactional on PostgreSQL and, with our engine set-up, on SQLite too).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from reconciler.errors import DatabaseError
from reconciler.targets.native.engine import safe_url
from reconciler.targets.native.schema import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic :class:`Config` pointing at the packaged migrations.

    With ``connection``, ``env.py`` runs the migration on it (inside the caller's
    transaction) instead of opening its own.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration revision shipped with this version."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in the database, or None if it has never been migrated."""
    return MigrationContext.configure(conn).get_current_revision()


def _check_unversioned(conn: Connection, shown: str) -> None:
    """Refuse to migrate over reconciler-named tables that Alembic did not create."""
    present = set(inspect(conn).get_table_names())
    ours = sorted(present & set(metadata.tables))
    if ours and "alembic_version" not in present:
        raise DatabaseError(
            f"database {shown} already has tables {', '.join(ours)} but no schema version; "
            "refusing to initialise over them (use an empty database)"
        )


def _upgrade(engine: Engine) -> tuple[str | None, str]:
    """Upgrade to head in one transaction; returns (revision before, revision after)."""
    shown = safe_url(engine.url)
    try:
        with engine.begin() as conn:
            _check_unversioned(conn, shown)
            before = current_revision(conn)
            if before != head_revision():
                command.upgrade(alembic_config(conn), "head")
            after = current_revision(conn)
    except sa_exc.DBAPIError as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise DatabaseError(f"migrating database {shown} failed: {first[0] if first else exc}") from None
    except Exception as exc:  # alembic's CommandError for an unknown revision in the database
        if exc.__class__.__name__ == "CommandError":
            raise DatabaseError(f"database {shown}: {exc}") from None
        raise
    assert after is not None
    return before, after


def init_db(engine: Engine) -> None:
    """Create the schema (Alembic upgrade to head).

    On a database already at head this changes nothing and says so on stderr; an
    older schema is upgraded. Tables named like ours without a schema version are
    refused (:class:`DatabaseError`).
    """
    before, after = _upgrade(engine)
    if before == after:
        print(
            f"database {safe_url(engine.url)} is already initialised (revision {after}); nothing to do", file=sys.stderr
        )


def upgrade_db(engine: Engine) -> str:
    """Migrate the schema to the newest revision; returns that revision."""
    return _upgrade(engine)[1]
