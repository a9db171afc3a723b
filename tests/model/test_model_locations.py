"""``DesiredState.where``: the file:line of a key, else of its entity, else the entity's name."""

from __future__ import annotations

import pytest

from reconciler.errors import Location
from reconciler.model.desired import DesiredState

ENTRY = Location(file="staff.yaml", line=4, field="staff[0]")
FIELD = Location(file="staff.yaml", line=5, field="staff[0].successor")
DOTTED = Location(file="staff.yaml", line=9, field="staff[1]")
STATE = DesiredState(
    locations={"staff:bsmith": ENTRY, "staff:bsmith.successor": FIELD, "staff:b.smith": DOTTED, "practice": ENTRY}
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("staff:bsmith.successor", FIELD),
        ("staff:bsmith", ENTRY),
        ("staff:bsmith.deactivate_on", ENTRY),
        ("staff:b.smith", DOTTED),
        ("staff:b.smith.successor", DOTTED),
        ("staff:jdoe.successor", Location(entity="staff jdoe")),
        ("staff:jdoe", Location(entity="staff jdoe")),
        ("client:C-1.primary", Location(entity="client C-1")),
        ("policy:custom.export", Location(entity="policy custom")),
        ("practice.owner", ENTRY),
    ],
    ids=[
        "the field itself",
        "the entity",
        "an unwritten field: its entry",
        "a dotted id",
        "a dotted id's unwritten field: its entry",
        "unlocated field: the entity named",
        "unlocated entity: named",
        "unlocated client",
        "unlocated policy",
        "practice field: the practice",
    ],
)
def test_where_falls_back_to_the_entry_then_to_the_entity_name(key: str, expected: Location) -> None:
    assert STATE.where(key) == expected
