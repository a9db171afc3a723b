"""SPEC §3.1 step 3 (a leaver's clients) and §3.5 client entries: each rule pinned (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, by_target, client, located, one, practice, steps, t, world, world_desired

from reconciler.errors import ValidationFailed
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None) -> Plan:
    return plan(d, a if a is not None else world(), AT, allow_mass_change=True)


def problems(d: DesiredState, a: ActualState | None = None) -> list[str]:
    with pytest.raises(ValidationFailed) as exc:
        P(d, a)
    return [p.message for p in exc.value.problems]


LEAVE = {"bsmith": {"active": False}}


# ---------------------------------------------------------------- balance > 0 goes to clients_with_balance
@pytest.mark.parametrize(
    "cents,expected",
    [
        (1, ("client.reassign", {"primary": ("bsmith", "mkhan")})),
        (0, ("client.inactivate", {"status": ("active", "inactive"), "primary": ("bsmith", None)})),
        (
            -250,
            ("client.inactivate", {"status": ("active", "inactive"), "primary": ("bsmith", None)}),
        ),  # a credit is no balance
    ],
    ids=["one cent", "zero", "credit"],
)
def test_a_client_with_a_balance_above_zero_goes_to_clients_with_balance(
    cents: int, expected: tuple[str, dict[str, Any]]
) -> None:
    p = P(world_desired(LEAVE), world(extra_clients=[client("C-B", "bsmith", balance_cents=cents)]))
    (action,) = by_target(p, "C-B")
    assert (action.type.value, dict(action.changes)) == expected
    assert action.staff == "bsmith" and not action.drift


def test_balance_reason_names_the_target_and_the_policy_value() -> None:
    p = P(world_desired(LEAVE))
    assert one(p, "client.reassign", "C-2").reason == (
        "bsmith offboarding (policy standard): client with an outstanding balance reassigned to mkhan "
        "(clients_with_balance: clinical_director)"
    )
    assert (
        one(p, "client.inactivate", "C-1").reason
        == "bsmith offboarding (policy standard): client inactivated (other_clients: inactivate)"
    )


def _custom(target: str, **staff_over: Any) -> DesiredState:
    return world_desired(
        {"bsmith": {"active": False, "offboarding": "custom", "successor": "jdoe"}, **staff_over},
        policies=[{"name": "custom", "clients_with_balance": target}],
    )


BALANCE_TARGET_CASES: list[tuple[str, DesiredState, str]] = [
    ("named professional who stays", _custom("cdavis"), "cdavis"),
    (
        "named professional leaving later: still them today",
        _custom("cdavis", cdavis={"deactivate_on": dt.date(2026, 12, 20)}),
        "cdavis",
    ),
    ("successor", _custom("successor"), "jdoe"),
    (
        "successor leaving later with their own: the final one",
        _custom("successor", jdoe={"deactivate_on": dt.date(2026, 12, 20), "successor": "cdavis"}),
        "cdavis",
    ),
]


@pytest.mark.parametrize("d,target", [c[1:] for c in BALANCE_TARGET_CASES], ids=[c[0] for c in BALANCE_TARGET_CASES])
def test_balance_target_is_whoever_is_active_today(d: DesiredState, target: str) -> None:
    p = P(d)
    assert dict(one(p, "client.reassign", "C-2").changes) == {"primary": ("bsmith", target)}


def test_balance_target_only_in_the_database_is_known() -> None:
    # An unmanaged but active professional named by a policy receives the balance client.
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "custom"}},
        omit=["cdavis"],
        policies=[{"name": "custom", "clients_with_balance": "cdavis"}],
    )
    assert dict(one(P(d), "client.reassign", "C-2").changes) == {"primary": ("bsmith", "cdavis")}


_NOT_ACTIVE_POLICY = "clients_with_balance must be owner, clinical_director, successor or an active staff id: "
_C2_LEFT = ("inactive", "client C-2", "client C-2 is assigned to bsmith, who is inactive on 2026-11-24")
BALANCE_TARGET_PROBLEMS: list[tuple[str, DesiredState, list[tuple[str, str, str]]]] = [
    (
        "named professional unknown",
        _custom("ghost"),
        [
            ("unknown_staff", "policy custom", _NOT_ACTIVE_POLICY + "'ghost' is not a declared staff member"),
            ("reference", "staff.yaml:34: staff[2].offboarding", "staff bsmith: ghost is not a known professional"),
            _C2_LEFT,
        ],
    ),
    (
        "named professional inactive, no successor",
        _custom("tnguyen", tnguyen={"active": False}),
        [
            ("unknown_staff", "policy custom", _NOT_ACTIVE_POLICY + "tnguyen is inactive (staff.yaml:61)"),
            (
                "successor",
                "staff.yaml:34: staff[2].offboarding",
                "staff bsmith: tnguyen is not active on 2026-11-24 and names no successor",
            ),
            _C2_LEFT,
        ],
    ),
    (
        "named professional inactive with a successor: the successor takes it (only the policy is wrong)",
        _custom("tnguyen", tnguyen={"active": False, "successor": "cdavis"}),
        [("unknown_staff", "policy custom", _NOT_ACTIVE_POLICY + "tnguyen is inactive (staff.yaml:61)")],
    ),
    (
        "named professional inactive, successor leaving later: still them today",
        _custom(
            "tnguyen", tnguyen={"active": False, "successor": "cdavis"}, cdavis={"deactivate_on": dt.date(2026, 12, 20)}
        ),
        [("unknown_staff", "policy custom", _NOT_ACTIVE_POLICY + "tnguyen is inactive (staff.yaml:61)")],
    ),
    (
        "owner leaving, no successor",
        _custom("owner", alee={"active": False}),
        [
            (
                "practice_role",
                "staff.yaml:11: staff[0].active",
                "alee is the practice owner (practice.owner); name another owner before deactivating alee",
            ),
            (
                "successor",
                "staff.yaml:34: staff[2].offboarding",
                "staff bsmith: alee is not active on 2026-11-24 and names no successor",
            ),
            _C2_LEFT,
        ],
    ),
]


@pytest.mark.parametrize(
    "d,expected", [c[1:] for c in BALANCE_TARGET_PROBLEMS], ids=[c[0] for c in BALANCE_TARGET_PROBLEMS]
)
def test_a_balance_target_who_cannot_take_the_client_is_reported_at_the_leavers_policy(
    d: DesiredState, expected: list[tuple[str, str, str]]
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        P(located(d))
    assert [(p.code, str(p.location), p.message) for p in exc.value.problems] == expected


@pytest.mark.parametrize("kind", ["owner", "clinical_director"])
def test_balance_to_a_role_the_practice_does_not_name_is_an_error(kind: str) -> None:
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "custom"}},
        policies=[{"name": "custom", "clients_with_balance": kind}],
        owner=None,
        clinical_director=None,
    )
    a = world(practice_row=practice(owner=None, clinical_director=None))
    with pytest.raises(ValidationFailed) as exc:
        P(located(d), a)
    assert [(p.code, str(p.location), p.message) for p in exc.value.problems] == [
        (
            "reference",
            "staff.yaml:34: staff[2].offboarding",
            f"staff bsmith: policy custom sends balances to the {kind}, but the practice names none",
        ),
        ("inactive", "client C-2", "client C-2 is assigned to bsmith, who is inactive on 2026-11-24"),
    ]


@pytest.mark.parametrize("kind,who", [("owner", "alee"), ("clinical_director", "mkhan")])
def test_balance_to_a_role_named_only_in_the_database(kind: str, who: str) -> None:
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "custom"}},
        policies=[{"name": "custom", "clients_with_balance": kind}],
        owner=None,
        clinical_director=None,
    )
    assert dict(one(P(d), "client.reassign", "C-2").changes) == {"primary": ("bsmith", who)}


def test_other_clients_transfer_without_a_resolvable_successor_plans_no_reassignment() -> None:
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "custom", "successor": "cdavis"}, "cdavis": {"active": False}},
        policies=[{"name": "custom", "other_clients": "transfer", "clients_with_balance": "successor"}],
    )
    msgs = problems(d)
    assert "staff bsmith: successor chain bsmith -> cdavis ends at cdavis, who is not active on 2026-11-24" in msgs


# ---------------------------------------------------------------- duplicate_of
DUP_CASES: list[tuple[str, Any, list[tuple[str, str]], dict[str, Any]]] = [
    (
        "active client",
        client("C-D", "jdoe", portal_access=True),
        [("client.mark_duplicate", "C-D")],
        {
            "status": ("active", "inactive"),
            "duplicate_of": (None, "C-3"),
            "primary": ("jdoe", None),
            "portal_access": (True, False),
        },
    ),
    (
        "already inactive, not linked: only the link",
        client("C-D", None, status="inactive"),
        [("client.mark_duplicate", "C-D")],
        {"duplicate_of": (None, "C-3")},
    ),
    (
        "linked to another: relinked",
        client("C-D", None, status="inactive", duplicate_of="C-4"),
        [("client.mark_duplicate", "C-D")],
        {"duplicate_of": ("C-4", "C-3")},
    ),
    ("already linked and inactive: nothing", client("C-D", None, status="inactive", duplicate_of="C-3"), [], {}),
    (
        "linked but active again: inactivated",
        client("C-D", "jdoe", duplicate_of="C-3"),
        [("client.mark_duplicate", "C-D")],
        {"status": ("active", "inactive"), "primary": ("jdoe", None)},
    ),
]


@pytest.mark.parametrize("row,expected_steps,changes", [c[1:] for c in DUP_CASES], ids=[c[0] for c in DUP_CASES])
def test_duplicate_of_marks_the_client_inactive_and_linked(
    row: Any, expected_steps: list[tuple[str, str]], changes: dict[str, Any]
) -> None:
    p = P(world_desired(clients=[{"id": "C-D", "duplicate_of": "C-3"}]), world(extra_clients=[row]))
    assert steps(p) == expected_steps
    if expected_steps:
        mark = p.actions[0]
        assert dict(mark.changes) == changes
        assert mark.staff == row.primary and not mark.drift
        assert mark.reason == "explicit clients: entry: duplicate of C-3 marked inactive (history kept)"


def test_already_linked_duplicate_whose_original_was_purged_plans_nothing() -> None:
    row = client("C-D", None, status="inactive", duplicate_of="C-GONE")
    p = P(world_desired(clients=[{"id": "C-D", "duplicate_of": "C-GONE"}]), world(extra_clients=[row]))
    assert p.actions == ()


@pytest.mark.parametrize(
    "original,message",
    [
        (
            client("C-O", None, status="deleted", deleted_at=t("2026-11-20T00:00:00Z")),
            "client C-D: duplicate_of C-O is deleted in the database; point to the record that stays",
        ),
        (
            client("C-O", None, status="inactive", duplicate_of="C-3"),
            "client C-D: duplicate_of C-O is itself a duplicate of C-3 in the database; point to the record that stays",
        ),
    ],
    ids=["deleted original", "original is a duplicate"],
)
def test_duplicate_must_point_to_the_record_that_stays(original: Any, message: str) -> None:
    msgs = problems(
        world_desired(clients=[{"id": "C-D", "duplicate_of": "C-O"}]),
        world(extra_clients=[client("C-D", "jdoe"), original]),
    )
    assert msgs == [message]


# ---------------------------------------------------------------- reactivation and reassignment
def test_reactivation_keeps_the_recorded_primary_when_none_is_declared() -> None:
    a = world(extra_clients=[client("C-R", "jdoe", status="inactive")])
    p = P(world_desired(clients=[{"id": "C-R", "status": "active"}]), a)
    react = one(p, "client.reactivate", "C-R")
    assert dict(react.changes) == {"status": ("inactive", "active")}
    assert (react.staff, react.reason) == ("jdoe", "explicit clients: entry: client reactivated with primary jdoe")


def test_a_client_of_a_leaver_with_an_entry_without_a_decision_follows_the_policy() -> None:
    # status: active with the primary leaving and a transfer policy: the policy's successor.
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"}},
        clients=[{"id": "C-1", "status": "active"}],
    )
    assert dict(one(P(d), "client.reassign", "C-1").changes) == {"primary": ("bsmith", "jdoe")}


def test_entry_naming_the_current_primary_of_an_active_client_plans_nothing() -> None:
    assert P(world_desired(clients=[{"id": "C-3", "primary": "jdoe"}])).actions == ()


def test_entry_for_a_client_whose_primary_already_left_keeps_the_invariant_error() -> None:
    a = world(extra_clients=[client("C-X", "tnguyen")])
    d = world_desired({"tnguyen": {"active": False}}, clients=[{"id": "C-X", "status": "active"}])
    msgs = problems(d, a)
    assert (
        "client C-X is declared active, but its primary tnguyen is leaving and policy standard would inactivate it: declare a primary"
        in msgs
    )


def test_deletion_export_is_grouped_under_the_clients_primary() -> None:
    p = P(world_desired(clients=[{"id": "C-3", "status": "deleted"}]))
    export, delete = p.actions
    assert (export.type.value, export.target, export.staff, export.drift) == ("export.write", "C-3", "jdoe", False)
    assert dict(export.changes) == {"format": (None, "fhir"), "file": (None, "client-C-3-20261124T150000Z.fhir.json")}
    assert export.reason == "explicit clients: entry: client records exported (fhir) before deletion"
    assert (delete.staff, delete.reason) == (
        "jdoe",
        "explicit clients: entry: client deleted (soft; needs --confirm-delete C-3)",
    )
    assert dict(delete.changes) == {
        "status": ("active", "deleted"),
        "deleted_at": (None, "2026-11-24T15:00:00Z"),
        "primary": ("jdoe", None),
    }
    assert p.warnings == (
        "client C-3 is deleted but keeps 1 scheduled session and 1 active series (A-J; S-2): cancel them or give them an explicit decision",
        "client C-3: deletion needs --confirm-delete C-3 and an actor who is the owner, a practice manager "
        "or has entire-practice access",
    )


def test_deleting_a_leavers_client_depends_on_the_leavers_sessions() -> None:
    p = P(world_desired(LEAVE, clients=[{"id": "C-2", "status": "deleted"}]))
    export, delete = one(p, "export.write", "C-2"), one(p, "client.delete", "C-2")
    cancel = one(p, "appointment.cancel", "A-3")
    assert export.depends_on == (cancel.id,) and delete.depends_on == (cancel.id, export.id)
    assert export.staff == delete.staff == "bsmith"
    assert one(p, "staff.deactivate", "bsmith").depends_on == tuple(range(1, len(p.actions)))


def test_an_active_client_already_linked_as_duplicate_is_inactivated_and_its_bookings_named() -> None:
    # Regression: the mark_duplicate action of a client already linked carries no duplicate_of change;
    # the kept-bookings warning still names the original (it used to crash the planner).
    from planner_builders import appt

    a = world(
        extra_clients=[client("C-D", "jdoe", duplicate_of="C-3")],
        extra_appts=[appt("A-D", "C-D", "jdoe", "2026-12-04T15:00:00Z")],
    )
    p = P(world_desired(clients=[{"id": "C-D", "duplicate_of": "C-3"}]), a)
    assert steps(p) == [("client.mark_duplicate", "C-D")]
    assert p.warnings == (
        "client C-D is marked a duplicate of C-3 but keeps 1 scheduled session (A-D): "
        "cancel them or give them an explicit decision",
    )


def test_inactivation_turns_portal_access_off() -> None:
    a = world(extra_clients=[client("C-P", "bsmith", portal_access=True)])
    p = P(world_desired(LEAVE), a)
    assert dict(one(p, "client.inactivate", "C-P").changes) == {
        "status": ("active", "inactive"),
        "primary": ("bsmith", None),
        "portal_access": (True, False),
    }
    p = P(world_desired(clients=[{"id": "C-P", "status": "inactive"}]), a)
    assert dict(one(p, "client.inactivate", "C-P").changes)["portal_access"] == (True, False)


def test_other_clients_go_to_the_successor_who_stays_like_their_series() -> None:
    # jdoe takes over but leaves on 12-20 naming cdavis: C-1 goes to cdavis with S-1, not to jdoe for a few weeks.
    d = world_desired(
        {
            "bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"},
            "jdoe": {"deactivate_on": dt.date(2026, 12, 20), "successor": "cdavis"},
        }
    )
    p = P(d)
    assert dict(one(p, "client.reassign", "C-1").changes) == {"primary": ("bsmith", "cdavis")}
    assert dict(one(p, "series.transfer", "S-1").changes) == {"staff": ("bsmith", "cdavis")}
    assert dict(one(p, "appointment.transfer", "A-1").changes) == {
        "staff": ("bsmith", "jdoe")
    }  # a dated session: who is there that day


def test_a_duplicate_target_whose_entry_keeps_it_a_duplicate_in_the_database_is_reported() -> None:
    # C-O's own entry only says inactive: it stays a duplicate of C-3 in the database, so it cannot be the original.
    a = world(extra_clients=[client("C-D", "jdoe"), client("C-O", None, status="inactive", duplicate_of="C-3")])
    msgs = problems(
        world_desired(clients=[{"id": "C-D", "duplicate_of": "C-O"}, {"id": "C-O", "status": "inactive"}]), a
    )
    assert msgs == [
        "client C-D: duplicate_of C-O is itself a duplicate of C-3 in the database; point to the record that stays"
    ]


def test_a_named_balance_target_who_is_inactive_is_refused_like_validate_does() -> None:
    # One validator (issue 8): plan refuses what validate refuses, in the same words.
    d = _custom("cdavis", cdavis={"active": False, "successor": "jdoe"})
    with pytest.raises(ValidationFailed) as exc:
        P(d)
    assert "clients_with_balance must be owner, clinical_director, successor or an active staff id" in str(exc.value)
    assert "cdavis is inactive" in str(exc.value)


# ---------------------------------------------------------------- an entry's decision stands; the policy does not add to it
@pytest.mark.parametrize(
    "original,expected",
    [
        (None, ("reference", "client C-1: duplicate_of C-404 is not in the database")),
        (
            client("C-404", None, status="deleted", deleted_at=t("2026-11-20T00:00:00Z")),
            (
                "duplicate_of",
                "client C-1: duplicate_of C-404 is deleted in the database; point to the record that stays",
            ),
        ),
    ],
    ids=["original unknown", "original deleted"],
)
def test_a_leavers_client_with_an_invalid_duplicate_entry_is_not_decided_by_the_policy(
    original: Any, expected: tuple[str, str]
) -> None:
    # The entry decides (and is wrong): the policy must not inactivate the client behind it,
    # so the client is still reported as left with the leaver.
    a = world(extra_clients=[original] if original is not None else [])
    with pytest.raises(ValidationFailed) as exc:
        P(world_desired(LEAVE, clients=[{"id": "C-1", "duplicate_of": "C-404"}]), a)
    assert [(p.code, p.message) for p in exc.value.problems] == [
        expected,
        ("inactive", "client C-1 is assigned to bsmith, who is inactive on 2026-11-24"),
    ]


@pytest.mark.parametrize(
    "target_entry,message",
    [
        (
            {"id": "C-O", "status": "deleted"},
            "C-O is to be deleted (client:C-O.status); point to the record that stays",
        ),
        (
            {"id": "C-O", "duplicate_of": "C-3"},
            "C-O is itself a duplicate of C-3 (client:C-O.duplicate_of); point to the record that stays",
        ),
    ],
    ids=["target's entry deletes it", "target's entry makes it a duplicate"],
)
def test_a_duplicate_target_whose_own_entry_disqualifies_it_is_reported_once_by_the_config_check(
    target_entry: dict[str, str], message: str
) -> None:
    # The database row says the same (deleted / a duplicate): reported by the validator only, not twice.
    row = (
        client("C-O", None, status="deleted", deleted_at=t("2026-11-20T00:00:00Z"))
        if "status" in target_entry
        else client("C-O", None, status="inactive", duplicate_of="C-3")
    )
    a = world(extra_clients=[client("C-D", "jdoe"), row])
    with pytest.raises(ValidationFailed) as exc:
        P(world_desired(clients=[{"id": "C-D", "duplicate_of": "C-O"}, target_entry]), a)
    assert [(p.code, str(p.location), p.message) for p in exc.value.problems] == [
        ("duplicate_of", "client C-D", message)
    ]


def test_a_duplicate_entry_for_a_client_of_an_inactive_professional_is_drift() -> None:
    a = world(extra_clients=[client("C-T", "tnguyen")])
    (mark,) = P(world_desired(clients=[{"id": "C-T", "duplicate_of": "C-3"}]), a).actions
    assert (mark.type.value, mark.target, mark.staff, mark.drift) == ("client.mark_duplicate", "C-T", "tnguyen", True)
    assert dict(mark.changes) == {
        "status": ("active", "inactive"),
        "duplicate_of": (None, "C-3"),
        "primary": ("tnguyen", None),
    }
    assert mark.reason == (
        "drift: tnguyen is inactive (policy standard): explicit clients: entry: duplicate of C-3 marked inactive "
        "(history kept)"
    )


def test_deletion_turns_portal_access_off() -> None:
    a = world(extra_clients=[client("C-P", "jdoe", portal_access=True)])
    p = P(world_desired(clients=[{"id": "C-P", "status": "deleted"}]), a)
    assert dict(one(p, "client.delete", "C-P").changes) == {
        "status": ("active", "deleted"),
        "deleted_at": (None, "2026-11-24T15:00:00Z"),
        "primary": ("jdoe", None),
        "portal_access": (True, False),
    }


def test_reactivation_with_a_new_primary_is_grouped_under_the_recorded_one() -> None:
    a = world(extra_clients=[client("C-R", "jdoe", status="inactive")])
    (react,) = P(world_desired(clients=[{"id": "C-R", "status": "active", "primary": "cdavis"}]), a).actions
    assert (react.type.value, react.staff, react.drift) == ("client.reactivate", "jdoe", False)
    assert dict(react.changes) == {"status": ("inactive", "active"), "primary": ("jdoe", "cdavis")}
    assert react.reason == "explicit clients: entry: client reactivated with primary cdavis"


@pytest.mark.parametrize(
    "entry,warnings",
    [
        ({"id": "C-R"}, ()),
        ({"id": "C-R", "primary": "jdoe"}, ()),
        (
            {"id": "C-R", "primary": "cdavis"},
            ("client C-R is inactive: its primary is not changed unless the entry says status: active",),
        ),
    ],
    ids=["no primary declared", "the recorded primary", "another primary"],
)
def test_an_inactive_clients_primary_changes_only_with_status_active(
    entry: dict[str, str], warnings: tuple[str, ...]
) -> None:
    p = P(world_desired(clients=[entry]), world(extra_clients=[client("C-R", "jdoe", status="inactive")]))
    assert (p.actions, p.warnings) == ((), warnings)


# ---------------------------------------------------------------- purge
def test_a_purge_kept_for_its_duplicates_does_not_stop_later_purges() -> None:
    # C-A is due but C-D (inactive, not due) is a duplicate of it: C-A stays, C-B (due, sorted later) is purged.
    old = t("2026-10-01T12:00:00Z")
    a = world(
        extra_clients=[
            client("C-A", None, status="deleted", deleted_at=old),
            client("C-B", None, status="deleted", deleted_at=old),
            client("C-D", None, status="inactive", duplicate_of="C-A"),
        ]
    )
    p = P(world_desired(), a)
    assert steps(p) == [("client.purge", "C-B")]
    assert p.warnings == ("client C-A is due for purge but other clients are marked duplicates of it: kept",)


# ---------------------------------------------------------------- kept bookings of a closing client
def _bookings(cid: str, n: int, first: str = "2026-12-01T15:00:00Z") -> list[Any]:
    from planner_builders import appt

    start = t(first)
    return [
        appt(f"A-{i}", cid, "jdoe", (start + dt.timedelta(days=i)).isoformat().replace("+00:00", "Z"))
        for i in range(1, n + 1)
    ]


@pytest.mark.parametrize(
    "n,tail",
    [(12, "A-11, A-12)"), (13, "A-11, A-12, and 1 more)")],
    ids=["twelve listed", "the thirteenth counted"],
)
def test_kept_bookings_list_twelve_ids_then_count_the_rest(n: int, tail: str) -> None:
    a = world(extra_clients=[client("C-K", "jdoe")], extra_appts=_bookings("C-K", n))
    p = P(world_desired(clients=[{"id": "C-K", "status": "inactive"}]), a)
    (warning,) = p.warnings
    assert warning.startswith(f"client C-K becomes inactive but keeps {n} scheduled sessions (A-1, A-2, ")
    assert warning.endswith(f"{tail}: cancel them or give them an explicit decision")


def test_a_booking_starting_at_the_plan_time_is_kept_too() -> None:
    a = world(extra_clients=[client("C-K", "jdoe")], extra_appts=_bookings("C-K", 1, first="2026-11-23T15:00:00Z"))
    p = P(world_desired(clients=[{"id": "C-K", "status": "inactive"}]), a)
    assert p.warnings == (
        "client C-K becomes inactive but keeps 1 scheduled session (A-1): cancel them or give them an explicit decision",
    )


@pytest.mark.parametrize(
    "row,entry,what",
    [
        (client("C-K", None, status="inactive"), {"id": "C-K", "status": "inactive"}, "is inactive"),
        (
            client("C-K", None, status="deleted", deleted_at=t("2026-11-20T00:00:00Z")),
            {"id": "C-K", "status": "deleted"},
            "is deleted",
        ),
        (
            client("C-K", None, status="inactive", duplicate_of="C-3"),
            {"id": "C-K", "duplicate_of": "C-3"},
            "is inactive",
        ),
    ],
    ids=["already inactive", "already deleted", "already a duplicate"],
)
def test_a_client_closed_before_this_plan_that_still_has_bookings_is_named(
    row: Any, entry: dict[str, str], what: str
) -> None:
    a = world(extra_clients=[row], extra_appts=_bookings("C-K", 1))
    p = P(world_desired(clients=[entry]), a)
    assert p.actions == ()
    assert p.warnings == (
        f"client C-K {what} but keeps 1 scheduled session (A-1): cancel them or give them an explicit decision",
    )


def test_bookings_of_a_purged_client_are_passed_over_and_the_next_client_still_named() -> None:
    # C-A's row is gone (purged) though a booking still names it; C-B (sorted later) is still warned about.
    from planner_builders import appt

    a = world(
        extra_clients=[client("C-B", "jdoe")],
        extra_appts=[
            appt("A-A", "C-A", "jdoe", "2026-12-01T15:00:00Z"),
            appt("A-B", "C-B", "jdoe", "2026-12-02T15:00:00Z"),
        ],
    )
    p = P(world_desired(clients=[{"id": "C-A", "status": "deleted"}, {"id": "C-B", "status": "inactive"}]), a)
    assert steps(p) == [("client.inactivate", "C-B")]
    assert p.warnings == (
        "client C-B becomes inactive but keeps 1 scheduled session (A-B): cancel them or give them an explicit decision",
    )
