"""The tamper-evident audit chain of SPEC §7.1. Pure: standard library only, no clock.

Every audit event stores ``prev_hash`` (the ``hash`` of the event before it, or
:data:`GENESIS` for the first) and its own ``hash``::

    hash = "sha256:" + hex(SHA-256(canonical_json(event)))

Canonical JSON
--------------
A JSON object with exactly these nine keys, serialised with ``sort_keys=True``,
``separators=(",", ":")``, ``ensure_ascii=False``, ``allow_nan=False`` and encoded as
UTF-8::

    {"action_type": "client.delete", "actor": "alee", "after": {...},
     "before": {...}, "plan_id": "p-...", "prev_hash": "sha256:...",
     "signer": "alee" | null, "target": "C-1001", "time": "2026-12-02T15:30:00Z"}

(``action_type`` is the action's type, as in the ``audit_events.action_type`` column.)

Normalisation, so that every target computes the same hash after a round trip
-----------------------------------------------------------------------------
- ``time`` is ISO 8601 UTC with a ``Z`` and **whole seconds**: ``YYYY-MM-DDTHH:MM:SSZ``.
  Microseconds are dropped (truncated, never rounded), because MariaDB/MySQL
  ``DATETIME`` without a fractional precision loses them (MariaDB truncates, MySQL
  rounds). Writers must therefore *store* :func:`chain_time` of the instant — already
  whole seconds — so that what is stored is exactly what was hashed on every target.
  A naive ``datetime`` is UTC (the database convention); an aware one is converted;
  a string is parsed as ISO 8601 (``Z`` or an offset; naive means UTC).
- ``before`` / ``after``: ``None`` counts as ``{}`` (the reader shows a NULL column as
  ``{}``). Values are normalised recursively: mapping keys must be strings; tuples
  become lists; a float with an integral value becomes an int (a JSON/JSONB round trip
  may turn ``1.0`` into ``1``); NaN and infinities are refused; a ``datetime`` becomes
  its canonical time string and a ``date`` its ISO date. Anything else is refused with
  :class:`ChainError` rather than hashed in a way another target could not reproduce.
- strings are hashed as given (no Unicode normalisation); the columns must store
  them losslessly (on MariaDB/MySQL: ``utf8mb4``).

What the chain does not cover
-----------------------------
Only the nine fields above are hashed (SPEC §7.1): an event's ``action_id``,
``staff_id`` and ``reason`` are not. Removing events at the *end* of the trail leaves a
valid, shorter chain: compare the head hash :func:`verify` reports with one recorded
elsewhere (a log line, a ticket) to detect that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ReconcilerError
from ..jsontext import reusable

#: ``prev_hash`` of the first event.
GENESIS = "sha256:" + "0" * 64
HASH_PREFIX = "sha256:"
_UTC = dt.UTC

#: The canonical JSON keys, in the order they are serialised (sorted).
FIELDS = (
    "action_type",
    "actor",
    "after",
    "before",
    "plan_id",
    "prev_hash",
    "signer",
    "target",
    "time",
)

_PLAIN = (str, type(None), bool, int)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# no circular-reference markers: _normal builds every value fresh and acyclic.
_ENCODE = reusable(_ENCODER)
# canonical_time of the last datetime seen: an apply stamps all its events with one time.
_LAST_TIME: list[tuple[dt.datetime, str]] = []

FailureKind = Literal["edited", "removed", "reordered"]


class ChainError(ReconcilerError):
    """An event value that cannot be hashed reproducibly (a bug in the writer)."""


# ---------------------------------------------------------------------------- canonical form


def chain_time(value: dt.datetime) -> dt.datetime:
    """The instant as the chain hashes it and as writers must store it: aware UTC,
    microseconds truncated. Naive input is taken as UTC."""
    utc = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    return utc.replace(microsecond=0)


def canonical_time(value: dt.datetime | str) -> str:
    """``2026-12-02T15:30:00Z``: UTC, whole seconds (truncated), ``Z``."""
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ChainError(f"audit time {value!r} is not an ISO 8601 date-time") from None
        value = parsed
    elif not isinstance(value, dt.datetime):
        raise ChainError(f"audit time must be a datetime or an ISO 8601 string, not {type(value).__name__}")
    elif _LAST_TIME and _LAST_TIME[0][0] is value:
        return _LAST_TIME[0][1]
    u = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    text = f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"
    if type(value) is dt.datetime:  # immutable (a subclass might not be): safe to remember by identity
        _LAST_TIME[:] = [(value, text)]
    return text


def _normal(value: Any, path: str) -> Any:
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is dict and all(type(k) is str and type(v) in _PLAIN for k, v in value.items()):
        return value  # the common case: a flat mapping of ids and strings
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ChainError(f"audit value at {path} is not a finite number")
        return int(value) if value.is_integer() else value
    if isinstance(value, dt.datetime):
        return canonical_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ChainError(f"audit value at {path} has a non-string key")
            out[k] = _normal(v, f"{path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_normal(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise ChainError(f"audit value at {path} has unsupported type {type(value).__name__}")


def canonical_json(
    *,
    time: dt.datetime | str,
    actor: str,
    signer: str | None,
    plan_id: str,
    action_type: str,
    target: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    prev_hash: str,
) -> bytes:
    """The exact bytes :func:`event_hash` hashes (see the module docstring)."""
    for name, text in (
        ("actor", actor),
        ("plan_id", plan_id),
        ("action_type", action_type),
        ("target", target),
        ("prev_hash", prev_hash),
    ):
        if not isinstance(text, str):
            raise ChainError(f"audit field {name} must be a string, not {type(text).__name__}")
    if signer is not None and not isinstance(signer, str):
        raise ChainError(f"audit field signer must be a string or null, not {type(signer).__name__}")
    doc = {
        "time": canonical_time(time),
        "actor": actor,
        "signer": signer,
        "plan_id": plan_id,
        "action_type": action_type,
        "target": target,
        "before": _normal(before or {}, "before"),
        "after": _normal(after or {}, "after"),
        "prev_hash": prev_hash,
    }
    try:
        return _ENCODE(doc).encode("utf-8")
    except UnicodeEncodeError:
        raise ChainError("audit event holds a string that is not valid Unicode") from None


def event_hash(
    *,
    time: dt.datetime | str,
    actor: str,
    signer: str | None,
    plan_id: str,
    action_type: str,
    target: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    prev_hash: str,
) -> str:
    """``sha256:<64 hex>`` of :func:`canonical_json` of the event."""
    data = canonical_json(
        time=time,
        actor=actor,
        signer=signer,
        plan_id=plan_id,
        action_type=action_type,
        target=target,
        before=before,
        after=after,
        prev_hash=prev_hash,
    )
    return HASH_PREFIX + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ChainEvent:
    """One stored audit event as the verifier sees it. ``id`` is the row id (or any
    label naming the event in a report); ``hash`` and ``prev_hash`` are as stored."""

    id: int | str | None
    time: dt.datetime | str
    actor: str
    signer: str | None
    plan_id: str
    action_type: str
    target: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    prev_hash: str
    hash: str

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> ChainEvent:
        """An event from a database row or ``read_audit``-style dict. Accepts ``at`` or
        ``time`` and ``action_type`` or ``type``; ``signer`` may be absent (null)."""
        time = row["time"] if "time" in row else row["at"]
        action_type = row["action_type"] if "action_type" in row else row["type"]
        return cls(
            id=row.get("id"),
            time=time,
            actor=row["actor"],
            signer=row.get("signer"),
            plan_id=row["plan_id"],
            action_type=action_type,
            target=row["target"],
            before=row.get("before"),
            after=row.get("after"),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )

    def computed_hash(self) -> str:
        """The hash of this event's fields (including its stored ``prev_hash``)."""
        return event_hash(
            time=self.time,
            actor=self.actor,
            signer=self.signer,
            plan_id=self.plan_id,
            action_type=self.action_type,
            target=self.target,
            before=self.before,
            after=self.after,
            prev_hash=self.prev_hash,
        )


