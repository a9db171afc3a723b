"""A PostgreSQL database opened with psycopg alone: the read path of ``plan`` on PostgreSQL.

What :mod:`reconciler.targets.native.lite` does for a SQLite file: importing SQLAlchemy
and building its PostgreSQL dialect (which imports asyncio for the asyncpg driver, and
runs a handful of queries on each first connection) costs ~0.25 s per process, about
half of a no-op ``plan`` on PostgreSQL (issue #14). The planner's reads are plain SQL
(:mod:`reconciler.targets.native.read`), so a ``postgresql+psycopg://`` URL whose every
part this module reads exactly as SQLAlchemy's psycopg dialect reads it
(:func:`connect_kwargs`) is connected to with psycopg directly, with the same
arguments (the engine's ``connect_timeout`` default included), and read in the same
transaction mode. Any other URL goes through the engine, as before; so does anything
that writes, or that needs SQLAlchemy for a read the planner does not make
(:class:`reconciler.targets.native.target.NativeTarget`).

Messages name the database as the engine does; they are rendered by SQLAlchemy,
which is imported then: a message is the end of the command anyway.

This module imports neither SQLAlchemy nor (until a connection is made) psycopg.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from reconciler.errors import DatabaseError
from reconciler.targets.native import lite

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

#: The default ``connect_timeout`` of a PostgreSQL URL without its own (the engine's too).
PG_CONNECT_TIMEOUT_S = 10

# The parts of SQLAlchemy's URL grammar read here, narrowed so that every URL it
# matches splits the same way under SQLAlchemy's own pattern: no ``@``, ``:``, ``/``,
# ``?`` or ``#`` inside a part, no ``@`` anywhere after the one that ends the user part
# (SQLAlchemy's password runs to the last ``@``), no control character (its query stops
# at a newline), no IPv6 literal. Anything else is the engine's.
_URL = re.compile(
    r"postgresql\+psycopg://"
    r"(?:(?P<user>[^:/@?#\[\]\x00-\x1f]*)(?::(?P<password>[^:/@?#\[\]\x00-\x1f]*))?@)?"
    r"(?P<host>[A-Za-z0-9._-]*)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"/(?P<dbname>[^/?#@\x00-\x1f]*)"
    r"(?:\?(?P<query>[^#@\x00-\x1f]*))?"
)

#: libpq connection parameters passed through from the URL's query, as the psycopg
#: dialect passes them (``host`` only as one host or socket directory: the dialect
#: splits a list of hosts, and ports given in the query, itself; those URLs are its).
PARAMETERS = frozenset(
    {
        "host",
        "connect_timeout",
        "application_name",
        "options",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "sslpassword",
        "gssencmode",
        "target_session_attrs",
        "passfile",
        "service",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
    }
)


def connect_kwargs(url: str) -> dict[str, Any] | None:
    """``psycopg.connect``'s keyword arguments for ``url``, exactly as ``make_engine``'s
    engine would call it (a test compares the two), but for the dialect's copy of
    psycopg's adapters, which loads inet and cidr values as text (no column here is
    either); None for a URL read otherwise: not ``postgresql+psycopg``, an unusual
    part, or a query parameter outside :data:`PARAMETERS`, given twice, empty, or a
    host list."""
    found = _URL.fullmatch(url)
    if found is None:
        return None
    parts = found.groupdict()
    kwargs: dict[str, Any] = {}
    # SQLAlchemy's translate_connect_args: unquoted, and only the parts that are set.
    for part, key in (("host", "host"), ("dbname", "dbname"), ("user", "user"), ("password", "password")):
        value = parts[part]
        if value:
            kwargs[key] = value if part == "host" else unquote(value)
    if parts["port"] and int(parts["port"]):  # (port 0, false, is left out: libpq's default)
        kwargs["port"] = int(parts["port"])
    if parts["query"] is not None:
        pairs = parse_qsl(parts["query"], keep_blank_values=True)
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys) or any(not value or key not in PARAMETERS for key, value in pairs):
            return None
        query = dict(pairs)
        if "host" in query and ("host" in kwargs or "," in query["host"] or ":" in query["host"]):
            return None
        kwargs.update(query)
    kwargs.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
    return kwargs


def shown(url: str) -> str:
    """``url`` as the engine's messages name it (SQLAlchemy renders it; password hidden)."""
    from sqlalchemy.engine import make_url  # it parses every URL connect_kwargs takes

    from reconciler.targets.native.engine import safe_url

    return safe_url(make_url(url))


def connect(url: str, kwargs: dict[str, Any]) -> "psycopg.Connection[Any]":
    """A connection (not in autocommit: the first statement begins a transaction);
    :class:`DatabaseError` in the engine's words when the server cannot be reached."""
    import psycopg

    try:
        return psycopg.connect(**kwargs)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to database {shown(url)}: {lite.first_line(exc)}") from None


def begin(raw: "psycopg.Connection[Any]", *, consistent: bool) -> None:
    """Start a read transaction: REPEATABLE READ when ``consistent`` (as the engine's
    consistent reads are), else the server's default; it begins with the first read."""
    from psycopg import IsolationLevel

    raw.isolation_level = IsolationLevel.REPEATABLE_READ if consistent else None


def require_schema(raw: "psycopg.Connection[Any]", url: str) -> None:
    """:func:`reconciler.targets.native.engine.require_schema` on a psycopg connection
    (of the tables SQLAlchemy's inspector lists, those visible on the search path, the
    ones :func:`lite.schema_error` looks at)."""
    import psycopg

    # Only the names the check looks at (the schema's tables, alembic_version): the
    # catalog's name index finds them, where listing every visible table read pg_class.
    wanted = sorted(lite.TABLES | {"alembic_version"})
    sql = _VISIBLE + " AND c.relkind IN ('r', 'p') AND c.relpersistence != 't' AND c.relname = ANY(%s)"
    lite.check_schema(raw, sql, (wanted,), lambda: shown(url), psycopg.Error)


def has_table(raw: "psycopg.Connection[Any]", name: str) -> bool:
    """Whether a table ``name`` is visible on the search path (SQLAlchemy's ``has_table``)."""
    sql = _VISIBLE + " AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND c.relname = %s"
    return raw.execute(sql, (name,)).fetchone() is not None


# SQLAlchemy's PostgreSQL inspector, for the default schema: what the search path shows.
_VISIBLE = (
    "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE pg_catalog.pg_table_is_visible(c.oid) AND n.nspname != 'pg_catalog'"
)
