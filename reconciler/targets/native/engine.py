"""Engines for the practice database: URL resolution, connection setup, schema check.

``resolve_url`` picks the database (``--db``, then ``$RECONCILER_DB``, then the
embedded default); ``make_engine`` builds an engine and proves it can connect, so
that a bad URL or an unreachable server is one clear :class:`DatabaseError` (the
URL is shown with its password hidden); ``require_schema`` is called by every
command that needs an initialised database.

SQLite is set up to behave like PostgreSQL where it matters to us: foreign keys
are enforced, WAL lets readers run during an apply, a busy timeout makes a second
writer wait instead of failing at once, and transactions really start at
``BEGIN`` (pysqlite's legacy mode would defer them to the first write, so reads
made before it would not be part of the transaction). A connection may ask for
``BEGIN IMMEDIATE`` (take the write lock up front) with the execution option
``sqlite_begin="IMMEDIATE"``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from reconciler.errors import DatabaseError
from reconciler.targets.native.lite import (
    DEFAULT_URL,
    ENV_VAR,
    HEAD_REVISION,
    SQLITE_BUSY_TIMEOUT_MS,
    configure,
    first_line,
    read_only_file,
    read_only_uri,
    require_file,
    resolve_url,
    safe_text,
    schema_error,
)
from reconciler.targets.native.pglite import PG_CONNECT_TIMEOUT_S

__all__ = [
    "DEFAULT_URL",
    "ENV_VAR",
    "HEAD_REVISION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "make_engine",
    "require_schema",
    "resolve_url",
    "safe_url",
]


def safe_url(url: str | URL) -> str:
    """``url`` for messages: the password, if any, replaced by ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return safe_text(url)


def make_engine(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for ``url`` that has been shown to connect.

    Raises :class:`DatabaseError` naming the URL (password hidden) when the URL is
    malformed, names an unknown backend, or the database cannot be reached. With
    ``must_exist``, a SQLite file that is not there is such an error too, instead of
    being created empty by the connection (only ``db init`` should create one).
    """
    shown = safe_url(url)
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise DatabaseError(
            f"invalid database URL {shown!r} (expected e.g. sqlite:///practice.db "
            "or postgresql+psycopg://user@host/dbname)"
        ) from None
    shown = safe_url(parsed)
    kwargs: dict[str, Any] = {}
    if parsed.database not in (None, "", ":memory:"):
        # No pooling: a command makes few connections, and none must outlive its
        # use (watch runs for days; tests create many engines and never leak one).
        kwargs["poolclass"] = NullPool
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    if (
        parsed.get_backend_name() in ("mysql", "mariadb")
        and "unix_socket" in parsed.query
        and not any(k.startswith("ssl") for k in parsed.query)
    ):
        # PyMySQL's default "preferred" TLS builds a CA-bundle context for every connection
        # (~50 ms each idle, a command makes three), which a local socket never needs.
        kwargs["connect_args"] = {"ssl_disabled": True}
    read_only = parsed.get_backend_name() == "sqlite" and read_only_file(parsed.database)
    if read_only:
        import sqlite3

        uri = read_only_uri(str(parsed.database))
        kwargs["creator"] = lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        engine = create_engine(parsed, **kwargs)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise DatabaseError(f"cannot use database URL {shown!r}: {first_line(exc)}") from None
    if engine.dialect.name == "sqlite":
        require_file(parsed.database, shown, must_exist)
        _configure_sqlite(engine, wal=not read_only)
    try:
        with engine.connect():
            pass
    except sa_exc.DBAPIError as exc:
        engine.dispose()
        raise DatabaseError(f"cannot connect to database {shown}: {first_line(exc)}") from None
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Transaction control is taken away from pysqlite; "begin" below issues BEGIN.
        configure(dbapi_conn, wal=wal and engine.url.database not in (None, "", ":memory:"))

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get("sqlite_begin", "")).upper()
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def require_schema(engine: Engine) -> None:
    """Raise :class:`DatabaseError` unless the database holds the reconciler schema at head.

    Missing tables: "... not initialised: run `reconciler db init`"; an older
    schema revision: "... run `reconciler db upgrade`".
    """
    shown = safe_url(engine.url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            rev = None
            if "alembic_version" in present:
                rev = conn.execute(text("SELECT version_num FROM alembic_version ORDER BY version_num")).scalar()
    except sa_exc.DBAPIError as exc:
        raise DatabaseError(f"cannot read database {shown}: {first_line(exc)}") from None
    problem = schema_error(shown, present, rev)
    if problem is not None:
        raise problem