class Linker:
    """Writes a chain: ``link(...)`` returns ``(prev_hash, hash)`` for the next event and
    advances. Start it at :data:`GENESIS` for an empty trail, or at the stored hash of
    the newest event (read in the writer's transaction, under the practice lock).
    The migration that chains existing events runs one over them, oldest first."""

    def __init__(self, head: str = GENESIS) -> None:
        self.head = head

    def link(
        self,
        *,
        time: dt.datetime | str,
        actor: str,
        signer: str | None,
        plan_id: str,
        action_type: str,
        target: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> tuple[str, str]:
        prev = self.head
        self.head = event_hash(
            time=time,
            actor=actor,
            signer=signer,
            plan_id=plan_id,
            action_type=action_type,
            target=target,
            before=before,
            after=after,
            prev_hash=prev,
        )
        return prev, self.head


# ---------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class ChainFailure:
    """The first event at which the chain breaks.

    - ``edited``: the event's fields no longer hash to its stored ``hash``.
    - ``removed``: its ``prev_hash`` is the hash of no event in the trail: one or more
      events before it were deleted (or the event before it was rewritten *and*
      re-hashed, which looks the same from inside the trail).
    - ``reordered``: its ``prev_hash`` is the hash of an event elsewhere in the trail
      (later, or earlier but not immediately before): events were moved or copied.
    """

    kind: FailureKind
    event_id: int | str | None
    position: int  # 0-based index in the verified sequence
    expected_prev_hash: str
    found_prev_hash: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "event_id": self.event_id,
            "position": self.position,
            "expected_prev_hash": self.expected_prev_hash,
            "found_prev_hash": self.found_prev_hash,
            "message": str(self),
        }

    def __str__(self) -> str:
        return f"audit event {self.event_id if self.event_id is not None else '#' + str(self.position)}: {self.detail}"


