"""Loading a JSON snapshot as a stream: read, validated and inserted a batch at a time.

A large practice's snapshot (millions of appointments, hundreds of MB) is never held
whole: the file is read in pieces, each row decoded by the ``json`` module's own
scanner, validated (the fast TypedDict pass per batch; the row models, which word
and locate problems, for a batch the fast pass does not vouch for), checked against
the ids seen so far and inserted through :class:`~.bulkload.Loader` inside one
transaction. Any problem stops the inserting, the rest of the file is still
validated, and the transaction is rolled back: nothing is loaded, and the
:class:`SnapshotError` lists the same located problems, in the same order and the
same words, as the detailed pass of ``snapshot.validate_document`` would.

Two cores: a file of ``PARALLEL_MIN_BYTES`` or more is inserted by a forked child
process (:class:`_ChildLoader`) that owns the connection and the transaction, while
this process reads, validates and converts the next batch; it commits only when
told to, after the whole file validated. While rows come one per line (as ``db
dump`` writes them), a batch of lines is decoded and validated in one call of
pydantic-core (:class:`_Rows`); anything else is read row by row.

Only the layout ``db dump`` writes is streamed: one top-level object whose keys come
in SPEC order (practice first, then staff, clients, series, appointments; any may
be missing but practice), each section other than practice an array. Any other
layout, or a syntax error outside a row, raises :class:`NotStreamable` before
anything is inserted... or after, in which case the caller rolls back; the caller
then reads the file the ordinary way, which decides.

What memory holds: a piece of the file, one batch of rows, the ids of staff,
clients and series (for references and duplicate checks), and at most
``MAX_PROBLEMS`` problems. Appointment ids are left to the table's primary key;
when it refuses one, or when other problems are reported, a second pass over the
appointments locates duplicates with a set of their ids (the error path only).
"""

from __future__ import annotations

import json
import marshal
import multiprocessing
import operator
import os
import pickle
import re
from contextlib import ExitStack
from itertools import islice
from json.scanner import make_scanner
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Callable, Generator, Iterator, Sequence

from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from reconciler.errors import Location, SnapshotError
from reconciler.targets.native import bulkload
from reconciler.targets.native import snapshot as sm
from reconciler.targets.native.bulkload import (
    COLUMNS,
    SECTIONS,
    Loader,
    Progress,
    column_index,
    raw_converter,
)

#: Characters read from the file at a time, and kept ahead of the row being decoded.
READ_CHARS = 1 << 22
AHEAD = 1 << 20
#: The longest row read before a value that does not end is called a syntax error.
ROW_LIMIT = 1 << 26

_WS = re.compile(r"[ \t\n\r]*")
_COMMA = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")


#: The category of the clients' duplicate_of problems while they are collected (see _raise).
_CLIENT_LINKS = 55


class NotStreamable(Exception):
    """The file is not in the streamed layout (or has a syntax error outside a row)."""


class _JsonError(Exception):
    """A syntax error inside a row: ``json.loads`` of the whole file would report the same."""

    def __init__(self, msg: str, line: int) -> None:
        super().__init__(msg)
        self.msg, self.line = msg, line


