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

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from reconciler.errors import DatabaseError

ENV_VAR = "RECONCILER_DB"
DEFAULT_URL = "sqlite:///practice.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 10

#: The newest migration revision this version ships (reconciler/db/migrations/versions).
#: ``require_schema`` compares the database against it without importing Alembic
#: (about 0.2 s per process); a test holds it equal to Alembic's computed head.
HEAD_REVISION = "0005"

_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


def resolve_url(opt: str | None) -> str:
    """The database URL: ``opt`` (``--db``), else ``$RECONCILER_DB``, else ``sqlite:///practice.db``."""
    if opt:
        return opt
    env = os.environ.get(ENV_VAR, "").strip()
    return env or DEFAULT_URL


def safe_url(url: str | URL) -> str:
    """``url`` for messages: the password, if any, replaced by ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD_IN_URL.sub(r"\1***@", url)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    msg = str(orig).strip().splitlines()
    return msg[0] if msg else exc.__class__.__name__


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
    read_only = parsed.get_backend_name() == "sqlite" and _read_only_file(parsed.database)
    if read_only:
        import sqlite3
        from urllib.parse import quote

        # A file we cannot write (a read-only mount, a backup copy): open it read-only
        # and immutable, so that SQLite needs neither a journal nor the WAL's -shm file
        # next to it. Reading (plan, status, dump, audit) works; a write fails cleanly.
        uri = f"file:{quote(str(Path(str(parsed.database)).resolve()))}?mode=ro&immutable=1"
        kwargs["creator"] = lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        engine = create_engine(parsed, **kwargs)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise DatabaseError(f"cannot use database URL {shown!r}: {_first_line(exc)}") from None
    if engine.dialect.name == "sqlite":
        _require_sqlite_file(parsed, shown, must_exist)
        _configure_sqlite(engine, wal=not read_only)
    try:
        with engine.connect():
            pass
    except sa_exc.DBAPIError as exc:
        engine.dispose()
        raise DatabaseError(f"cannot connect to database {shown}: {_first_line(exc)}") from None
    return engine


def _require_sqlite_file(parsed: URL, shown: str, must_exist: bool) -> None:
    """Refuse to let a connection create a missing SQLite file (a typo in ``--db``
    would otherwise leave an empty database file behind), and name a directory."""
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.is_dir():
        raise DatabaseError(f"cannot connect to database {shown}: {path} is a directory, not a SQLite file")
    if must_exist and not path.exists():
        raise DatabaseError(
            f"database {shown} is not initialised: run `reconciler db init` (the file {path} does not exist)"
        )


def _read_only_file(database: str | None) -> bool:
    """An existing SQLite file that this process cannot write, or whose directory it
    cannot write (SQLite needs that for its journal / WAL files). ``os.access`` reports
    a read-only file system even to root."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    path = Path(database)
    if not path.is_file():
        return False
    return not (os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK))


def _configure_sqlite(engine: Engine, *, wal: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite; "begin" below issues BEGIN.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if wal and engine.url.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get("sqlite_begin", "")).upper()
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def require_schema(engine: Engine) -> None:
    """Raise :class:`DatabaseError` unless the database holds the reconciler schema at head.

    Missing tables: "... not initialised: run `reconciler db init`"; an older
    schema revision: "... run `reconciler db upgrade`".
    """
    from reconciler.targets.native.schema import metadata

    shown = safe_url(engine.url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            missing = sorted(set(metadata.tables) - present)
            rev = None
            if "alembic_version" in present:
                rev = conn.execute(text("SELECT version_num FROM alembic_version ORDER BY version_num")).scalar()
            if missing and rev is not None and rev != HEAD_REVISION and "practice" in present:
                missing = []  # an older schema: the revision check below says "upgrade"
            if missing:
                raise DatabaseError(
                    f"database {shown} is not initialised: run `reconciler db init` "
                    f"(missing tables: {', '.join(missing)})"
                )
            if "alembic_version" not in present:
                return  # created without Alembic (tests' metadata.create_all); nothing to compare
    except sa_exc.DBAPIError as exc:
        raise DatabaseError(f"cannot read database {shown}: {_first_line(exc)}") from None
    head = HEAD_REVISION
    if rev != head:
        raise DatabaseError(
            f"database {shown} schema is at revision {rev}, this version needs {head}: run `reconciler db upgrade`"
        )
