"""Alembic environment for the reconciler's own tables in an OpenEMR database.

Only ``reconciler_*`` tables are ever considered (``include_object``); the version
table is ``reconciler_alembic_version`` so OpenEMR's own tables and any other
Alembic user of the database are left alone.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from reconciler.targets.openemr.tables import VERSION_TABLE, ours

config = context.config


def _ours_only(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table":
        return bool(name) and str(name).startswith("reconciler_")
    return True


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=ours,
        version_table=VERSION_TABLE,
        include_object=_ours_only,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise SystemExit("run through `reconciler db init --target openemr`")
_run(connection)
