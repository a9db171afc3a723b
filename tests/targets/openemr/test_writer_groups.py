"""Writer runs (``write.writer_groups``): client actions of any type form one run, so an
offboarding's interleaved inactivations and reassignments take one statement per set of
equal changes; a client named again starts a new run; other types still run by type."""

from __future__ import annotations

from reconciler.model.actions import Action
from reconciler.model.actions import ActionType as T
from reconciler.targets.openemr.write import writer_groups


def _a(i: int, kind: T, target: str) -> Action:
    return Action(id=i, type=kind, target=target, staff=None, changes={}, reason="")


def _shape(groups: list[list[Action]]) -> list[list[int]]:
    return [[a.id for a in g] for g in groups]


def test_client_types_share_a_run_until_a_client_repeats() -> None:
    actions = [
        _a(1, T.APPOINTMENT_CANCEL, "10"),
        _a(2, T.APPOINTMENT_CANCEL, "11"),
        _a(3, T.CLIENT_INACTIVATE, "C-1"),
        _a(4, T.CLIENT_REASSIGN, "C-2"),
        _a(5, T.CLIENT_INACTIVATE, "C-3"),
        _a(6, T.CLIENT_REASSIGN, "C-1"),  # C-1 again: a new run sees the first write
        _a(7, T.CLIENT_MARK_DUPLICATE, "C-4"),
        _a(8, T.STAFF_DEACTIVATE, "c00002"),
        _a(9, T.SERIES_END, "5"),
        _a(10, T.SERIES_TRANSFER, "6"),
    ]
    assert _shape(writer_groups(actions)) == [[1, 2], [3, 4, 5], [6, 7], [8], [9], [10]]