@dataclass(frozen=True)
class VerifyResult:
    """``count`` events chained correctly (all of them when ``ok``); ``head`` is the hash
    of the last good one (:data:`GENESIS` for an empty trail)."""

    count: int
    head: str
    failure: ChainFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_json(self) -> dict[str, object]:
        """For ``audit verify --format json``."""
        return {
            "ok": self.ok,
            "count": self.count,
            "head": self.head,
            "failure": self.failure.to_json() if self.failure else None,
        }


def _key(hash_text: str) -> int:
    """A 64-bit key of a stored hash, to remember earlier events in 8 bytes each."""
    digest = hashlib.blake2b(hash_text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def verify(events: Iterable[ChainEvent]) -> VerifyResult:
    """Recompute the chain over ``events`` (oldest first) and report the first break.

    Streaming: events are consumed one at a time and not kept; the verifier remembers
    8 bytes per event (to recognise a ``prev_hash`` that points back to an earlier
    event) — 8 MB for a million events. After a break it reads the rest of the stream
    only to tell a reordering from a removal."""
    seen = array("Q")
    head = GENESIS
    count = 0
    it: Iterator[ChainEvent] = iter(events)
    for event in it:
        computed = event.computed_hash()
        if computed != event.hash:
            return VerifyResult(
                count,
                head,
                ChainFailure(
                    "edited",
                    event.id,
                    count,
                    head,
                    event.prev_hash,
                    "edited: its fields no longer match its stored hash",
                ),
            )
        if event.prev_hash != head:
            return VerifyResult(count, head, _classify(event, count, head, seen, it))
        seen.append(_key(event.hash))
        head = event.hash
        count += 1
    return VerifyResult(count, head)


def _classify(
    event: ChainEvent,
    position: int,
    head: str,
    seen: array[int],
    rest: Iterator[ChainEvent],
) -> ChainFailure:
    wanted = event.prev_hash
    if wanted == GENESIS or _key(wanted) in seen:
        return ChainFailure(
            "reordered",
            event.id,
            position,
            head,
            wanted,
            "reordered: it follows an earlier event that is not the one before it",
        )
    for later in rest:
        if later.hash == wanted:
            label = later.id if later.id is not None else "a later event"
            return ChainFailure(
                "reordered",
                event.id,
                position,
                head,
                wanted,
                f"reordered: the event it follows ({label}) comes after it",
            )
    return ChainFailure(
        "removed",
        event.id,
        position,
        head,
        wanted,
        "removed: the event it follows is missing (deleted, or the event before it was rewritten)",
    )
