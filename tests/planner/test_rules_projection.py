"""The planner's projection (Ctx.clients, Ctx.series, Ctx.series_deps) is the database as it
will be after the actions planned so far: later rules and the invariants read it, so it must
agree with what the actions do. Checked after whole plans, over a table of scenarios (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, appt, client, series, t, world, world_desired

import reconciler.planner as planner
from reconciler.model.actions import Action, ActionType
from reconciler.model.actual import ActualState, Client, Series
from reconciler.model.desired import DesiredState
from reconciler.planner.context import Ctx

_TIMES = {"deleted_at", "until", "start"}


def _value(field: str, v: Any) -> Any:
    return t(v) if field in _TIMES and isinstance(v, str) else v


def _apply(row: Any, a: Action) -> Any:
    """``row`` after ``a``: every change that names a field of the row sets it."""
    names = {f.name for f in dataclasses.fields(row)}
    return dataclasses.replace(row, **{k: _value(k, new) for k, (_old, new) in a.changes.items() if k in names})


def _expected(actual: ActualState, actions: tuple[Action, ...]) -> tuple[dict[str, Client], dict[str, Series]]:
    clients, rows = dict(actual.clients), dict(actual.series)
    for a in actions:
        if a.type.entity == "client" and a.type is not ActionType.CLIENT_PURGE:
            clients[a.target] = _apply(clients[a.target], a)
        elif a.type.entity == "series":
            before = rows[a.target]
            rows[a.target] = _apply(before, a)
            if a.type is ActionType.SERIES_SPLIT:
                c = a.changes
                rows[c["successor_series"][1]] = dataclasses.replace(
                    before, id=c["successor_series"][1], staff=c["successor_staff"][1], start=t(c["successor_start"][1])
                )
    return clients, rows


def _planned(d: DesiredState, a: ActualState, at: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> tuple[Ctx, Any]:
    seen: list[Ctx] = []

    class Recording(Ctx):
        def __post_init__(self) -> None:
            super().__post_init__()
            seen.append(self)

    monkeypatch.setattr(planner, "Ctx", Recording)
    p = planner.plan(d, a, at, allow_mass_change=True)
    (ctx,) = seen
    return ctx, p


LEAVE = {"bsmith": {"active": False}}
HANDOVER = {"bsmith": {"active": False, "successor": "jdoe", "offboarding": "handover"}}
LATER = {"bsmith": {"deactivate_on": dt.date(2026, 12, 15), "successor": "jdoe", "offboarding": "handover"}}
PORTAL = world(
    extra_clients=[
        client("C-5", "bsmith", portal_access=True),
        client("C-6", "jdoe", portal_access=True),
        client("C-7", "jdoe", portal_access=True),
        client("C-8", None, status="inactive", portal_access=True),
        client("C-9", "tnguyen", portal_access=True),
        client("C-D", None, status="deleted", deleted_at=t("2026-09-01T00:00:00Z")),
    ],
    extra_appts=[appt("A-9", "C-6", "jdoe", "2026-12-09T15:00:00Z")],
    extra_series=[
        series("S-6", "C-6", "cdavis", until=t("2027-02-01T14:00:00Z")),
        series("S-9", "C-9", "tnguyen"),
        series("S-5", "C-6", "jdoe", until=t("2026-11-20T00:00:00Z")),  # active, but its until has passed
        series("S-F", "C-5", "bsmith", start="2026-12-21T14:00:00Z"),  # starts after the leave dates below
    ],
)
SCENARIOS: list[tuple[str, DesiredState, ActualState]] = [
    ("leaver now, standard policy", world_desired(LEAVE), PORTAL),
    ("leaver now, handover", world_desired(HANDOVER), PORTAL),
    ("leaver later, handover split", world_desired(LATER), PORTAL),
    ("leaver later, cancel policy", world_desired({"bsmith": {"deactivate_on": dt.date(2026, 12, 15)}}), PORTAL),
    (
        "client entries",
        world_desired(
            clients=[
                {"id": "C-5", "status": "deleted"},
                {"id": "C-6", "duplicate_of": "C-3", "future_sessions": "cancel"},
                {"id": "C-7", "status": "inactive"},
                {"id": "C-8", "status": "active", "primary": "cdavis"},
                {"id": "C-4", "primary": "cdavis"},
            ]
        ),
        PORTAL,
    ),
    (
        "a leaver's client entries, cancel",
        world_desired(
            LEAVE,
            clients=[
                {"id": "C-5", "status": "deleted", "future_sessions": "cancel"},
                {"id": "C-1", "status": "inactive"},
            ],
            client_future_sessions="cancel",
        ),
        PORTAL,
    ),
    ("drift leftovers", world_desired(clients=[{"id": "C-9", "status": "inactive"}]), PORTAL),
]


@pytest.mark.parametrize("d,a", [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_the_projection_is_the_database_after_the_plans_actions(
    d: DesiredState, a: ActualState, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, p = _planned(d, a, AT, monkeypatch)
    assert p.actions, "a scenario that plans nothing checks nothing"
    clients, rows = _expected(a, p.actions)
    assert ctx.clients == clients
    assert ctx.series == rows
    last = {x.target: x.id for x in p.actions if x.type.entity == "series"}
    assert ctx.series_deps == last
