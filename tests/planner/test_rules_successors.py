"""SPEC §3.3 successors: declared, active on the date, not leaving earlier; chains resolve
to the final active successor; a cycle is an error (pure, on the resolver itself)."""

from __future__ import annotations

import datetime as dt

import pytest

from reconciler.planner.successors import SuccessorError, active_on, find_cycles, resolve

D = dt.date
ON = D(2026, 12, 10)


@pytest.mark.parametrize(
    "leaves,sid,expected",
    [
        ({"a": None}, "a", True),
        ({"a": D(2026, 12, 11)}, "a", True),  # leaves after the day
        ({"a": D(2026, 12, 10)}, "a", False),  # inactive from 00:00 on its first inactive day
        ({"a": D(2026, 12, 1)}, "a", False),
        ({}, "a", False),  # unknown: never active
        ({"b": None}, "a", False),
    ],
    ids=["stays", "leaves later", "leaves that day", "left earlier", "unknown", "unknown among others"],
)
def test_active_on_the_day(leaves: dict[str, dt.date | None], sid: str, expected: bool) -> None:
    assert active_on(leaves, sid, ON) is expected


SUCC = {"a": "b", "b": "c", "c": None, "x": "y"}


@pytest.mark.parametrize(
    "leaves,permanent,expected",
    [
        ({"a": ON, "b": None, "c": None}, False, "b"),
        ({"a": ON, "b": D(2026, 12, 5), "c": None}, False, "c"),  # b gone by then: chain to c
        ({"a": ON, "b": D(2026, 12, 20), "c": None}, False, "b"),  # b still active that day
        ({"a": ON, "b": D(2026, 12, 20), "c": None}, True, "c"),  # open-ended: to who stays
        ({"a": ON, "b": D(2026, 12, 20), "c": D(2027, 1, 5)}, True, "c"),  # end of the chain, active that day
    ],
    ids=[
        "direct",
        "chain past an inactive successor",
        "leaving later is fine for a date",
        "open-ended walks past a later leaver",
        "open-ended stops at the last active",
    ],
)
def test_resolve_follows_the_chain(leaves: dict[str, dt.date | None], permanent: bool, expected: str) -> None:
    assert resolve("a", SUCC, leaves, ON, prefer_permanent=permanent) == expected


def test_resolve_is_for_a_date_unless_asked_for_someone_who_stays() -> None:
    leaves = {"a": ON, "b": D(2026, 12, 20), "c": None}
    assert resolve("a", SUCC, leaves, ON) == "b"


@pytest.mark.parametrize(
    "start,succ,leaves,message",
    [
        ("a", {"a": None}, {"a": ON}, "a has no successor"),
        ("a", {}, {"a": ON}, "a has no successor"),
        ("a", {"a": "zed"}, {"a": ON}, "successor zed of a is not a known professional"),
        ("a", {"a": "b", "b": "zed"}, {"a": ON, "b": ON}, "successor zed of b is not a known professional"),
        (
            "a",
            {"a": "b", "b": None},
            {"a": ON, "b": D(2026, 12, 5)},
            "successor chain a -> b ends at b, who is not active on 2026-12-10",
        ),
        ("a", {"a": "b", "b": "a"}, {"a": ON, "b": ON}, "successor cycle: a -> b -> a"),
        ("a", {"a": "b", "b": "c", "c": "b"}, {"a": ON, "b": ON, "c": ON}, "successor cycle: a -> b -> c -> b"),
    ],
    ids=[
        "no successor",
        "not declared",
        "unknown successor",
        "unknown further down",
        "chain ends inactive",
        "cycle",
        "cycle further down",
    ],
)
def test_resolve_errors_name_the_chain(
    start: str, succ: dict[str, str | None], leaves: dict[str, dt.date | None], message: str
) -> None:
    with pytest.raises(SuccessorError) as exc:
        resolve(start, succ, leaves, ON)
    assert str(exc.value) == message


def test_open_ended_chain_ending_with_someone_leaving_before_the_date_is_an_error() -> None:
    with pytest.raises(
        SuccessorError, match="^successor chain a -> b -> c ends at c, who is not active on 2026-12-10$"
    ):
        resolve("a", SUCC, {"a": ON, "b": D(2026, 12, 20), "c": D(2026, 12, 8)}, ON, prefer_permanent=True)


@pytest.mark.parametrize(
    "succ,cycles",
    [
        ({"a": "b", "b": None}, []),
        ({"a": "a"}, [["a"]]),
        ({"b": "a", "a": "b"}, [["a", "b"]]),
        ({"c": "a", "a": "b", "b": "c", "x": "a"}, [["a", "b", "c"]]),  # rotated to its smallest id, reported once
        ({"b": "c", "c": "b", "y": "z", "z": "y"}, [["b", "c"], ["y", "z"]]),
        ({"a": "b", "b": "zed"}, []),  # ends at an id nobody maps
    ],
    ids=["none", "self", "pair", "rotated once", "two sorted", "open end"],
)
def test_find_cycles(succ: dict[str, str | None], cycles: list[list[str]]) -> None:
    assert find_cycles(succ) == cycles


@pytest.mark.parametrize(
    "start,succ,leaves,kind,chain",
    [
        ("a", {"a": None}, {"a": ON}, "none", ["a"]),
        ("a", {"a": "b", "b": "zed"}, {"a": ON, "b": ON}, "unknown", ["a", "b", "zed"]),
        ("a", {"a": "b", "b": None}, {"a": ON, "b": D(2026, 12, 5)}, "ends", ["a", "b"]),
        ("a", {"a": "b", "b": "c", "c": "b"}, {"a": ON, "b": ON, "c": ON}, "cycle", ["a", "b", "c", "b"]),
    ],
    ids=["no successor", "unknown", "ends inactive", "cycle"],
)
def test_resolve_errors_say_what_broke_the_chain_and_where(
    start: str, succ: dict[str, str | None], leaves: dict[str, dt.date | None], kind: str, chain: list[str]
) -> None:
    with pytest.raises(SuccessorError) as exc:
        resolve(start, succ, leaves, ON)
    assert (exc.value.kind, exc.value.chain) == (kind, chain)
