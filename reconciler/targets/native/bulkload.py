"""Bulk loading of validated snapshot rows into an empty database, all or nothing.

``reconciler.targets.native.snapshot`` reads and validates a snapshot into :class:`LoadRows`;
this module inserts them in one transaction by the fastest path each backend
offers: a raw DBAPI executemany of plain tuples on SQLite (with a larger page
cache), ``COPY`` on PostgreSQL; secondary indexes (and, on PostgreSQL, foreign
keys) are dropped for the load and rebuilt over all rows at the end, which beats
maintaining them row by row. Values are converted exactly as SQLAlchemy would
bind them, so the stored bytes match what Core writes elsewhere.
"""

from __future__ import annotations

import itertools
import json
from contextlib import ExitStack
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable, Iterator, Sequence, TypeVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    bindparam,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import AddConstraint, DropConstraint

from reconciler.errors import DatabaseError
from reconciler.jsontext import reusable
from reconciler.targets.native.engine import safe_url
from reconciler.targets.native.schema import (
    appointments_t,
    clients_t,
    metadata,
    practice_t,
    series_t,
    staff_t,
)

CHUNK = 10_000
SECTIONS = ("practice", "staff", "clients", "series", "appointments")
#: Bind-processor results are memoised per distinct value up to this many entries.
MEMO_LIMIT = 100_000

TABLES: dict[str, Table] = {
    "practice": practice_t,
    "staff": staff_t,
    "clients": clients_t,
    "series": series_t,
    "appointments": appointments_t,
}

# The large sections. Their rows travel as tuples in table column order: a tuple
# takes about a third of the memory of a dict, and the bulk paths (a raw DBAPI
# executemany, PostgreSQL COPY) take tuples as they are.
BULK = ("clients", "series", "appointments")
COLUMNS: dict[str, tuple[str, ...]] = {s: tuple(c.name for c in TABLES[s].columns) for s in BULK}


@dataclass
class LoadRows:
    """A validated snapshot as the rows :func:`load_snapshot` inserts.

    ``practice`` and ``staff`` are Core row mappings (one and a few rows);
    ``bulk[section]`` holds tuples in the order of ``COLUMNS[section]``, with the
    values :func:`snapshot_rows` would give (naive UTC datetimes, enum values).
    """

    practice: dict[str, Any]
    staff: list[dict[str, Any]]
    bulk: dict[str, list[tuple[Any, ...]]]

    def counts(self) -> dict[str, int]:
        """Rows per section, in SPEC order."""
        return {
            "practice": 1,
            "staff": len(self.staff),
            **{s: len(self.bulk[s]) for s in BULK},
        }


def column_index(section: str, name: str) -> int:
    """The position of column ``name`` in the bulk tuples of ``section``."""
    return COLUMNS[section].index(name)


def _first_nonempty_table(conn: Connection) -> str | None:
    for table in metadata.sorted_tables:
        if table.name == "reconciler_meta":
            continue  # the database's own identity, not practice data
        if conn.execute(select(1).select_from(table).limit(1)).first() is not None:
            return table.name
    return None


def require_empty(conn: Connection, engine: Engine) -> None:
    busy = _first_nonempty_table(conn)
    if busy is not None:
        raise DatabaseError(
            f"database {safe_url(engine.url)} is not empty (table {busy} has rows): "
            "`db load` only loads into an empty database; nothing was loaded"
        )


_R = TypeVar("_R")


def chunks(rows: Sequence[_R], size: int | None = None) -> Iterator[Sequence[_R]]:
    size = size or CHUNK  # read at call time: tests shrink CHUNK
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


class Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, stack: ExitStack) -> None:
        self.bar: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = stack.enter_context(
                Progress(
                    TextColumn("{task.description:<22}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                )
            )

    def counter(self, description: str, total: int | None) -> Callable[[int], None]:
        """Advance a bar by n rows; ``total`` may be unknown (a streamed section)."""
        if self.bar is None:
            return lambda _n: None
        tid = self.bar.add_task(description, total=total)
        return lambda n: self.bar.advance(tid, n)

    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        if self.bar is None:
            return lambda _n: None
        tid = self.bar.add_task(description, total=total)
        if total is None:
            return lambda _n: self.bar.update(tid, total=1, completed=1)
        return lambda n: self.bar.advance(tid, n)


# SQLite's page cache during a load, in KiB (negative PRAGMA values are KiB): the
# default 2 MB makes every insert into the id indexes go to disk once the tables
# outgrow it. Counted in the 2 GB the load of a large practice may use.
SQLITE_LOAD_CACHE_KIB = 256 * 1024


def insert_rows(engine: Engine, rows: LoadRows, bar: Progress) -> None:
    """Insert all rows in one transaction (all or nothing)."""
    with engine.begin() as conn:
        loader = Loader(conn, bar)
        loader.start()
        loader.practice(rows.practice)
        loader.staff(rows.staff)
        for section in BULK:
            loader.bulk(section, rows.bulk[section], total=len(rows.bulk[section]))
        loader.finish()


class Loader:
    """Inserts a validated snapshot into an empty database, section by section, inside
    the caller's transaction: :meth:`start`, then :meth:`practice`, :meth:`staff` and
    :meth:`bulk` (any number of batches, in SPEC order), then :meth:`finish`.

    The streaming JSON load feeds it batch by batch as it validates, so the rows of a
    large snapshot never all sit in memory; a problem found later rolls the whole
    transaction back.
    """

    def __init__(self, conn: Connection, bar: Progress) -> None:
        self.conn = conn
        self.bar = bar
        self.sqlite = conn.dialect.name == "sqlite"
        self.cache: Any = None
        self.indexed = 0  # SECTIONS[:indexed] have their indexes (back)
        self.fks: list[ForeignKeyConstraint] = []
        self.links: list[dict[str, Any]] = []
        self.advance: dict[str, Callable[[int], None]] = {}
        self.converters: dict[str, Callable[[Sequence[tuple[Any, ...]]], Sequence[tuple[Any, ...]]]] = {}

    def start(self) -> None:
        conn = self.conn
        require_empty(conn, conn.engine)
        if self.sqlite:
            self.cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_LOAD_CACHE_KIB}")
        # Building an index once over all rows beats updating it row by row (about
        # a fifth of a large load); DDL is transactional on both backends, so a
        # failed load still leaves the schema as it was.
        for ix in (ix for section in SECTIONS for ix in _indexes(section)):
            ix.drop(conn)
        # Likewise PostgreSQL checks a foreign key added over loaded rows in one
        # join, instead of one look-up (and parent row lock) per inserted row.
        # SQLite cannot drop a constraint; it checks each row against the parent's
        # primary key, which is cheap there.
        self.fks = [] if self.sqlite else _foreign_keys()
        for fk in self.fks:
            conn.execute(DropConstraint(fk))

    def practice(self, row: dict[str, Any]) -> None:
        self.conn.execute(practice_t.insert(), [row])
        self.bar.task("loading practice", 1)(1)

    def staff(self, rows: Sequence[dict[str, Any]]) -> None:
        advance = self.bar.task("loading staff", len(rows))
        for chunk in chunks(rows):
            self.conn.execute(staff_t.insert(), list(chunk))
            advance(len(chunk))

    def bulk(
        self, section: str, rows: Sequence[tuple[Any, ...]], total: int | None = None, converted: bool = False
    ) -> None:
        """Insert one batch of ``section``'s tuples (``total``: the section's size, when
        known; ``converted``: already through :func:`raw_converter`)."""
        if section not in self.advance:
            self.advance[section] = self.bar.counter(f"loading {section}", total)
            # Sections come in SPEC order: the ones before this one are complete, and
            # their indexes are built now, not in the serial tail of finish(). With the
            # load split over two processes, the inserting one has time to spare while
            # the other validates the (much larger) appointments.
            self._index_up_to(SECTIONS.index(section))
        if section == "clients":
            # duplicate_of may name a client further down: link in a second pass.
            dup = column_index("clients", "duplicate_of")
            self.links.extend({"b_id": r[0], "b_dup": r[dup]} for r in rows if r[dup])
            rows = [r[:dup] + (None,) + r[dup + 1 :] if r[dup] else r for r in rows]
        table = TABLES[section]
        convert = self.converters.get(section)
        if converted:
            convert = _same
        elif convert is None:
            convert = self.converters[section] = _converter(table, self.conn.dialect)
        _bulk_insert(self.conn, table, rows, self.advance[section], convert)

    def finish(self) -> None:
        conn = self.conn
        if self.links:
            stmt = clients_t.update().where(clients_t.c.id == bindparam("b_id")).values(duplicate_of=bindparam("b_dup"))
            for chunk in chunks(self.links):
                conn.execute(stmt, list(chunk))
        done = self.bar.task("indexing", None)
        for fk in self.fks:
            conn.execute(AddConstraint(fk))
        self._index_up_to(len(SECTIONS))
        if self.sqlite:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(cast(int, self.cache))}")
        else:
            # Planner statistics now, not whenever autovacuum comes by: a plan run right
            # after the load would otherwise guess row counts and may scan whole tables.
            conn.exec_driver_sql("ANALYZE " + ", ".join(TABLES[s].name for s in SECTIONS))
        done(1)

    def _index_up_to(self, end: int) -> None:
        """Build the indexes of ``SECTIONS[:end]`` not built yet."""
        for section in SECTIONS[self.indexed : end]:
            for ix in _indexes(section):
                ix.create(self.conn)
        self.indexed = max(self.indexed, end)


