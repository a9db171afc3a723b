"""Alembic environment for the practice database.

Configured from code (``reconciler.targets.native.migrate.alembic_config``): the connection
to migrate is passed in ``config.attributes["connection"]``; without one (the
``alembic`` CLI during development) the URL comes from ``sqlalchemy.url`` or
``$RECONCILER_DB``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from reconciler.targets.native.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from reconciler.targets.native.engine import make_engine, resolve_url

    engine = make_engine(config.get_main_option("sqlalchemy.url") or resolve_url(None))
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
run_migrations_online()
