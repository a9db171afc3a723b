"""A SQLite file opened with the standard library alone: the read path of ``plan``.

Importing SQLAlchemy costs a quarter of a second per process, about a third of a
no-op ``plan`` on a large practice (issue #14). The planner's reads are plain SQL
(:mod:`reconciler.targets.native.read`), so a command on a local SQLite file
(``sqlite:///path``, nothing after it) opens the file here with :mod:`sqlite3`, set
up as :mod:`reconciler.targets.native.engine` sets up SQLAlchemy's connections (busy
timeout, WAL, foreign keys, read-only files opened immutable), checks the schema the
same way and reads through it. A command that writes, or needs SQLAlchemy for a read
the planner does not make, builds the engine when it first needs it
(:class:`reconciler.targets.native.target.NativeTarget`). Every other URL (PostgreSQL,
a URL with options, ``:memory:``) goes through the engine from the start.

This module imports no SQLAlchemy; ``engine`` shares its checks and messages.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import quote

from reconciler.errors import DatabaseError

ENV_VAR = "RECONCILER_DB"
DEFAULT_URL = "sqlite:///practice.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000

#: The newest migration revision this version ships (targets/native/migrations/versions).
#: ``require_schema`` compares the database against it without importing Alembic
#: (about 0.2 s per process); a test holds it equal to Alembic's computed head.
HEAD_REVISION = "0005"

#: The tables of ``schema.metadata`` (a test holds the two equal), for the schema check
#: without SQLAlchemy.
TABLES = frozenset(
    {"practice", "staff", "clients", "series", "appointments", "audit_events", "seat_events", "reconciler_meta"}
)

_PLAIN_FILE = re.compile(r"sqlite:///([^?#%]+)")
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


def resolve_url(opt: str | None) -> str:
    """The database URL: ``opt`` (``--db``), else ``$RECONCILER_DB``, else ``sqlite:///practice.db``."""
    if opt:
        return opt
    env = os.environ.get(ENV_VAR, "").strip()
    return env or DEFAULT_URL


def safe_text(url: str) -> str:
    """``url`` for messages: the password, if any, replaced by ``***``."""
    return _PASSWORD_IN_URL.sub(r"\1***@", url)


def plain_file(url: str) -> str | None:
    """The path of ``sqlite:///path`` when the URL names a file and nothing else (no
    query, no escapes, not ``:memory:``, not a ``file:`` URI); None for any other URL."""
    found = _PLAIN_FILE.fullmatch(url)
    if found is None:
        return None
    path = found.group(1)
    if path == ":memory:" or path.startswith("file:"):
        return None
    return path


def require_file(database: str | None, shown: str, must_exist: bool) -> None:
    """Refuse to let a connection create a missing SQLite file (a typo in ``--db``
    would otherwise leave an empty database file behind), and name a directory."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.is_dir():
        raise DatabaseError(f"cannot connect to database {shown}: {path} is a directory, not a SQLite file")
    if must_exist and not path.exists():
        raise DatabaseError(
            f"database {shown} is not initialised: run `reconciler db init` (the file {path} does not exist)"
        )


def read_only_file(database: str | None) -> bool:
    """An existing SQLite file that this process cannot write, or whose directory it
    cannot write (SQLite needs that for its journal / WAL files). ``os.access`` reports
    a read-only file system even to root."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    path = Path(database)
    if not path.is_file():
        return False
    return not (os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK))


def read_only_uri(database: str) -> str:
    """A file we cannot write (a read-only mount, a backup copy) opens read-only and
    immutable, so that SQLite needs neither a journal nor the WAL's -shm file next to
    it. Reading (plan, status, dump, audit) works; a write fails cleanly."""
    return f"file:{quote(str(Path(database).resolve()))}?mode=ro&immutable=1"


def configure(raw: sqlite3.Connection, *, wal: bool) -> None:
    """What every connection to the practice database starts with. Transaction control
    is taken away from the sqlite3 module: the callers say ``BEGIN`` themselves."""
    raw.isolation_level = None
    cur = raw.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
    finally:
        cur.close()


def first_line(exc: BaseException) -> str:
    """The first line of an error (a driver's message; never its parameters)."""
    orig = getattr(exc, "orig", None) or exc
    msg = str(orig).strip().splitlines()
    return msg[0] if msg else exc.__class__.__name__


def connect(database: str, shown: str) -> sqlite3.Connection:
    """An existing SQLite file, opened and set up; :class:`DatabaseError` naming
    ``shown`` when it is missing, a directory, or not a database."""
    require_file(database, shown, must_exist=True)
    read_only = read_only_file(database)
    try:
        if read_only:
            raw = sqlite3.connect(read_only_uri(database), uri=True, check_same_thread=False)
        else:
            raw = sqlite3.connect(database, check_same_thread=False)
        try:
            configure(raw, wal=not read_only)
        except BaseException:
            raw.close()
            raise
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot connect to database {shown}: {first_line(exc)}") from None
    return raw


def schema_error(shown: str | Callable[[], str], present: set[str], revision: str | None) -> DatabaseError | None:
    """Why a database holding tables ``present`` at ``revision`` (None: no
    ``alembic_version`` row) cannot be used, or None. ``shown`` names the database in
    the message (or renders its name, only when there is a message).

    Missing tables: "... not initialised: run `reconciler db init`"; an older schema
    revision: "... run `reconciler db upgrade`".
    """
    if callable(shown):
        if schema_error("", present, revision) is None:
            return None
        shown = shown()
    missing = sorted(TABLES - present)
    if missing and revision is not None and revision != HEAD_REVISION and "practice" in present:
        missing = []  # an older schema: the revision check below says "upgrade"
    if missing:
        return DatabaseError(
            f"database {shown} is not initialised: run `reconciler db init` (missing tables: {', '.join(missing)})"
        )
    if "alembic_version" not in present:
        return None  # created without Alembic (tests' metadata.create_all); nothing to compare
    if revision != HEAD_REVISION:
        return DatabaseError(
            f"database {shown} schema is at revision {revision}, this version needs {HEAD_REVISION}: "
            "run `reconciler db upgrade`"
        )
    return None


def require_schema(raw: sqlite3.Connection, shown: str) -> None:
    """:func:`reconciler.targets.native.engine.require_schema` on a sqlite3 connection."""
    listing = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~'"
    check_schema(raw, listing, (), shown, sqlite3.Error)


def check_schema(
    raw: Any,
    listing: str,
    params: Sequence[Any],
    shown: str | Callable[[], str],
    driver_error: type[BaseException],
) -> None:
    """The schema check on a DB-API connection (sqlite3, psycopg): the tables ``listing``
    names (with ``params``) and the Alembic revision; :class:`DatabaseError` in the
    engine's words, naming the database as ``shown`` (see :func:`schema_error`)."""
    try:
        present = {name for (name,) in raw.execute(listing, params)}
        revision = None
        if "alembic_version" in present:
            row = raw.execute("SELECT version_num FROM alembic_version ORDER BY version_num").fetchone()
            revision = None if row is None else row[0]
    except driver_error as exc:
        name = shown() if callable(shown) else shown
        raise DatabaseError(f"cannot read database {name}: {first_line(exc)}") from None
    problem = schema_error(shown, present, revision)
    if problem is not None:
        raise problem


def has_table(raw: sqlite3.Connection, name: str) -> bool:
    """Whether the database has table ``name``."""
    return raw.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