def _indexes(section: str) -> list[Any]:
    """The secondary indexes of ``section``'s table, in a fixed order."""
    return sorted(TABLES[section].indexes, key=lambda i: str(i.name))


def _foreign_keys() -> list[ForeignKeyConstraint]:
    """The foreign keys of the bulk tables, in a fixed order."""
    return [fk for s in BULK for fk in sorted(TABLES[s].foreign_key_constraints, key=lambda f: str(f.name))]


def _bulk_insert(
    conn: Connection,
    table: Table,
    rows: Sequence[tuple[Any, ...]],
    advance: Callable[[int], None],
    convert: Callable[[Sequence[tuple[Any, ...]]], Sequence[tuple[Any, ...]]],
) -> None:
    """Insert tuples in ``table``'s column order, in chunks, by the fastest path
    each backend offers; values are converted (``convert``, see :func:`_converter`)
    as SQLAlchemy would bind them."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        copy_psycopg(conn, table, rows, convert, advance, validated=True)  # (the snapshot's rows)
        return
    # Everything else (SQLite): a raw DBAPI executemany of plain tuples, through
    # the same connection and transaction, skipping Core's per-row dict handling.
    compiled = table.insert().compile(dialect=conn.dialect)
    if conn.dialect.paramstyle not in ("qmark", "format", "numeric") or list(compiled.positiontup or ()) != [
        c.key for c in table.columns
    ]:
        for chunk in chunks(rows):  # a named-parameter driver: the Core path
            conn.execute(table.insert(), [dict(zip(COLUMNS[table.name], r)) for r in chunk])
            advance(len(chunk))
        return
    sql = str(compiled) if conn.dialect.name != "sqlite" else _sqlite_insert(table, conn.dialect)
    for chunk in chunks(rows):
        conn.exec_driver_sql(sql, convert(chunk))
        advance(len(chunk))


def copy_psycopg(
    conn: Connection,
    table: Table,
    rows: Sequence[tuple[Any, ...]],
    convert: Callable[[Sequence[tuple[Any, ...]]], Sequence[tuple[Any, ...]]],
    advance: Callable[[int], None],
    names: Sequence[str] | None = None,
    *,
    validated: bool = False,
) -> None:
    """PostgreSQL COPY through psycopg 3, on the SQLAlchemy connection's own driver
    connection, so inside the caller's transaction; ``names``: the columns the tuples
    hold (default: every column, in table order).

    ``validated``: every value already has its column's Python type and range (the
    snapshot's rows); then the COPY is binary when psycopg has a binary dumper for every
    column's type (:func:`binary_types`). Binary dumpers trust their input (an int4
    wraps around, any truthy value is true), so anything else goes as text, which the
    server parses and refuses as an INSERT would."""
    quote = conn.dialect.identifier_preparer
    chosen = [table.c[name] for name in names] if names else list(table.columns)
    columns = ", ".join(quote.quote(c.name) for c in chosen)
    types = binary_types(chosen) if validated else None
    driver = conn.connection.driver_connection
    assert driver is not None
    with (
        driver.cursor() as cur,
        cur.copy(
            f"COPY {quote.format_table(table)} ({columns}) FROM STDIN" + (" (FORMAT BINARY)" if types else "")
        ) as copy,
    ):
        if types:
            copy.set_types(types)
        for chunk in chunks(rows):
            for row in convert(chunk):
                copy.write_row(row)
            advance(len(chunk))


def binary_types(columns: Sequence[Column[Any]]) -> list[str] | None:
    """The psycopg types whose binary dumpers write ``columns``' values for a binary
    ``COPY``, or None when a column has another type (JSON: its dumper would encode the
    already encoded text again).

    In text, psycopg formats each datetime as text that the server then parses: a
    large load's two million appointments spent ~2 s of the loading process and more of
    the server's CPU on that, against ~0.3 s in binary. The server reads binary fields
    with the column's own receive function, so a ``text`` value goes into a
    ``VARCHAR(n)`` column with its length checked, as in text."""
    out = []
    for column in columns:
        kind = column.type
        if isinstance(kind, DateTime):
            out.append("timestamptz" if kind.timezone else "timestamp")
            continue
        # (Subclasses first: BigInteger and SmallInteger are Integers, Text is a String.)
        name = next((name for sa_type, name in _BINARY if isinstance(kind, sa_type)), None)
        if name is None:
            return None
        out.append(name)
    return out


_BINARY: tuple[tuple[type[Any], str], ...] = (
    (BigInteger, "int8"),
    (SmallInteger, "int2"),
    (Integer, "int4"),
    (Boolean, "bool"),
    (Date, "date"),
    (String, "text"),
)


class _Processed(dict[Any, Any]):
    """One column's bind processor, memoised (the bulk columns that need one hold
    few distinct values: times on a grid, booleans); cleared before it grows large."""

    def __init__(self, proc: Callable[[Any], Any]) -> None:
        super().__init__()
        self.proc = proc

    def __missing__(self, value: Any) -> Any:
        if len(self) >= MEMO_LIMIT:
            self.clear()
        out = self[value] = self.proc(value)
        return out


def _json_step(proc: Callable[[Any], Any], dialect: Any) -> Callable[[Any], Any]:
    """A JSON column's bind processor for the raw paths; a mapping's or list's text is
    written by one reusable C encoder (SQLite stores the text; psycopg's ``COPY`` sends
    it as the column's text, which a ``json`` column keeps as given): SQLAlchemy's
    serializer (``json.dumps`` unless the engine was given another) builds an encoder
    per value, and an apply's audit rows carry tens of thousands of them. The text is
    ``json.dumps``'s; anything else (None, SQLAlchemy's NULL markers) is left to the
    processor (on psycopg an adapter object, which ``COPY`` writes the same way)."""
    if not _raw_path(dialect) or getattr(dialect, "_json_serializer", None) not in (None, json.dumps):
        return proc
    encode = reusable(json.JSONEncoder())
    plain = (dict, list)

    def step(value: Any) -> Any:
        return encode(value) if value.__class__ in plain else proc(value)

    return step


def _same(chunk: Sequence[tuple[Any, ...]]) -> Sequence[tuple[Any, ...]]:
    return chunk


#: What a NULL of a text column travels as in the bulk tuples on SQLite (see
#: :func:`null_marked`): an INTEGER, which no value of those columns ever is.
NULL_MARK = 0
_MARK_NONE = {None: NULL_MARK}
_TEXT_TYPES = (String, Text, DateTime, Date)


def null_marked(table: Table, dialect: Any) -> frozenset[int]:
    """The positions of ``table``'s columns whose NULLs the SQLite bulk insert binds as
    :data:`NULL_MARK` and turns back into NULL in the statement (``NULLIF(?, 0)``).

    Python's ``sqlite3`` binds ``None`` through its adaptation protocol (several
    attribute look-ups, about 0.8 µs a value against 0.1 µs for an int), and a large
    practice's appointments carry two NULLs a row (no series, no cancel reason): a
    tenth of the inserting process's time. Only nullable columns whose values are text
    on SQLite (strings, times, dates) are marked: an INTEGER never equals a TEXT value
    in SQLite, so ``NULLIF`` gives back every real value unchanged. Empty elsewhere."""
    if dialect.name != "sqlite":
        return frozenset()
    return frozenset(i for i, c in enumerate(table.columns) if c.nullable and isinstance(c.type, _TEXT_TYPES))


def _sqlite_insert(table: Table, dialect: Any) -> str:
    """The bulk INSERT of all of ``table``'s columns in table order, with ``NULLIF``
    around the :func:`null_marked` ones."""
    quote = dialect.identifier_preparer
    marked = null_marked(table, dialect)
    columns = ", ".join(quote.quote(c.name) for c in table.columns)
    values = ", ".join(f"NULLIF(?, {NULL_MARK})" if i in marked else "?" for i in range(len(table.columns)))
    return f"INSERT INTO {quote.format_table(table)} ({columns}) VALUES ({values})"


def raw_converter(
    section: str, dialect: Any
) -> Callable[[Sequence[tuple[Any, ...]]], Sequence[tuple[Any, ...]]] | None:
    """The conversion :meth:`Loader.bulk` applies to ``section``'s tuples on the raw
    paths (SQLite's executemany, psycopg's COPY), for doing it elsewhere (the streamed
    load converts in the reading process); None for a driver that takes the Core path,
    which converts by itself."""
    if _raw_path(dialect):
        return _converter(TABLES[section], dialect)
    return None


def _raw_path(dialect: Any) -> bool:
    """Whether rows go in by a raw path: SQLite's executemany, psycopg's ``COPY``."""
    return bool(dialect.name == "sqlite" or (dialect.name == "postgresql" and dialect.driver == "psycopg"))


def _converter(table: Table, dialect: Any) -> Callable[[Sequence[tuple[Any, ...]]], Sequence[tuple[Any, ...]]]:
    """:func:`column_converter` of all of ``table``'s columns, in table order, NULLs of
    the :func:`null_marked` ones as :data:`NULL_MARK`."""
    return column_converter(list(table.columns), dialect, marked=null_marked(table, dialect))


def column_converter(
    columns: Sequence[Column[Any]], dialect: Any, *, marked: frozenset[int] = frozenset()
) -> Callable[[Sequence[tuple[Any, ...]]], Sequence[tuple[Any, ...]]]:
    """Applies to chunks of tuples (one value per column of ``columns``) the bind
    processors SQLAlchemy would (SQLite: datetimes to text, booleans to 0/1, JSON to
    text; not a native boolean's, which only checks that the value is one: the rows
    given here are validated), column by column with ``map`` and ``zip`` (which run in C; see ``_tuples``).
    A column's processed values are memoised, except JSON's (mappings do not hash).
    In the columns at the positions ``marked`` (text values only), None becomes
    :data:`NULL_MARK` (for a statement that reads them with ``NULLIF``)."""
    steps: list[Callable[[Any], Any] | None] = []
    for column in columns:
        proc = column.type.dialect_impl(dialect).bind_processor(dialect)
        if proc is None or (isinstance(column.type, Boolean) and dialect.supports_native_boolean):
            # (A native boolean's processor only checks that the value is a bool: these
            # are validated already, and rebuilding every tuple for it cost PostgreSQL's
            # large load 0.65 s of the reading process.)
            steps.append(None)
        elif isinstance(column.type, JSON):
            steps.append(_json_step(proc, dialect))
        else:
            steps.append(_Processed(proc).__getitem__)
    if all(step is None for step in steps) and not marked:
        return lambda chunk: chunk
    mark = _MARK_NONE.get

    def values_of(i: int, step: Callable[[Any], Any] | None, chunk: Sequence[tuple[Any, ...]]) -> Iterator[Any]:
        values = map(itemgetter(i), chunk) if step is None else map(step, map(itemgetter(i), chunk))
        if i in marked:
            # dict.get(v, v) in C: the mark for None, every other value as it is.
            values = map(mark, *itertools.tee(values))
        return values

    def convert(chunk: Sequence[tuple[Any, ...]]) -> Sequence[tuple[Any, ...]]:
        return list(zip(*[values_of(i, step, chunk) for i, step in enumerate(steps)]))

    return convert
