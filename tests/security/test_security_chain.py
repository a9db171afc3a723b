"""SPEC §7.1: the audit hash chain (reconciler.security.chain)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import ReconcilerError
from reconciler.security.chain import (
    FIELDS,
    GENESIS,
    ChainError,
    ChainEvent,
    Linker,
    canonical_json,
    canonical_time,
    chain_time,
    event_hash,
    verify,
)

T0 = dt.datetime(2026, 12, 2, 15, 30, 0, tzinfo=dt.UTC)


def fields(i: int = 0, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "time": T0 + dt.timedelta(seconds=i),
        "actor": "alee",
        "signer": None,
        "plan_id": f"p-{i // 3}",
        "action_type": "client.reassign",
        "target": f"C-{1000 + i}",
        "before": {"primary": "jdoe"},
        "after": {"primary": "egarcia"},
    }
    base.update(over)
    return base


def make_chain(n: int, start: int = 0) -> list[ChainEvent]:
    linker = Linker()
    out = []
    for i in range(start, start + n):
        f = fields(i)
        prev, h = linker.link(**f)
        out.append(ChainEvent(id=i + 1, prev_hash=prev, hash=h, **f))
    return out


def stream(n: int) -> Iterator[ChainEvent]:
    linker = Linker()
    for i in range(n):
        f = fields(i)
        prev, h = linker.link(**f)
        yield ChainEvent(id=i + 1, prev_hash=prev, hash=h, **f)


# ---------------------------------------------------------------------------- canonical form


def test_genesis_is_sha256_prefix_and_64_zeros() -> None:
    assert GENESIS == "sha256:" + "0" * 64


def test_canonical_json_has_exactly_the_spec_fields_sorted_without_spaces() -> None:
    data = canonical_json(prev_hash=GENESIS, **fields())
    assert data == (
        b'{"action_type":"client.reassign","actor":"alee","after":{"primary":"egarcia"},'
        b'"before":{"primary":"jdoe"},"plan_id":"p-0","prev_hash":"sha256:' + b"0" * 64 + b'",'
        b'"signer":null,"target":"C-1000","time":"2026-12-02T15:30:00Z"}'
    )
    assert tuple(json.loads(data)) == FIELDS


def test_event_hash_is_sha256_of_canonical_json() -> None:
    data = canonical_json(prev_hash=GENESIS, **fields())
    assert event_hash(prev_hash=GENESIS, **fields()) == "sha256:" + hashlib.sha256(data).hexdigest()


def test_known_hash_is_stable() -> None:
    """A fixed vector: changing the canonical form breaks every stored chain."""
    assert event_hash(prev_hash=GENESIS, **fields()) == (
        "sha256:"
        + hashlib.sha256(
            b'{"action_type":"client.reassign","actor":"alee","after":{"primary":"egarcia"},'
            b'"before":{"primary":"jdoe"},"plan_id":"p-0","prev_hash":"sha256:'
            b'0000000000000000000000000000000000000000000000000000000000000000",'
            b'"signer":null,"target":"C-1000","time":"2026-12-02T15:30:00Z"}'
        ).hexdigest()
    )


def test_non_ascii_is_utf8_not_escaped() -> None:
    data = canonical_json(prev_hash=GENESIS, **fields(actor="Zoë Ñúñez", after={"note": "漢字 ✓"}))
    assert "Zoë Ñúñez".encode() in data and "漢字 ✓".encode() in data and b"\\u" not in data


@pytest.mark.parametrize(
    ("label", "a", "b"),
    [
        (
            "key order of nested before/after",
            {"x": {"b": 1, "a": [1, {"z": 0, "y": None}]}},
            {"x": {"a": [1, {"y": None, "z": 0}], "b": 1}},
        ),
        (
            "integral float as stored by a JSON round trip",
            {"limit": 25.0},
            {"limit": 25},
        ),
        ("tuple as list", {"ids": ("C-1", "C-2")}, {"ids": ["C-1", "C-2"]}),
        (
            "datetime value as its canonical string",
            {"until": dt.datetime(2027, 1, 1, 9, 0, 0, 123456)},
            {"until": "2027-01-01T09:00:00Z"},
        ),
        ("date value as ISO date", {"on": dt.date(2027, 1, 1)}, {"on": "2027-01-01"}),
    ],
)
def test_before_after_normalisation(label: str, a: dict[str, Any], b: dict[str, Any]) -> None:
    assert event_hash(prev_hash=GENESIS, **fields(before=a, after=a)) == event_hash(
        prev_hash=GENESIS, **fields(before=b, after=b)
    ), label


def test_none_before_after_hash_as_empty_mapping() -> None:
    assert event_hash(prev_hash=GENESIS, **fields(before=None, after=None)) == event_hash(
        prev_hash=GENESIS, **fields(before={}, after={})
    )


def test_non_integral_float_is_kept_and_bool_is_not_an_int() -> None:
    assert b'"r":0.5' in canonical_json(prev_hash=GENESIS, **fields(after={"r": 0.5}))
    assert event_hash(prev_hash=GENESIS, **fields(after={"v": True})) != event_hash(
        prev_hash=GENESIS, **fields(after={"v": 1})
    )


@pytest.mark.parametrize(
    ("label", "over"),
    [
        ("NaN", {"after": {"x": float("nan")}}),
        ("infinity", {"before": {"x": float("inf")}}),
        ("non-string key", {"after": {1: "x"}}),
        ("unsupported type", {"after": {"x": {1, 2}}}),
        ("lone surrogate", {"actor": "a\ud800"}),
        ("non-string actor", {"actor": 7}),
        ("non-string signer", {"signer": 7}),
        ("unparseable time", {"time": "yesterday"}),
        ("time of wrong type", {"time": 1700000000}),
    ],
)
def test_values_that_cannot_round_trip_are_refused(label: str, over: dict[str, Any]) -> None:
    with pytest.raises(ChainError) as err:
        event_hash(prev_hash=GENESIS, **fields(**over))
    assert isinstance(err.value, ReconcilerError), label


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2026, 12, 2, 15, 30, 0, tzinfo=dt.UTC), "2026-12-02T15:30:00Z"),
        (
            dt.datetime(2026, 12, 2, 15, 30, 0, 999999, tzinfo=dt.UTC),
            "2026-12-02T15:30:00Z",
        ),
        (
            dt.datetime(2026, 12, 2, 15, 30, 0),
            "2026-12-02T15:30:00Z",
        ),  # naive = UTC (DB convention)
        (
            dt.datetime(2026, 12, 2, 10, 30, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "2026-12-02T15:30:00Z",
        ),
        ("2026-12-02T15:30:00Z", "2026-12-02T15:30:00Z"),
        ("2026-12-02T15:30:00.654321Z", "2026-12-02T15:30:00Z"),
        ("2026-12-02T15:30:00+00:00", "2026-12-02T15:30:00Z"),
        ("2026-12-02 15:30:00", "2026-12-02T15:30:00Z"),  # SQLite's text form
        ("2026-12-02T16:30:00+01:00", "2026-12-02T15:30:00Z"),
    ],
)
def test_time_format_is_utc_whole_seconds_with_z(value: dt.datetime | str, expected: str) -> None:
    assert canonical_time(value) == expected


def test_chain_time_is_what_writers_store() -> None:
    stored = chain_time(dt.datetime(2026, 12, 2, 15, 30, 0, 700000))
    assert stored == dt.datetime(2026, 12, 2, 15, 30, 0, tzinfo=dt.UTC)
    # MySQL rounds .7 s up, MariaDB truncates: storing chain_time makes both agree.
    assert canonical_time(stored) == canonical_time(stored.replace(tzinfo=None))


def test_every_field_is_covered_by_the_hash() -> None:
    base = event_hash(prev_hash=GENESIS, **fields())
    changes: dict[str, Any] = {
        "time": T0 + dt.timedelta(seconds=1),
        "actor": "mallory",
        "signer": "alee",
        "plan_id": "p-x",
        "action_type": "client.delete",
        "target": "C-9",
        "before": {"primary": "x"},
        "after": {"primary": "x"},
    }
    for name, value in changes.items():
        assert event_hash(prev_hash=GENESIS, **fields(**{name: value})) != base, name
    assert event_hash(prev_hash="sha256:" + "1" * 64, **fields()) != base


# ---------------------------------------------------------------------------- verify


def test_empty_chain_verifies_with_genesis_head() -> None:
    result = verify([])
    assert result.ok and result.count == 0 and result.head == GENESIS


def test_intact_chain_reports_count_and_head() -> None:
    events = make_chain(10)
    result = verify(events)
    assert result.ok and result.count == 10 and result.head == events[-1].hash


def test_edited_event_is_named() -> None:
    events = make_chain(10)
    events[4] = dataclasses.replace(events[4], actor="owner")
    result = verify(events)
    assert result.failure is not None
    assert (result.failure.kind, result.failure.event_id, result.failure.position) == (
        "edited",
        5,
        4,
    )
    assert result.count == 4 and result.head == events[3].hash
    assert "edited" in str(result.failure) and "5" in str(result.failure)


def test_edited_prev_hash_is_an_edit() -> None:
    events = make_chain(5)
    events[2] = dataclasses.replace(events[2], prev_hash=events[0].hash)
    failure = verify(events).failure
    assert failure is not None and (failure.kind, failure.event_id) == ("edited", 3)


def test_edited_before_after_value_is_an_edit() -> None:
    events = make_chain(5)
    events[1] = dataclasses.replace(events[1], after={"primary": "owner"})
    failure = verify(events).failure
    assert failure is not None and (failure.kind, failure.event_id) == ("edited", 2)


def test_removed_event_names_the_event_after_the_gap() -> None:
    events = make_chain(10)
    del events[6]
    failure = verify(events).failure
    assert failure is not None and (
        failure.kind,
        failure.event_id,
        failure.position,
    ) == ("removed", 8, 6)


def test_removed_first_event() -> None:
    events = make_chain(4)[1:]
    failure = verify(events).failure
    assert failure is not None and (
        failure.kind,
        failure.event_id,
        failure.position,
    ) == ("removed", 2, 0)


def test_edited_and_rehashed_event_shows_as_a_break_after_it() -> None:
    """Rewriting an event and its hash cannot be told from a removal from inside the
    trail; the next event is named."""
    events = make_chain(6)
    forged = dataclasses.replace(events[2], actor="owner")
    events[2] = dataclasses.replace(forged, hash=forged.computed_hash())
    failure = verify(events).failure
    assert failure is not None and (failure.kind, failure.event_id) == ("removed", 4)


def test_swapped_events_are_reordered() -> None:
    events = make_chain(8)
    events[3], events[4] = events[4], events[3]
    failure = verify(events).failure
    assert failure is not None and (
        failure.kind,
        failure.event_id,
        failure.position,
    ) == ("reordered", 5, 3)


def test_event_moved_to_the_front_is_reordered() -> None:
    events = make_chain(5)
    events.insert(0, events.pop(3))
    failure = verify(events).failure
    assert failure is not None and (
        failure.kind,
        failure.event_id,
        failure.position,
    ) == ("reordered", 4, 0)


def test_first_event_moved_later_is_reordered() -> None:
    events = make_chain(5)
    events.insert(3, events.pop(0))
    failure = verify(events).failure
    assert failure is not None and (
        failure.kind,
        failure.event_id,
        failure.position,
    ) == ("reordered", 2, 0)


def test_copied_earlier_event_is_reordered() -> None:
    """An event replayed further down points back at an earlier, non-adjacent event."""
    events = make_chain(5)
    events.append(events[2])
    failure = verify(events).failure
    assert failure is not None and (failure.kind, failure.position) == ("reordered", 5)


def test_linker_continues_from_a_stored_head() -> None:
    first = make_chain(3)
    linker = Linker(first[-1].hash)
    f = fields(3)
    prev, h = linker.link(**f)
    assert verify([*first, ChainEvent(id=4, prev_hash=prev, hash=h, **f)]).ok


def test_verify_reads_events_from_database_shaped_values() -> None:
    """What a DB gives back (naive datetimes, text times, JSON numbers as floats) verifies."""
    events = make_chain(4)
    stored = [
        dataclasses.replace(events[0], time=chain_time(events[0].time).replace(tzinfo=None)),
        dataclasses.replace(events[1], time=canonical_time(events[1].time).replace("T", " ").rstrip("Z")),
        events[2],
        dataclasses.replace(events[3], before={"primary": "jdoe"}),
    ]
    assert verify(stored).ok


def test_verify_streams_without_holding_events() -> None:
    """Each event is released once the verifier moves past it (checked with weak
    references), so memory does not grow with the trail beyond 8 bytes per event."""
    n = 20_000
    refs: list[weakref.ref[ChainEvent]] = []

    def watched() -> Iterator[ChainEvent]:
        for k, event in enumerate(stream(n)):
            if k >= 2:
                assert refs[k - 2]() is None, f"event {k - 2} is still held"
            refs.append(weakref.ref(event))
            yield event

    result = verify(watched())
    assert result.ok and result.count == n and len(refs) == n


# Verifying a million events (time and memory) is bench/bench_audit_verify.py.


# ---------------------------------------------------------------------------- property


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 25), data=st.data())
def test_any_single_edit_removal_or_swap_is_detected(n: int, data: st.DataObject) -> None:
    events = make_chain(n)
    op = data.draw(st.sampled_from(["edit", "remove", "swap"]))
    if op == "edit":
        i = data.draw(st.integers(0, n - 1))
        name = data.draw(
            st.sampled_from(
                [
                    "time",
                    "actor",
                    "signer",
                    "plan_id",
                    "action_type",
                    "target",
                    "before",
                    "after",
                    "prev_hash",
                ]
            )
        )
        new: dict[str, Any] = {
            "time": T0 - dt.timedelta(days=1),
            "actor": "owner",
            "signer": "mallory",
            "plan_id": "p-forged",
            "action_type": "client.delete",
            "target": "C-0",
            "before": {"x": 1},
            "after": {"x": 2},
            "prev_hash": "sha256:" + "f" * 64,
        }
        events[i] = dataclasses.replace(events[i], **{name: new[name]})
        expected = ("edited", events[i].id)
    elif op == "remove":
        i = data.draw(st.integers(0, n - 2))  # removing the last event leaves a valid, shorter chain
        del events[i]
        expected = ("removed", events[i].id)
    else:
        i = data.draw(st.integers(0, n - 2))
        j = data.draw(st.integers(i + 1, n - 1))
        events[i], events[j] = events[j], events[i]
        expected = ("reordered", events[i].id)
    result = verify(events)
    assert result.failure is not None
    assert (result.failure.kind, result.failure.event_id) == expected
    assert result.count == result.failure.position


def test_event_from_a_database_row_mapping() -> None:
    e = make_chain(1)[0]
    row = {
        "id": 1,
        "at": chain_time(e.time).replace(tzinfo=None),
        "actor": e.actor,
        "plan_id": e.plan_id,
        "type": e.action_type,
        "target": e.target,
        "before": e.before,
        "after": e.after,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "reason": "not hashed",
    }
    assert verify([ChainEvent.from_mapping(row)]).ok


def test_result_json() -> None:
    events = make_chain(3)
    assert verify(events).to_json() == {
        "ok": True,
        "count": 3,
        "head": events[-1].hash,
        "failure": None,
    }
    del events[1]
    out = verify(events).to_json()
    failure = out["failure"]
    assert out["ok"] is False and out["count"] == 1 and isinstance(failure, dict)
    assert failure["kind"] == "removed" and failure["event_id"] == 3 and failure["position"] == 1
    assert failure["message"].startswith("audit event 3: removed")