class _Reader:
    """A JSON text read in pieces; ``pos`` indexes ``buf``, ``lines`` counts the
    newlines dropped before ``buf`` (for the line of a syntax error)."""

    def __init__(self, f: IO[str]) -> None:
        self.f = f
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.lines = 0
        self.scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]

    def fill(self, want: int = AHEAD) -> None:
        """Make ``want`` characters available after ``pos`` (fewer at the end of the file)."""
        while not self.eof and len(self.buf) - self.pos < want:
            chunk = self.f.read(READ_CHARS)
            if not chunk:
                self.eof = True
                break
            if self.pos:
                self.lines += self.buf.count("\n", 0, self.pos)
                self.buf = self.buf[self.pos :] + chunk
                self.pos = 0
            else:
                self.buf += chunk

    def skip(self) -> None:
        while True:
            self.fill(1)
            m = _WS.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf) or self.eof:
                return

    def peek(self) -> str:
        self.skip()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise NotStreamable
        self.pos += 1

    def line(self, pos: int) -> int:
        return self.lines + self.buf.count("\n", 0, pos) + 1

    def value(self, in_row: bool) -> Any:
        """The next JSON value. A syntax error inside a row is a :class:`_JsonError`
        (with json.loads' own words), elsewhere :class:`NotStreamable`."""
        self.skip()
        want = AHEAD
        while True:
            self.fill(want)
            # A value cut off by the end of the piece read so far fails like a bad one:
            # read on (up to ROW_LIMIT ahead) before calling it a syntax error.
            more = not self.eof and len(self.buf) - self.pos < ROW_LIMIT
            try:
                value, end = self.scan(self.buf, self.pos)
            except StopIteration as exc:
                if more:
                    want = len(self.buf) - self.pos + READ_CHARS
                    continue
                if in_row:
                    raise _JsonError("Expecting value", self.line(exc.value)) from None
                raise NotStreamable from None
            except json.JSONDecodeError as exc:
                if more:
                    want = len(self.buf) - self.pos + READ_CHARS
                    continue
                if in_row:
                    raise _JsonError(exc.msg, self.line(exc.pos)) from None
                raise NotStreamable from None
            if end >= len(self.buf) and more:
                want = len(self.buf) - self.pos + READ_CHARS  # a number may go on in the next piece
                continue
            self.pos = end
            return value

    def items(self) -> Iterator[Any]:
        """The items of the array that starts here, one at a time."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        yield from self.rest(after_value=False)

    def rest(self, after_value: bool) -> Iterator[Any]:
        """The remaining items of an array: ``pos`` is at the next item, or (``after_value``)
        at the separator or ``]`` after an item."""
        if after_value and not self._separator():
            return
        # The hot loop of a large load: one scan and one separator match per row while
        # the piece in memory reaches well past the row; anything else (the end of
        # the piece, an error) goes the careful way through value() and peek().
        scan, comma, ahead = self.scan, _COMMA.match, AHEAD
        while True:
            buf, pos = self.buf, self.pos
            if len(buf) - pos < ahead and not self.eof:
                self.fill()
                buf, pos = self.buf, self.pos
            try:
                value, end = scan(buf, pos)
                fast = end < len(buf)
            except (StopIteration, json.JSONDecodeError):
                fast = False
            if not fast:
                value = self.value(in_row=True)
                buf, end = self.buf, self.pos
            yield value
            sep = comma(buf, end)
            if sep is not None and sep.end() < len(buf):
                self.pos = sep.end()
                continue
            self.pos = end
            if not self._separator():
                return

    def _separator(self) -> bool:
        """Past the ``,`` after an item (True) or the ``]`` that ends the array (False)."""
        char = self.peek()
        self.pos += 1
        if char == "]":
            return False
        if char != ",":
            raise NotStreamable
        self.skip()
        return True

    def sections(self) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` of the top-level object; array values as iterators that must be consumed."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
        else:
            while True:
                key = self.value(in_row=False)
                if not isinstance(key, str):
                    raise NotStreamable
                self.expect(":")
                if self.peek() == "[":
                    yield key, self.items()
                else:
                    yield key, self.value(in_row=False)
                char = self.peek()
                self.pos += 1
                if char == "}":
                    break
                if char != ",":
                    raise NotStreamable
        if self.peek() != "":
            raise NotStreamable  # trailing data


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


#: Characters kept ahead of a batch of lines (a batch of 10,000 appointments is ~2 MB).
LINES_AHEAD = 1 << 23


class _Rows:
    """The rows of the array that starts at the reader's position, in batches of up
    to ``size``: a batch is either the JSON text of consecutive rows (``str``, for
    ``TypeAdapter.validate_json``: decoded and validated in one pass inside
    pydantic-core, with no Python dict per row made twice) or a list of decoded rows.

    Text batches are taken while the rows come one per line, as ``db dump`` writes
    them: up to ``size`` whole lines that start with ``{``. A line never starts
    inside a string (JSON strings hold no raw newline), so when such a run of lines,
    without the last comma and wrapped in ``[...]``, parses, its brackets balance and
    it is exactly those rows; if it does not validate (or parse) the consumer calls
    :meth:`rewind` and the rest of the array is read row by row as before, from the
    start of that batch, so problems are found and worded by the same code.
    """

    def __init__(self, reader: _Reader, size: int) -> None:
        self.reader, self.size = reader, size
        self.lines = re.compile(r"(?:[ \t]*\{[^\n]*\n){1,%d}" % size)
        self.batch_start: int | None = None
        self.rewound = False

    def rewind(self) -> None:
        """The last text batch did not validate: read it (and the rest) row by row."""
        assert self.batch_start is not None
        self.reader.pos = self.batch_start
        self.rewound = True

    def __iter__(self) -> Iterator[str | list[Any]]:
        r = self.reader
        r.expect("[")
        if r.peek() == "]":
            r.pos += 1
            return
        after_value = False
        while True:
            r.fill(LINES_AHEAD)
            m = self.lines.match(r.buf, r.pos)
            if m is None:
                break
            text = r.buf[r.pos : m.end()].rstrip()
            after_value = not text.endswith(",")
            self.batch_start = r.pos
            yield "[" + (text if after_value else text[:-1]) + "]"
            if self.rewound:
                after_value = False  # the reader is back at the batch's first row
                break
            r.pos = m.end()
            if after_value:
                break
        yield from _batches(r.rest(after_value), self.size)


class _Found:
    """Problems found while streaming, kept raw (their words need every client's name
    first: a value holding a word of one is never shown) and bounded."""

    def __init__(self) -> None:
        self.schema: list[Callable[[sm._Problems], None]] = []
        self.schema_more = 0
        # Reference problems by category (the detailed pass's order), each a list of
        # (sort key, adder), at most MAX_PROBLEMS kept per category.
        self.refs: dict[int, list[tuple[tuple[int, int], Callable[[sm._Problems], None]]]] = {}
        self.refs_more = 0
        self.rids: dict[tuple[str, int], Any] = {}

    def schema_error(self, loc: tuple[Any, ...], err: dict[str, Any], rid: Any) -> None:
        if len(self.schema) >= sm.MAX_PROBLEMS:
            self.schema_more += 1
            return
        if len(loc) > 1 and isinstance(loc[1], int):
            self.rids[(str(loc[0]), loc[1])] = rid
        err = {**err, "loc": loc}

        def add(problems: sm._Problems) -> None:
            head = 2 if len(loc) > 1 and isinstance(loc[1], int) else 1
            field = ".".join(str(p) for p in loc[head:]) or None
            if len(loc) == 1:
                field = str(loc[0])
            if err["type"] == "extra_forbidden" or err["type"] == "missing":
                field = ".".join(str(p) for p in loc[head:-1]) or None
            problems.add(list(loc), sm._pydantic_message(err, problems), field)

        self.schema.append(add)

    def ref(
        self, category: int, key: tuple[int, int], adder: Callable[[sm._Problems], None], where: Any = None
    ) -> None:
        kept = self.refs.setdefault(category, [])
        if len(kept) >= sm.MAX_PROBLEMS:
            self.refs_more += 1
            return
        if where is not None:
            self.rids[where[0]] = where[1]
        kept.append((key, adder))

    @property
    def any(self) -> bool:
        return bool(self.schema or self.schema_more or self.refs or self.refs_more)


class _StreamProblems(sm._Problems):
    """:class:`snapshot._Problems` without the document: client name words and row ids
    gathered while streaming."""

    def __init__(self, file: str, names: frozenset[str], rids: dict[tuple[str, int], Any]) -> None:
        self.file, self.lines, self.data = file, sm._Lines(), None
        self.items = []
        self.more = 0
        self.names = names
        self.rids = rids

    def entity(self, section: str, index: int | None) -> str:
        if index is None:
            return section
        rid = self.rids.get((section, index))
        if isinstance(rid, str) and not self.may_be_name(rid):
            return f"{section}[{index}] ({rid})"
        return f"{section}[{index}]"


def _rid(row: Any) -> Any:
    return row.get("id") if isinstance(row, dict) else None


def _unknown(path: list[Any], value: Any, what: str) -> Callable[[sm._Problems], None]:
    return lambda p: p.add(path, f"unknown {what} {p.shown(value)}")


def _fixed(path: list[Any], message: str) -> Callable[[sm._Problems], None]:
    return lambda p: p.add(path, message)


def _duplicate(section: str, i: int, rid: Any, j: int) -> Callable[[sm._Problems], None]:
    return lambda p: p.add([section, i, "id"], f"duplicate id {p.shown(rid)} (also at {section}[{j}])")


class _Stream:
    """One streaming load: validates each section as it comes and feeds the loader."""

    def __init__(self, file: str, loader: Loader | None) -> None:
        self.file = file
        self.loader = loader  # None once inserting has stopped (or never: a dry run)
        self.found = _Found()
        self.staff: dict[str, int] = {}
        self.clients: dict[str, int] = {}
        self.series: dict[str, int] = {}
        self.dup_links: list[tuple[int, str, str]] = []  # (index, client, duplicate_of)
        self.times = sm._Times()
        self.counts = {s: 0 for s in SECTIONS}
        self.appointment_ids_refused = False

    def stop_inserting(self) -> None:
        self.loader = None

    # ------------------------------------------------------------ sections
    def practice(self, value: Any) -> None:
        try:
            snap = sm.PracticeSnap.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                self.found.schema_error(("practice", *err["loc"]), dict(err), None)
            self.stop_inserting()
            self.practice_ids: tuple[Any, Any] = (None, None)
            return
        self.practice_ids = (snap.owner, snap.clinical_director)
        self.counts["practice"] = 1
        if self.loader is not None:
            self.loader.practice(sm._practice_row(snap))

    def staff_rows(self, items: Iterator[Any]) -> None:
        rows = []
        for i, raw in enumerate(items):
            try:
                snap = sm.StaffSnap.model_validate(raw)
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    self.found.schema_error(("staff", i, *err["loc"]), dict(err), _rid(raw))
                self.stop_inserting()
                continue
            if snap.id in self.staff:
                self.found.ref(0, (i, 0), _duplicate("staff", i, snap.id, self.staff[snap.id]), (("staff", i), snap.id))
            else:
                self.staff[snap.id] = i
            rows.append(sm._staff_row(snap))
        self.counts["staff"] = len(rows)
        if self.found.any:
            self.stop_inserting()
        if self.loader is not None:
            self.loader.staff(rows)

    def bulk_rows(self, section: str, rows: _Rows) -> None:
        adapter = sm._ADAPTERS[section]
        start = 0
        for batch in rows:
            tuples: list[tuple[Any, ...]] | None = None
            if isinstance(batch, str):
                try:
                    tuples = sm._tuples(section, adapter.validate_json(batch), self.times)
                except (ValidationError, sm._NotFast):
                    rows.rewind()  # row by row from this batch on: the careful way words any problem
                    continue
            else:
                try:
                    tuples = sm._tuples(section, adapter.validate_python(batch), self.times)
                except (ValidationError, sm._NotFast):
                    tuples = self._detailed(section, batch, start)
            self._references(section, tuples, start)
            self.counts[section] += len(tuples)
            if self.found.any:
                self.stop_inserting()
            if self.loader is not None:
                self._insert(section, tuples)
            start += len(tuples)

    def _detailed(self, section: str, batch: list[Any], start: int) -> list[tuple[Any, ...]]:
        """The batch through the row models: problems located, good rows converted
        (``None`` in place of a bad row, which the reference checks skip)."""
        model = sm.FAST_MODELS[section][1]
        to_row = sm.MODEL_ROWS[section]
        columns = COLUMNS[section]
        out: list[Any] = []
        for k, raw in enumerate(batch):
            try:
                snap = model.model_validate(raw)
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    self.found.schema_error((section, start + k, *err["loc"]), dict(err), _rid(raw))
                out.append(None)
                continue
            row = to_row(snap)
            out.append(tuple(row[c] for c in columns))
        return out

    def _insert(self, section: str, tuples: list[tuple[Any, ...]]) -> None:
        assert self.loader is not None
        try:
            self.loader.bulk(section, tuples)
        except Exception as exc:
            conn = getattr(self.loader, "conn", None)  # (a _ChildLoader handles this in the child)
            if conn is None or section != "appointments" or not isinstance(exc, _integrity_errors(conn)):
                raise
            # Clients, series and staff ids are checked here; an appointment id the
            # primary key refuses is a duplicate, located by a second pass.
            self.appointment_ids_refused = True
            self.stop_inserting()

    # ------------------------------------------------------------ references
    def _references(self, section: str, tuples: list[Any], start: int) -> None:
        """``_check_references``' rules for one batch (rows that failed validation are None)."""
        good = [t for t in tuples if t is not None]
        if section == "clients":
            self._clients(tuples, start, good)
        elif section == "series":
            self._series(tuples, start, good)
        else:
            self._appointments(tuples, start, good)

    def _column(self, section: str, name: str, rows: list[tuple[Any, ...]]) -> Iterator[Any]:
        return map(itemgetter(column_index(section, name)), rows)

    def _clients(self, tuples: list[Any], start: int, good: list[tuple[Any, ...]]) -> None:
        known = self.clients
        ids = list(self._column("clients", "id", good))
        if (
            len(set(ids)) != len(ids)
            or not known.keys().isdisjoint(ids)
            or not self._refs_ok("clients", "primary_id", good, self.staff)
        ):
            slow = True
        else:
            slow = False
        dup_i = column_index("clients", "duplicate_of")
        prim_i = column_index("clients", "primary_id")
        for k, t in enumerate(tuples):
            if t is None:
                continue
            i = start + k
            cid = t[0]
            if slow:
                if cid in known:
                    self.found.ref(1, (i, 0), _duplicate("clients", i, cid, known[cid]), (("clients", i), cid))
                    cid = None
                if t[prim_i] is not None and t[prim_i] not in self.staff:
                    self.found.ref(
                        5, (i, 0), _unknown(["clients", i, "primary"], t[prim_i], "staff"), (("clients", i), t[0])
                    )
            if cid is not None:
                known[cid] = i
            if t[dup_i] is not None:
                self.dup_links.append((i, t[0], t[dup_i]))

    def _refs_ok(self, section: str, name: str, rows: list[tuple[Any, ...]], known: dict[str, int]) -> bool:
        return set(self._column(section, name, rows)) - {None} <= known.keys()

    def _series(self, tuples: list[Any], start: int, good: list[tuple[Any, ...]]) -> None:
        known = self.series
        ids = list(self._column("series", "id", good))
        fast = (
            len(set(ids)) == len(ids)
            and known.keys().isdisjoint(ids)
            and self._refs_ok("series", "client_id", good, self.clients)
            and self._refs_ok("series", "staff_id", good, self.staff)
            and not any(
                u is not None and u < s
                for u, s in zip(self._column("series", "until", good), self._column("series", "start_at", good))
            )
        )
        for k, t in enumerate(tuples):
            if t is None:
                continue
            i = start + k
            sid, client, staff, start_at, until = t[0], t[1], t[2], t[4], t[6]
            if not fast:
                where = (("series", i), sid)
                if sid in known:
                    self.found.ref(2, (i, 0), _duplicate("series", i, sid, known[sid]), where)
                    sid = None
                if client not in self.clients:
                    self.found.ref(6, (i, 0), _unknown(["series", i, "client"], client, "client"), where)
                if staff not in self.staff:
                    self.found.ref(6, (i, 1), _unknown(["series", i, "staff"], staff, "staff"), where)
                if until is not None and until < start_at:
                    self.found.ref(6, (i, 2), _fixed(["series", i, "until"], "until is before start"), where)
            if sid is not None:
                known[sid] = i

    def _appointments(self, tuples: list[Any], start: int, good: list[tuple[Any, ...]]) -> None:
        fast = (
            self._refs_ok("appointments", "client_id", good, self.clients)
            and self._refs_ok("appointments", "staff_id", good, self.staff)
            and self._refs_ok("appointments", "series_id", good, self.series)
            and all(
                map(
                    operator.gt,
                    self._column("appointments", "end_at", good),
                    self._column("appointments", "start_at", good),
                )
            )
        )
        if fast:
            return
        for k, t in enumerate(tuples):
            if t is None:
                continue
            i = start + k
            where = (("appointments", i), t[0])
            client, staff, start_at, end_at, series = t[1], t[2], t[3], t[4], t[6]
            if client not in self.clients:
                self.found.ref(7, (i, 0), _unknown(["appointments", i, "client"], client, "client"), where)
            if staff not in self.staff:
                self.found.ref(7, (i, 1), _unknown(["appointments", i, "staff"], staff, "staff"), where)
            if series is not None and series not in self.series:
                self.found.ref(7, (i, 2), _unknown(["appointments", i, "series"], series, "series"), where)
            if end_at <= start_at:
                self.found.ref(7, (i, 3), _fixed(["appointments", i, "end"], "end is not after start"), where)

    def finish_references(self) -> None:
        """The checks that need every id: the practice's staff, clients' duplicate_of."""
        owner, director = getattr(self, "practice_ids", (None, None))
        for key, value in (("owner", owner), ("clinical_director", director)):
            if value is not None and value not in self.staff:
                self.found.ref(4, (0, 0 if key == "owner" else 1), _unknown(["practice", key], value, "staff"))
        for i, cid, dup in self.dup_links:
            if dup not in self.clients:
                self.found.ref(
                    _CLIENT_LINKS,
                    (i, 1),
                    _unknown(["clients", i, "duplicate_of"], dup, "client"),
                    (("clients", i), cid),
                )
            if dup == cid:
                self.found.ref(
                    _CLIENT_LINKS,
                    (i, 2),
                    _fixed(["clients", i, "duplicate_of"], "a client cannot be a duplicate of itself"),
                    (("clients", i), cid),
                )


def _open(path: Path) -> IO[str]:
    try:
        return path.open(encoding="utf-8")
    except FileNotFoundError:
        raise SnapshotError(f"snapshot file {path} does not exist") from None
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot file {path}: {exc}") from None


def _run(path: Path, stream: _Stream) -> None:
    """One pass over the file; raises NotStreamable, _JsonError or SnapshotError."""
    with _open(path) as f:
        reader = _Reader(f)
        order = iter(SECTIONS)
        seen_practice = False
        for key, value in reader.sections():
            # Keys in SPEC order, none twice: anything else is left to the ordinary reader.
            for expected in order:
                if expected == key:
                    break
            else:
                raise NotStreamable
            if key == "practice":
                seen_practice = True
                stream.practice(value)
                continue
            if not seen_practice or not isinstance(value, Iterator):
                raise NotStreamable
            if key == "staff":
                stream.staff_rows(value)
            else:
                # (``value``, never started, is dropped: the batches read the array instead.)
                stream.bulk_rows(key, _Rows(reader, bulkload.CHUNK))
        if not seen_practice:
            raise NotStreamable


def _decoded(rows: _Rows) -> Iterator[list[Any]]:
    """The batches of ``rows`` decoded (``json.loads`` of a batch of lines: the same
    values as row by row; a batch that does not parse is read row by row)."""
    for batch in rows:
        if isinstance(batch, str):
            try:
                batch = json.loads(batch)
            except ValueError:
                rows.rewind()
                continue
        yield batch


def _array_batches(path: Path) -> Generator[tuple[str, Iterator[list[Any]] | None], None, None]:
    """``(key, batches of rows)`` for each array of the top-level object (``None`` for
    other values), for the second passes of the error path; each must be consumed."""
    with _open(path) as f:
        reader = _Reader(f)
        for key, value in reader.sections():
            yield key, _decoded(_Rows(reader, bulkload.CHUNK)) if isinstance(value, Iterator) else None


def _client_names(path: Path) -> frozenset[str]:
    """Every word of every client's name in the file (a second pass, on the error path)."""
    words: set[str] = set()
    sections = _array_batches(path)
    for key, batches in sections:
        if batches is None:
            continue
        if key == "clients":
            for batch in batches:
                words |= sm._name_words({"clients": batch})
            break
        for _ in batches:  # an array before clients: read past it
            pass
    sections.close()
    return frozenset(words)


def _appointment_ids(path: Path) -> Iterator[tuple[int, Any]]:
    """(index, id) of every appointment row of the file, in order (the other arrays are
    read through, not kept)."""
    for key, batches in _array_batches(path):
        if batches is None:
            continue
        i = 0
        for batch in batches:
            if key != "appointments":
                continue
            for raw in batch:
                yield i, _rid(raw)
                i += 1


def _appointment_duplicates(path: Path, found: _Found) -> None:
    """Locate duplicate appointment ids (a second pass with a set of ids, error path only)."""
    dups: list[tuple[int, Any]] = []
    seen: set[Any] = set()
    for i, rid in _appointment_ids(path):
        if rid in seen:
            dups.append((i, rid))
        else:
            seen.add(rid)
    if not dups:
        return
    wanted = {rid for _, rid in dups}
    first: dict[Any, int] = {}
    for i, rid in _appointment_ids(path):
        if rid in wanted and rid not in first:
            first[rid] = i
    for i, rid in dups:
        found.ref(3, (i, 0), _duplicate("appointments", i, rid, first[rid]), (("appointments", i), rid))


#: Snapshots at least this large are inserted by a second process (see _ChildLoader).
PARALLEL_MIN_BYTES = 1 << 23


class _ChildFailed(Exception):
    """The inserting process failed: ``kind`` is "database" (``message`` is the
    driver's first line), "refused" (the appointments' primary key refused an id)
    or "error" (anything else: ``exc`` when it could be sent)."""

    def __init__(self, kind: str, message: str, exc: BaseException | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.exc = kind, message, exc


class _ChildLoader:
    """A :class:`Loader` in a forked process, fed over a pipe: reading, decoding and
    validating the file (this process) and inserting it (the child) run on two cores.

    The child opens its own connection and transaction and commits only when told
    to, after every row has been validated here; anything else (a problem found, an
    error, this process killed: the pipe reaches end of file) rolls it back, so the
    load stays all or nothing. A database error is sent back as soon as it happens
    and raised here at the next batch, as the in-process load would raise it.
    """

    def __init__(self, engine: Engine, bar: Progress) -> None:
        ctx = multiprocessing.get_context("fork")
        self.pipe, child_end = ctx.Pipe()
        self.proc = ctx.Process(target=_child_main, args=(engine, child_end, self.pipe), daemon=True)
        self.proc.start()
        child_end.close()
        self.bar = bar
        self.advance: dict[str, Callable[[int], None]] = {}
        self.closed = False
        # Converted here (times to text for SQLite): the two processes' shares of the
        # work come out about even, and strings pickle faster than datetimes.
        self.dialect = engine.dialect
        self.converters: dict[str, Any] = {}
        # Whether a section's batches are marshalled (SQLite's converted tuples: text, ints,
        # None) or need pickle (PostgreSQL's datetimes): the first batch says, for all.
        self.marshalled: dict[str, bool] = {}

    def _send(self, message: tuple[Any, ...], try_marshal: bool = True) -> bytes:
        """Send ``message`` (see :func:`_pack`); returns what was sent."""
        if self.pipe.poll():  # the child reports a failure as soon as it happens
            self._reply()
        data = _pack(message, try_marshal)
        try:
            self.pipe.send_bytes(data)
        except (BrokenPipeError, ConnectionResetError):
            self._reply()
        return data

    def _reply(self) -> None:
        """Read the child's answer; raises :class:`_ChildFailed` unless it is "ok"."""
        try:
            kind, message, exc = self.pipe.recv()
        except (EOFError, ConnectionResetError):
            raise _ChildFailed("error", "the inserting process ended unexpectedly") from None
        except Exception as bad:  # an answer that does not unpickle here
            raise _ChildFailed("error", f"the inserting process failed: {bad}") from None
        if kind != "ok":
            raise _ChildFailed(kind, message, exc)

    def start(self) -> None:
        self._send(("start",))
        self._reply()

    def practice(self, row: dict[str, Any]) -> None:
        self._send(("practice", row))
        self.bar.task("loading practice", 1)(1)

    def staff(self, rows: Sequence[dict[str, Any]]) -> None:
        self._send(("staff", list(rows)))
        self.bar.task("loading staff", len(rows))(len(rows))

    def bulk(self, section: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if section not in self.converters:
            self.converters[section] = raw_converter(section, self.dialect)
        convert = self.converters[section]
        if convert is not None:
            rows = convert(rows)
        sent = self._send(("bulk", section, rows, convert is not None), self.marshalled.get(section, True))
        self.marshalled[section] = sent[:1] == b"M"
        if section not in self.advance:
            self.advance[section] = self.bar.counter(f"loading {section}", None)
        self.advance[section](len(rows))

    def finish(self) -> None:
        """Index, commit and wait for the child; raises :class:`_ChildFailed`."""
        done = self.bar.task("indexing", None)
        self._send(("commit",))
        self._reply()
        done(1)
        self.close()

    def close(self) -> None:
        """Roll back (unless committed) and end the child."""
        if self.closed:
            return
        self.closed = True
        try:
            self.pipe.close()  # end of file: the child rolls back and exits
        finally:
            self.proc.join()


def _pack(message: tuple[Any, ...], try_marshal: bool = True) -> bytes:
    """A message for the child: ``marshal`` when it holds only what marshal writes (the
    converted bulk tuples on SQLite: text, ints, None), which dumps them in half
    pickle's time; ``pickle`` otherwise (datetimes, mappings), or at once unless
    ``try_marshal`` (marshal only finds a datetime when it reaches it). Both processes
    are the same interpreter (a fork), so marshal's format is the same on both ends."""
    if try_marshal:
        try:
            return b"M" + marshal.dumps(message)
        except ValueError:  # "unmarshallable object"
            pass
    return b"P" + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes) -> Any:
    """The message :func:`_pack` wrote."""
    body = memoryview(data)[1:]
    return marshal.loads(body) if data[:1] == b"M" else pickle.loads(body)


def _child_main(engine: Engine, pipe: Any, parent_end: Any) -> None:
    """The inserting process: a :class:`Loader` run on the messages of the pipe."""
    parent_end.close()  # else the child would never see end of file if the parent dies
    engine.dispose(close=False)  # the parent's pooled connections are not ours to use
    failure: tuple[str, str, Any] | None = None
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            journal = None
            if sqlite:
                _foreign_keys(conn, on=False)
                journal = _journal_mode(conn, "DELETE")
            trans = conn.begin()
            loader = Loader(conn, Progress(False, ExitStack()))
            while True:
                try:
                    message = _unpack(pipe.recv_bytes())
                except EOFError:
                    break  # the parent stopped (rolled back, or died): roll back
                op = message[0]
                if op == "commit":
                    if failure is None:
                        try:
                            loader.finish()
                            trans.commit()
                            pipe.send(("ok", "", None))
                        except BaseException as exc:
                            pipe.send(_failure(exc))
                    else:
                        pipe.send(failure)
                    break
                if failure is not None:
                    continue  # sent already; wait for the end
                try:
                    if op == "start":
                        loader.start()
                        pipe.send(("ok", "", None))
                    elif op == "practice":
                        loader.practice(message[1])
                    elif op == "staff":
                        loader.staff(message[1])
                    else:
                        loader.bulk(message[1], message[2], converted=message[3])
                except _integrity_errors(conn) as exc:
                    refused = op == "bulk" and message[1] == "appointments"
                    failure = ("refused", "", None) if refused else _failure(exc)
                    if failure[0] != "refused":
                        pipe.send(failure)
                except BaseException as exc:
                    failure = _failure(exc)
                    pipe.send(failure)
            if trans.is_active:
                trans.rollback()
            if journal is not None:
                _journal_mode(conn, journal)
    except BaseException as exc:  # the connection itself failed
        try:
            pipe.send(_failure(exc))
        except OSError:
            pass
    finally:
        pipe.close()
        os._exit(0)  # no atexit handlers, no flushing of the parent's buffers twice


def _failure(exc: BaseException) -> tuple[str, str, Any]:
    """A failure as the child sends it: a driver error by its first line (how
    ``load_snapshot`` words it), anything else as the exception when it pickles."""
    if isinstance(exc, sa_exc.DBAPIError) or exc.__class__.__module__.split(".")[0] in ("sqlite3", "psycopg"):
        return ("database", sm.driver_first_line(exc), None)
    try:
        pickle.dumps(exc)
        return ("error", str(exc), exc)
    except Exception:
        return ("error", f"{exc.__class__.__name__}: {exc}", None)


def _integrity_errors(conn: Connection) -> tuple[type[BaseException], ...]:
    """What a refused row raises: SQLAlchemy's wrapper, or the driver's own error
    (psycopg's COPY is run on the driver connection, so nothing wraps it)."""
    dbapi = conn.dialect.loaded_dbapi
    return (sa_exc.IntegrityError, getattr(dbapi, "IntegrityError", sa_exc.IntegrityError))


def _foreign_keys(conn: Connection, *, on: bool) -> None:
    """SQLite's foreign key enforcement for this connection, set outside a transaction
    (the pragma is a no-op inside one). The streamed load checks every reference
    itself before anything is committed, so enforcing them again per inserted row
    (three parent look-ups per appointment) only costs time."""
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _journal_mode(conn: Connection, mode: str) -> str | None:
    """Switch this SQLite connection's journal mode (outside a transaction); returns the
    mode it had, or None when it could not be switched (another connection has the
    database open: SQLite says "locked" at once) and nothing changed.

    The inserting process loads into an empty database with a rollback journal and
    goes back to WAL after: a WAL commit writes every page of the new database to
    the log, and the last connection's checkpoint writes it again into the file (two
    passes over ~430 MB for a large practice, in the load's serial tail), while the
    rollback journal of a database that was empty holds next to nothing. A load that
    dies half way leaves a hot journal that the next connection rolls back (the
    database is as it was), and every connection switches a database back to WAL as it
    opens it (``lite.configure``)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    try:
        before = str(driver.execute("PRAGMA journal_mode").fetchone()[0]).upper()
        if before == mode.upper():
            return None
        after = str(driver.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]).upper()
    except Exception:  # "database is locked": someone else has it open; stay as it is
        return None
    return before if after == mode.upper() else None


def load_json_stream(engine: Engine, path: Path, bar: Progress) -> dict[str, int]:
    """Stream ``path`` into the empty database behind ``engine`` (one transaction).

    Returns the rows loaded per section; raises :class:`SnapshotError` (nothing
    loaded) or :class:`NotStreamable` (nothing loaded: read the file the ordinary way).
    A large file is inserted by a second process (:class:`_ChildLoader`) while this
    one reads and validates it.
    """
    try:
        parallel = path.stat().st_size >= PARALLEL_MIN_BYTES
    except OSError:
        parallel = False  # _open words the problem
    stream = _load_child(engine, path, bar) if parallel else _load_here(engine, path, bar)
    if not (stream.found.any or stream.appointment_ids_refused):
        return stream.counts
    # Locating the problems reads the file again: first let go of the load's page cache.
    engine.dispose()
    _raise(path, stream)
    raise AssertionError("unreachable: _raise raises")  # pragma: no cover


def _load_here(engine: Engine, path: Path, bar: Progress) -> _Stream:
    """The load in this process: validated and inserted batch by batch, committed if good."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _foreign_keys(conn, on=False)
        trans = conn.begin()
        try:
            loader = Loader(conn, bar)
            loader.start()
            stream = _Stream(str(path), loader)
            _validate(path, stream)
            if stream.found.any or stream.appointment_ids_refused:
                trans.rollback()
            else:
                loader.finish()
                trans.commit()
        except BaseException:
            if trans.is_active:
                trans.rollback()
            raise
        finally:
            if sqlite:
                _foreign_keys(conn, on=True)
    return stream


def _load_child(engine: Engine, path: Path, bar: Progress) -> _Stream:
    """The load with a second process inserting (see :class:`_ChildLoader`)."""
    loader = _ChildLoader(engine, bar)
    try:
        loader.start()
        stream = _Stream(str(path), loader)  # type: ignore[arg-type]  # Loader's interface
        _validate(path, stream)
        if not stream.found.any:
            try:
                loader.finish()
            except _ChildFailed as exc:
                if exc.kind != "refused":
                    raise
                # An appointment id the primary key refused: a duplicate, located by a second pass.
                stream.appointment_ids_refused = True
    except _ChildFailed as exc:
        if exc.kind != "database" and exc.exc is not None:
            raise exc.exc from None
        raise sm.load_failed(path, engine, exc.message) from None
    finally:
        loader.close()
    return stream


def _validate(path: Path, stream: _Stream) -> None:
    """Read and validate the whole file, feeding the stream's loader while it is good."""
    file = str(path)
    try:
        _run(path, stream)
    except _JsonError as exc:
        raise SnapshotError(f"invalid JSON: {exc.msg}", location=Location(file, exc.line)) from None
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"cannot read snapshot file {path}: {exc}") from None
    except RecursionError:
        raise SnapshotError("JSON nesting too deep", location=Location(file)) from None
    stream.finish_references()


def _raise(path: Path, stream: _Stream) -> None:
    """Raise the located SnapshotError for what the stream found (the detailed pass's order)."""
    found = stream.found
    if not found.schema and not found.schema_more:
        _appointment_duplicates(path, found)
    problems = _StreamProblems(str(path), _client_names(path), found.rids)
    if found.schema or found.schema_more:
        for add in found.schema:
            add(problems)
        problems.more += found.schema_more
    else:
        # The clients' duplicate_of checks come at the end, in a list of their own (each
        # list keeps its first MAX_PROBLEMS in index order); they sort in with the other
        # client checks by (index, rule), as the detailed pass words them.
        refs = dict(found.refs)
        refs[5] = refs.get(5, []) + refs.pop(_CLIENT_LINKS, [])
        for category in sorted(refs):
            for _key, add in sorted(refs[category], key=lambda item: item[0]):
                add(problems)
        problems.more += found.refs_more
    if not problems.items:
        raise SnapshotError(f"loading {path} failed: the database refused a row; nothing was loaded")
    problems.raise_if_any()
