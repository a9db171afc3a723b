"""``reconciler db init|upgrade --target openemr``: the reconciler's own tables, by
its own Alembic migrations (version table ``reconciler_alembic_version``), in the
OpenEMR database. OpenEMR's tables are never created, altered or dropped.

MariaDB and MySQL commit DDL implicitly, so a failed migration may leave the
reconciler's own tables half made (never OpenEMR's); ``db upgrade`` resumes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection, Engine

from reconciler.errors import DatabaseError
from reconciler.targets.native.engine import safe_url

from .tables import HEAD_REVISION, VERSION_TABLE, ours, practice

if TYPE_CHECKING:  # pragma: no cover
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
REQUIRED_OPENEMR = ("users", "patient_data", "openemr_postcalendar_events", "log")


def alembic_config(conn: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = conn
    return cfg


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _recorded_revision(conn: Connection) -> str | None:
    """The revision in ``reconciler_alembic_version``, read without importing Alembic
    (a large share of a plan's budget)."""
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE} ORDER BY version_num LIMIT 1")).scalar()


def _require_mysql(engine: Engine) -> None:
    if engine.dialect.name not in ("mysql", "mariadb"):
        raise DatabaseError(
            f"the openemr target needs a MariaDB or MySQL database (mysql+pymysql://...), "
            f"not {engine.dialect.name}: {safe_url(engine.url)}"
        )


def _openemr_timezone(conn: Connection) -> str:
    """OpenEMR's own ``gbl_time_zone`` global when set, else UTC."""
    try:
        tz = conn.execute(text("SELECT gl_value FROM globals WHERE gl_name = 'gbl_time_zone' LIMIT 1")).scalar()
    except sa_exc.DBAPIError:
        conn.rollback()
        return "UTC"
    return str(tz) if tz else "UTC"


def upgrade(engine: Engine, *, practice_name: str = "OpenEMR practice") -> tuple[str | None, str]:
    _require_mysql(engine)
    shown = safe_url(engine.url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            missing = [t for t in REQUIRED_OPENEMR if t not in present]
            if missing:
                raise DatabaseError(f"database {shown} is not an OpenEMR database (no table {missing[0]})")
            before = current_revision(conn)
            if before != HEAD_REVISION:
                from alembic import command

                command.upgrade(alembic_config(conn), "head")
                conn.commit()
            if conn.execute(select(practice.c.id).limit(1)).first() is None:
                tz = _openemr_timezone(conn)
                conn.execute(practice.insert().values(id=1, name=practice_name, timezone=tz, billing_cycle_day=1))
                conn.commit()
            after = current_revision(conn)
    except sa_exc.DBAPIError as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise DatabaseError(f"migrating database {shown} failed: {first[0] if first else exc}") from None
    assert after is not None
    return before, after


def init_db(engine: Engine) -> bool:
    """Create the reconciler's tables; False (and a note on stderr) when they were
    already at the head revision."""
    before, after = upgrade(engine)
    if before == after:
        print(
            f"database {safe_url(engine.url)} is already initialised for the openemr target (revision {after}); "
            "nothing to do",
            file=sys.stderr,
        )
        return False
    return True


def require_schema(engine: Engine) -> None:
    _require_mysql(engine)
    shown = safe_url(engine.url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            missing = sorted((set(ours.tables) | {VERSION_TABLE}) - present)
            if missing:
                raise DatabaseError(
                    f"database {shown} is not initialised for the openemr target: run "
                    f"`reconciler --target openemr db init` (missing tables: {', '.join(missing)})"
                )
            rev = _recorded_revision(conn)
    except sa_exc.DBAPIError as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise DatabaseError(f"cannot read database {shown}: {first[0] if first else exc}") from None
    if rev != HEAD_REVISION:
        raise DatabaseError(
            f"database {shown} (openemr target) is at revision {rev}, this version needs "
            f"{HEAD_REVISION}: run `reconciler --target openemr db upgrade`"
        )
