"""The database fingerprint (SPEC §5 ``db_fingerprint``): canonical rows, sha256 over compact UTF-8 JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

from reconciler.model.actual import ActualState, Practice, Staff, canonical_row

UTC = dt.timezone.utc


def _row_type() -> type:
    """A row type never digested before (a new class per call): the field-name cache starts empty for it."""

    @dataclasses.dataclass(frozen=True)
    class Row:
        zeta: Any
        alpha: Any
        mid: Any = None

    return Row


def test_a_row_is_a_dict_of_json_values_with_sorted_keys() -> None:
    _Row = _row_type()
    row = _Row(
        zeta=dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        alpha=[dt.date(2026, 12, 1), ("x", 2), {"b": 1, "a": dt.date(2027, 1, 1)}],
        mid={3: "three", 1: None},
    )
    out = canonical_row(row)
    assert out == {
        "alpha": ["2026-12-01", ["x", 2], {"a": "2027-01-01", "b": 1}],
        "mid": {"1": None, "3": "three"},
        "zeta": "2026-11-24T15:00:00Z",
    }
    assert list(out) == ["alpha", "mid", "zeta"] and list(out["alpha"][2]) == ["a", "b"]
    assert canonical_row(_Row(zeta=1.5, alpha=True)) == {"alpha": True, "mid": None, "zeta": 1.5}
    assert canonical_row(_row_type()(zeta=None, alpha="a")) == {"alpha": "a", "mid": None, "zeta": None}


def _state(practice: Practice | None, name: str = "Ana Lee") -> ActualState:
    staff = {"alee": Staff(id="alee", name=name, role="owner", access="entire_practice")}
    return ActualState(practice=practice, staff=staff, clients={}, appointments={}, series={}, caseloads={"alee": 2})


def test_the_fingerprint_is_sha256_of_the_compact_utf8_json_of_the_rows() -> None:
    state = _state(Practice(name="Zoë's Praxis", timezone="Europe/Berlin"), name="Zoë Ünal")
    doc = {
        "practice": canonical_row(state.practice),
        "staff": [canonical_row(state.staff["alee"])],
        "clients": [],
        "appointments": [],
        "series": [],
        "caseloads": {"alee": 2},
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert state.fingerprint() == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_a_state_without_a_practice_row_has_a_fingerprint_of_its_own() -> None:
    without = _state(None)
    raw = json.dumps(
        {
            "practice": None,
            "staff": [canonical_row(without.staff["alee"])],
            "clients": [],
            "appointments": [],
            "series": [],
            "caseloads": {"alee": 2},
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert without.fingerprint() == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert without.fingerprint() != _state(Practice(name="P", timezone="UTC")).fingerprint()
