"""The conformance world: one small practice every target is seeded with, the instant
the scenarios run at, and the client names that must never appear in any output."""

from __future__ import annotations

import datetime as dt

#: The scenarios' "now": Wednesday 2 December 2026, 10:00 in New York.
NOW = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone.utc)
AT = "2026-12-02T15:00:00Z"
TODAY = dt.date(2026, 12, 2)

#: Client names (PHI): no plan, rendering, audit event, status line or log may hold one.
PHI = (
    "Zebulon",
    "Vanterpool",
    "Quintessa",
    "Oyelaran",
    "Marisol",
    "Brightwater",
    "Thaddeus",
    "Fenwick",
    "Octavia",
    "Castellanos",
    "Leopold",
    "Pemberton",
    "Ignatia",
    "Whitlock",
)

# Appointment and series ids are numbers, so every target (OpenEMR's pc_eid included)
# names the same sessions alike. Series occurrences are not listed as appointments
# (OpenEMR computes them from the recurring row), and every series has an end.
WORLD = """\
practice: {name: Conformance Counseling, timezone: America/New_York, owner: alee, clinical_director: mkhan}
staff:
- {id: alee, name: Ana Lee, role: owner, access: entire_practice, active: true}
- {id: mkhan, name: Mo Khan, role: clinical_director, access: entire_practice, active: true}
- {id: bsmith, name: Beth Smith, role: clinician, access: assigned_clients, active: true}
- {id: cdavis, name: Cara Davis, role: clinician, access: assigned_clients, active: true}
- {id: jdoe, name: Jon Doe, role: clinician, access: assigned_clients, active: true}
- {id: egarcia, name: Eli Garcia, role: clinician, access: assigned_clients, active: true}
- {id: tnguyen, name: Tam Nguyen, role: clinician, access: assigned_clients, active: false}
clients:
- {id: C-1001, first_name: Zebulon, last_name: Vanterpool, status: active, primary: bsmith, balance_cents: 0, portal_access: true}
- {id: C-1002, first_name: Quintessa, last_name: Oyelaran, status: active, primary: bsmith, balance_cents: 12000, portal_access: true}
- {id: C-1003, first_name: Marisol, last_name: Brightwater, status: active, primary: bsmith, balance_cents: 0, portal_access: false}
- {id: C-1004, first_name: Thaddeus, last_name: Fenwick, status: active, primary: cdavis, balance_cents: 0, portal_access: true}
- {id: C-1005, first_name: Octavia, last_name: Castellanos, status: active, primary: jdoe, balance_cents: 0, portal_access: true}
- {id: C-1006, first_name: Leopold, last_name: Pemberton, status: active, primary: egarcia, balance_cents: 0, portal_access: false}
- {id: C-1007, first_name: Ignatia, last_name: Whitlock, status: inactive, balance_cents: 0, portal_access: false}
series:
- {id: '1', client: C-1001, staff: bsmith, rrule: FREQ=WEEKLY;BYDAY=MO, start: '2026-11-02T09:00:00-05:00', duration_minutes: 50, until: '2027-03-30T00:00:00-04:00'}
- {id: '2', client: C-1004, staff: cdavis, rrule: FREQ=WEEKLY;BYDAY=TH, start: '2026-11-05T14:00:00-05:00', duration_minutes: 50, until: '2027-03-30T00:00:00-04:00'}
appointments:
- {id: '11', client: C-1001, staff: bsmith, start: '2026-12-07T10:00:00-05:00', end: '2026-12-07T10:50:00-05:00', status: scheduled}
- {id: '12', client: C-1003, staff: bsmith, start: '2026-11-30T10:00:00-05:00', end: '2026-11-30T10:50:00-05:00', status: completed}
- {id: '13', client: C-1002, staff: bsmith, start: '2026-12-02T11:00:00-05:00', end: '2026-12-02T11:50:00-05:00', status: scheduled}
- {id: '14', client: C-1002, staff: bsmith, start: '2026-12-21T10:00:00-05:00', end: '2026-12-21T10:50:00-05:00', status: scheduled}
- {id: '15', client: C-1004, staff: cdavis, start: '2026-12-09T10:00:00-05:00', end: '2026-12-09T10:50:00-05:00', status: scheduled}
- {id: '16', client: C-1005, staff: jdoe, start: '2026-12-08T10:00:00-05:00', end: '2026-12-08T10:50:00-05:00', status: scheduled}
- {id: '17', client: C-1003, staff: bsmith, start: '2026-12-02T09:00:00-05:00', end: '2026-12-02T09:50:00-05:00', status: scheduled}
"""

#: The config that describes WORLD as it is (its plan is empty); scenarios edit it.
STAFF_LINES = {
    "alee": "  - {id: alee, name: Ana Lee, role: owner, access: entire_practice}",
    "mkhan": "  - {id: mkhan, name: Mo Khan, role: clinical_director, access: entire_practice}",
    "bsmith": "  - {id: bsmith, name: Beth Smith, role: clinician}",
    "cdavis": "  - {id: cdavis, name: Cara Davis, role: clinician}",
    "jdoe": "  - {id: jdoe, name: Jon Doe, role: clinician}",
    "egarcia": "  - {id: egarcia, name: Eli Garcia, role: clinician}",
    "tnguyen": "  - {id: tnguyen, name: Tam Nguyen, role: clinician, active: false}",
}


def config(staff: dict[str, str] | None = None, clients: str = "", policies: str = "") -> str:
    """The config text: WORLD's staff with ``staff`` lines replacing theirs by id, plus
    optional ``clients:`` entries and ``policies:``."""
    lines = dict(STAFF_LINES)
    lines.update(staff or {})
    out = [
        "version: 1",
        "practice: {timezone: America/New_York, owner: alee, clinical_director: mkhan}",
        "staff:",
        *lines.values(),
    ]
    if clients:
        out += ["clients:", clients.rstrip("\n")]
    if policies:
        out += ["policies:", policies.rstrip("\n")]
    return "\n".join(out) + "\n"
