"""What a target's author provides so the conformance suite can drive the target: the
:class:`Harness` protocol and the target-neutral :class:`Facts` it reads back.

A harness knows how to make an empty practice database for its target, put a world
(a SPEC §1 snapshot) into it the way the target's own system would hold it, let "the
practice's own application" book a session behind the reconciler's back, and read the
facts the scenarios check *without* going through the target's reader (so a reader bug
cannot hide a writer bug). Everything else — planning, applying, the audit trail,
locking — the scenarios do through the ``reconciler`` CLI with ``--target``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class ClientFact:
    """A client as the practice system holds it."""

    status: str  # active | inactive | deleted
    primary: str | None  # a staff id, None = unassigned
    portal_access: bool


@dataclass(frozen=True)
class AppointmentFact:
    """A single (non-recurring) appointment row."""

    status: str  # scheduled | cancelled | completed | no_show
    staff: str


@dataclass(frozen=True)
class SeriesFact:
    """A recurring series row: who holds it, and its last day (practice-local, inclusive;
    None = open-ended). Ids are left out on purpose: a target may split a row when it
    transfers the future part (OpenEMR does), so the suite compares holders, not rows."""

    client: str
    staff: str
    last_day: dt.date | None


@dataclass(frozen=True)
class Facts:
    """Everything the scenarios check, read straight from the target's storage."""

    staff: dict[str, bool] = field(default_factory=dict)  # id -> active
    clients: dict[str, ClientFact] = field(default_factory=dict)
    appointments: dict[str, AppointmentFact] = field(default_factory=dict)
    series: tuple[SeriesFact, ...] = ()

    def current_series(self, today: dt.date) -> list[tuple[str, str, dt.date | None]]:
        """(client, staff, last day) of the series with a session after ``today``, sorted."""
        return sorted(
            ((s.client, s.staff, s.last_day) for s in self.series if s.last_day is None or s.last_day > today),
            key=lambda t: (t[0], t[1], t[2] or dt.date.max),
        )


class Harness(Protocol):
    """One target on one backend, as the conformance suite drives it."""

    #: A short label for test ids and messages, e.g. ``native/sqlite``.
    name: str
    #: The ``--target`` name the CLI is run with.
    target: str

    def new_database(self) -> str:
        """A fresh, empty practice database with the target's schema in place (what
        ``reconciler --target T db init`` leaves, on a system holding no practice yet);
        returns its URL for ``--db``."""

    def seed(self, url: str, snapshot: Path) -> None:
        """Put the world in ``snapshot`` (SPEC §1 format) into the database the way the
        target's system holds it. Numeric appointment and series ids must be kept as the
        target's ids (so plans name the same sessions on every target)."""

    def book(self, url: str, *, client: str, staff: str, start: dt.datetime, minutes: int) -> str:
        """The practice's own application books a single session (outside the
        reconciler); returns the new appointment's id."""

    def facts(self, url: str) -> Facts:
        """The target-neutral facts, read directly from storage."""

    def schema_fingerprint(self, url: str) -> str:
        """A digest of the definitions of tables the reconciler must never alter (for
        OpenEMR: ``SHOW CREATE TABLE`` of OpenEMR's own tables); "" when there are none."""
