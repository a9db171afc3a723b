"""The text and Markdown renderings of a plan, on hand-built plans (no database).

Rules under test (SPEC §5, the terraform-like text, the pull-request Markdown):
every action type has a glyph and a summary phrase; JSON round-trips; actions are
grouped per professional in execution order; a reason is printed once per run; the
summary is exact even when long runs are folded; colour only on request; Markdown
escapes cells and ends with the CI marker; same plan, same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from reconciler.app.workflow import render_plan
from reconciler.model.actions import Action, ActionType, Plan
from reconciler.render.markdown import MARKER, escape_cell, render_markdown
from reconciler.render.text import (
    FOLD_KEEP,
    FOLD_OVER,
    GLYPHS,
    NO_CHANGES,
    PHRASES,
    format_changes,
    render_text,
    summary_line,
)

AS_OF = "2026-11-24T15:00:00Z"
FP = "sha256:" + "1a2b3c4d5e6f" + "0" * 52
CFG = "sha256:" + "fedcba987654" + "0" * 52
REASON = "bsmith offboarding (policy standard): future sessions cancelled"

# One realistic action per type, following the ``changes`` conventions of actions.py.
SAMPLES: dict[ActionType, tuple[str, str | None, dict[str, tuple[Any, Any]]]] = {
    ActionType.PRACTICE_UPDATE: ("practice", None, {"owner": ("alee", "mkhan"), "client_plan_limit": (None, 900)}),
    ActionType.STAFF_CREATE: (
        "kwu",
        "kwu",
        {"name": (None, "Kim Wu"), "role": (None, "clinician"), "active": (None, True)},
    ),
    ActionType.STAFF_UPDATE: ("jdoe", "jdoe", {"max_caseload": (40, 45)}),
    ActionType.STAFF_SCHEDULE_DEACTIVATION: ("egarcia", "egarcia", {"deactivate_on": (None, "2026-12-31")}),
    ActionType.STAFF_DEACTIVATE: ("bsmith", "bsmith", {"active": (True, False), "deactivated_at": (None, AS_OF)}),
    ActionType.STAFF_REACTIVATE: (
        "tnguyen",
        "tnguyen",
        {"active": (False, True), "deactivated_at": ("2026-01-05T17:00:00Z", None)},
    ),
    ActionType.APPOINTMENT_CANCEL: (
        "A-5",
        "bsmith",
        {"status": ("scheduled", "cancelled"), "cancel_reason": (None, "Provider left")},
    ),
    ActionType.APPOINTMENT_TRANSFER: ("A-140", "egarcia", {"staff": ("egarcia", "cdavis")}),
    ActionType.APPOINTMENT_RESTORE: (
        "A-6",
        "bsmith",
        {"status": ("cancelled", "scheduled"), "cancel_reason": ("Provider left", None)},
    ),
    ActionType.SERIES_END: ("S-1", "bsmith", {"active": (True, False), "until": (None, AS_OF)}),
    ActionType.SERIES_TRANSFER: ("S-11", "egarcia", {"staff": ("egarcia", "cdavis")}),
    ActionType.SERIES_RESTORE: ("S-2", "bsmith", {"active": (False, True), "until": (AS_OF, None)}),
    ActionType.SERIES_SPLIT: (
        "S-12",
        "egarcia",
        {
            "until": (None, "2026-12-31T05:00:00Z"),
            "successor_series": (None, "S-12-20261231"),
            "successor_staff": (None, "cdavis"),
            "successor_start": (None, "2027-01-04T14:00:00Z"),
        },
    ),
    ActionType.CLIENT_REASSIGN: ("C-1002", "bsmith", {"primary": ("bsmith", "mkhan")}),
    ActionType.CLIENT_INACTIVATE: (
        "C-1001",
        "bsmith",
        {"status": ("active", "inactive"), "primary": ("bsmith", None), "portal_access": (False, False)},
    ),
    ActionType.CLIENT_REACTIVATE: ("C-1030", "mkhan", {"status": ("inactive", "active"), "primary": (None, "mkhan")}),
    ActionType.CLIENT_MARK_DUPLICATE: (
        "C-1012",
        "jdoe",
        {
            "status": ("active", "inactive"),
            "duplicate_of": (None, "C-1011"),
            "primary": ("jdoe", None),
            "portal_access": (True, False),
        },
    ),
    ActionType.CLIENT_DELETE: (
        "C-1013",
        "jdoe",
        {
            "status": ("active", "deleted"),
            "deleted_at": (None, AS_OF),
            "primary": ("jdoe", None),
            "portal_access": (False, False),
        },
    ),
    ActionType.CLIENT_PURGE: ("C-1099", None, {"deleted_at": ("2026-10-01T12:00:00Z", None), "exists": (True, False)}),
    ActionType.EXPORT_WRITE: (
        "cdavis",
        "cdavis",
        {"format": (None, "fhir"), "file": (None, "cdavis-20261124T150000Z.fhir.json")},
    ),
}


def act(
    i: int,
    t: ActionType,
    *,
    target: str | None = None,
    staff: str | None = "default",
    reason: str = REASON,
    drift: bool = False,
    changes: dict[str, tuple[Any, Any]] | None = None,
) -> Action:
    s_target, s_staff, s_changes = SAMPLES[t]
    return Action(
        id=i,
        type=t,
        target=target or s_target,
        staff=s_staff if staff == "default" else staff,
        changes=changes if changes is not None else s_changes,
        reason=reason,
        drift=drift,
    )


def plan_of(*actions: Action, **kw: Any) -> Plan:
    kw.setdefault("seats", {"before": 9, "after": 8})
    return Plan(
        as_of=AS_OF,
        db_fingerprint=FP,
        config_digest=CFG,
        actions=tuple(actions),
        generated_at="2026-11-24T15:00:03Z",
        **kw,
    )


def every_type_plan() -> Plan:
    return plan_of(*(act(i, t) for i, t in enumerate(ActionType, start=1)))


def cancels(n: int, staff: str = "bsmith", start: int = 1) -> list[Action]:
    return [act(start + k, ActionType.APPOINTMENT_CANCEL, target=f"A-{start + k}", staff=staff) for k in range(n)]


# ------------------------------------------------------------ exhaustive dispatch
def test_the_samples_cover_every_action_type() -> None:
    assert set(SAMPLES) == set(ActionType), "add a sample for the new ActionType"


@pytest.mark.parametrize("t", list(ActionType), ids=lambda t: t.value)
def test_every_action_type_has_a_glyph(t: ActionType) -> None:
    assert GLYPHS[t] in {"+", "~", "-"}


@pytest.mark.parametrize("t", list(ActionType), ids=lambda t: t.value)
def test_every_action_type_has_a_summary_phrase(t: ActionType) -> None:
    phrase = PHRASES[t]
    assert phrase.count(1).startswith("1 ") and " to " in phrase.count(1)
    assert phrase.count(2).startswith("2 ")


@pytest.mark.parametrize("t", list(ActionType), ids=lambda t: t.value)
def test_every_action_type_renders_in_text_and_markdown(t: ActionType) -> None:
    plan = plan_of(act(1, t))
    text = render_text(plan)
    line = next(ln for ln in text.splitlines() if t.value in ln)
    assert line.lstrip().startswith(GLYPHS[t]) and SAMPLES[t][0] in line
    assert f"Plan: {PHRASES[t].count(1)}." in text
    md = render_markdown(plan)
    assert f"| {GLYPHS[t]} `{t.value}` | 1 | {PHRASES[t].count(1)} |" in md  # summary table
    assert re.search(rf"^\| 1 \| . `{re.escape(t.value)}` \| {re.escape(SAMPLES[t][0])} \|", md, re.M)


@pytest.mark.parametrize("t", list(ActionType), ids=lambda t: t.value)
def test_json_round_trip_for_every_action_type(t: ActionType) -> None:
    plan = plan_of(
        act(1, t, drift=True),
        act(2, t, reason="second"),
        warnings=("w",),
        extra={"seat_credits": [{"staff": "bsmith", "credit_cents": 1200}]},
    )
    again = Plan.from_json(json.loads(plan.dumps()))
    assert again == plan
    assert again.dumps() == plan.dumps()


def test_a_plan_reloaded_from_json_renders_byte_identically() -> None:
    plan = every_type_plan()
    again = Plan.from_json(json.loads(plan.dumps()))
    assert render_text(again) == render_text(plan)
    assert render_markdown(again) == render_markdown(plan)


def test_render_plan_dispatches_on_format() -> None:
    plan = every_type_plan()
    assert render_plan(plan, "text") == render_text(plan)
    assert render_plan(plan, "markdown") == render_markdown(plan)
    assert json.loads(render_plan(plan, "json"))["plan_id"] == plan.plan_id


# ------------------------------------------------------------ text: layout
def test_text_header_names_the_plan_time_and_short_digests() -> None:
    head = render_text(every_type_plan()).splitlines()[:2]
    assert head[0] == f"Reconciler plan {every_type_plan().plan_id}"
    assert head[1] == f"  as of {AS_OF} · database sha256:1a2b3c4d5e6f · config sha256:fedcba987654"


def test_text_groups_per_professional_ordered_by_first_action() -> None:
    plan = plan_of(
        act(1, ActionType.EXPORT_WRITE, staff="cdavis"),
        act(2, ActionType.CLIENT_PURGE, staff=None),
        act(3, ActionType.APPOINTMENT_CANCEL, staff="bsmith"),
        act(4, ActionType.APPOINTMENT_TRANSFER, staff="cdavis"),
    )
    headers = [ln for ln in render_text(plan).splitlines() if re.match(r"^\S+ \(\d+ actions?\)$", ln)]
    assert headers == ["cdavis (2 actions)", "practice (1 action)", "bsmith (1 action)"]


def test_text_keeps_execution_order_inside_a_group() -> None:
    plan = plan_of(
        act(1, ActionType.EXPORT_WRITE),
        act(2, ActionType.APPOINTMENT_CANCEL, staff="cdavis"),
        act(3, ActionType.SERIES_TRANSFER, staff="cdavis"),
        act(4, ActionType.STAFF_DEACTIVATE, staff="cdavis"),
    )
    text = render_text(plan)
    positions = [text.index(t) for t in ("export.write", "appointment.cancel", "series.transfer", "staff.deactivate")]
    assert positions == sorted(positions)


def test_text_shows_changes_compactly_most_telling_field_first() -> None:
    line = next(ln for ln in render_text(plan_of(act(1, ActionType.CLIENT_INACTIVATE))).splitlines() if "C-1001" in ln)
    assert line.endswith("C-1001  status: active → inactive, primary: bsmith → (none), portal_access: false → false")


def test_text_shows_a_cancellations_reason_text_once_in_the_runs_header() -> None:
    lines = render_text(plan_of(*cancels(2))).splitlines()
    assert [ln.strip() for ln in lines if ln.strip().startswith("# ")] == [
        f'# {REASON} — cancel reason: "Provider left"'
    ]
    assert [ln for ln in lines if "A-1" in ln][0].endswith("A-1  status: scheduled → cancelled")


@pytest.mark.parametrize(
    "changes, want",
    [
        ({"primary": ("bsmith", None)}, "primary: bsmith → (none)"),
        ({"active": (True, False)}, "active: true → false"),
        ({"settings": ({}, {"messaging_enabled": False})}, 'settings: {} → {"messaging_enabled":false}'),
        ({"name": ("Jon Doe", "Jon A. Doe")}, 'name: "Jon Doe" → "Jon A. Doe"'),
        ({"max_caseload": (None, 40)}, "max_caseload: (none) → 40"),
    ],
    ids=["null-after", "booleans", "json-object", "quoted-strings", "null-before"],
)
def test_format_changes(changes: dict[str, tuple[Any, Any]], want: str) -> None:
    assert format_changes(changes) == want


def test_text_prints_a_reason_once_per_run_of_identical_reasons() -> None:
    plan = plan_of(
        *cancels(3),
        act(4, ActionType.SERIES_END, reason="series ended"),
        act(5, ActionType.APPOINTMENT_CANCEL, target="A-9"),
    )
    reason_lines = [ln.strip() for ln in render_text(plan).splitlines() if ln.strip().startswith("# ")]
    cancelled = f'# {REASON} — cancel reason: "Provider left"'
    assert reason_lines == [cancelled, "# series ended", cancelled]


def test_text_marks_drift() -> None:
    text = render_text(
        plan_of(act(1, ActionType.CLIENT_REASSIGN, drift=True), act(2, ActionType.CLIENT_REASSIGN, target="C-1003"))
    )
    drifted = next(ln for ln in text.splitlines() if "C-1002" in ln)
    plain = next(ln for ln in text.splitlines() if "C-1003" in ln)
    assert drifted.lstrip().startswith("~!") and "(drift" in drifted
    assert not plain.lstrip().startswith("~!") and "drift" not in plain


def test_text_lists_warnings() -> None:
    text = render_text(plan_of(act(1, ActionType.STAFF_DEACTIVATE), warnings=("staff zed is not in the config",)))
    assert "Warnings:\n  * staff zed is not in the config" in text


def test_text_lists_warnings_of_an_empty_plan_too() -> None:
    text = render_text(plan_of(warnings=("staff zed is not in the config",)))
    assert NO_CHANGES in text and "staff zed is not in the config" in text


@pytest.mark.parametrize(
    "seats, extra, want",
    [
        ({"before": 14, "after": 13}, {}, "Seats: 14 → 13"),
        ({"before": 9, "after": 9}, {}, "Seats: 9 (unchanged)"),
        (
            {"before": 9, "after": 8},
            {"seat_credits": [{"staff": "bsmith", "credit_cents": 1200}]},
            "Seats: 9 → 8 (mid-cycle credit $12.00: bsmith $12.00)",
        ),
        (
            {"before": 9, "after": 7},
            {"seat_credits": {"bsmith": 1200, "cdavis": 350}},
            "Seats: 9 → 7 (mid-cycle credit $15.50: bsmith $12.00, cdavis $3.50)",
        ),
        ({"before": 9, "after": 8}, {"seat_credits": 123456}, "Seats: 9 → 8 (mid-cycle credit $1,234.56)"),
    ],
    ids=["release", "unchanged", "credit-records", "credit-map", "credit-total"],
)
def test_text_seats_line(seats: dict[str, int], extra: dict[str, Any], want: str) -> None:
    lines = render_text(plan_of(act(1, ActionType.STAFF_DEACTIVATE), seats=seats, extra=extra)).splitlines()
    assert want in lines


def test_text_summary_counts_exactly_in_execution_order() -> None:
    plan = plan_of(
        *cancels(12),
        *(act(13 + k, ActionType.CLIENT_REASSIGN, target=f"C-{k}") for k in range(3)),
        act(16, ActionType.STAFF_DEACTIVATE),
    )
    assert render_text(plan).splitlines()[-1] == (
        "Plan: 12 sessions to cancel, 3 clients to reassign, 1 staff member to deactivate."
    )


def test_an_empty_plan_says_no_changes() -> None:
    plan = plan_of()
    assert summary_line(plan) == NO_CHANGES
    assert render_text(plan).splitlines()[-1] == NO_CHANGES
    assert "Plan:" not in render_text(plan)


@pytest.mark.parametrize("color, has_ansi", [(False, False), (True, True)], ids=["plain", "color"])
def test_colour_only_on_request(color: bool, has_ansi: bool) -> None:
    text = render_text(every_type_plan(), color=color)
    assert ("\x1b[" in text) is has_ansi
    assert re.sub(r"\x1b\[[0-9;]*m", "", text) == render_text(every_type_plan())


def test_text_is_deterministic() -> None:
    assert render_text(every_type_plan()) == render_text(every_type_plan())


# ------------------------------------------------------------ text: large plans
def test_long_runs_are_folded_but_the_summary_stays_exact() -> None:
    n = FOLD_OVER + 5
    plan = plan_of(*cancels(n), act(n + 1, ActionType.STAFF_DEACTIVATE))
    lines = render_text(plan).splitlines()
    assert sum("appointment.cancel" in ln and "A-" in ln for ln in lines) == FOLD_KEEP
    assert f"      … and {n - FOLD_KEEP} more appointment.cancel" in lines
    assert f"bsmith ({n + 1} actions)" in lines
    assert lines[-1] == f"Plan: {n} sessions to cancel, 1 staff member to deactivate."
    assert any("staff.deactivate" in ln for ln in lines)


def test_a_run_at_the_fold_limit_is_shown_in_full() -> None:
    lines = render_text(plan_of(*cancels(FOLD_OVER))).splitlines()
    assert sum("appointment.cancel" in ln for ln in lines) == FOLD_OVER
    assert not any("more appointment.cancel" in ln for ln in lines)


def test_folding_is_per_professional() -> None:
    plan = plan_of(*cancels(FOLD_OVER, staff="bsmith"), *cancels(FOLD_OVER, staff="cdavis", start=FOLD_OVER + 1))
    assert "more appointment.cancel" not in render_text(plan)


def test_thousands_of_sessions_stay_short() -> None:
    plan = plan_of(*cancels(5000), act(5001, ActionType.STAFF_DEACTIVATE))
    text = render_text(plan)
    assert len(text.splitlines()) < FOLD_KEEP + 15
    assert f"… and {5000 - FOLD_KEEP} more appointment.cancel" in text
    assert text.splitlines()[-1] == "Plan: 5000 sessions to cancel, 1 staff member to deactivate."


# ------------------------------------------------------------ markdown
def test_markdown_has_title_summary_table_seats_and_marker_last() -> None:
    plan = plan_of(*cancels(12), act(13, ActionType.STAFF_DEACTIVATE), warnings=("staff zed is not in the config",))
    md = render_markdown(plan)
    assert md.startswith(f"### Reconciler plan `{plan.plan_id}`\n")
    assert "| - `appointment.cancel` | 12 | 12 sessions to cancel |" in md
    assert "| - `staff.deactivate` | 1 | 1 staff member to deactivate |" in md
    assert "**Seats: 9 → 8**" in md
    assert "- :warning: staff zed is not in the config" in md
    assert md.rstrip("\n").endswith(MARKER)


def test_markdown_has_one_collapsible_section_per_professional() -> None:
    plan = plan_of(*cancels(13), act(14, ActionType.STAFF_DEACTIVATE), act(15, ActionType.CLIENT_PURGE))
    md = render_markdown(plan)
    summaries = re.findall(r"<details><summary>(.*?)</summary>", md)
    assert summaries == ["bsmith — 14 actions", "practice — 1 action"]
    assert md.count("</details>") == 2


def test_markdown_rows_carry_id_type_target_change_and_drift() -> None:
    md = render_markdown(plan_of(act(7, ActionType.CLIENT_REASSIGN, drift=True)))
    assert "| 7 | ~ `client.reassign` | C-1002 | primary: bsmith → mkhan | ! drift |" in md.splitlines()
    assert "1 action undoes drift" in md


@pytest.mark.parametrize(
    "raw, want",
    [
        ("a | b", "a \\| b"),
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
        ("two\nlines", "two lines"),
        ("back`tick", "back\\`tick"),
    ],
    ids=["pipe", "html", "newline", "backtick"],
)
def test_markdown_cells_are_escaped(raw: str, want: str) -> None:
    assert escape_cell(raw) == want


def test_a_reason_with_a_pipe_cannot_break_the_table() -> None:
    plan = plan_of(
        act(
            1,
            ActionType.APPOINTMENT_CANCEL,
            reason="a | b",
            changes={"status": ("scheduled", "cancelled"), "cancel_reason": (None, "x | y")},
        )
    )
    md = render_markdown(plan)
    row = next(ln for ln in md.splitlines() if ln.startswith("| 1 |"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 6  # five cells
    assert "- a \\| b" in md


def test_markdown_of_an_empty_plan() -> None:
    md = render_markdown(plan_of())
    assert f"**{NO_CHANGES}**" in md and "<details>" not in md
    assert md.rstrip("\n").endswith(MARKER)


def test_markdown_folds_only_very_long_runs_and_is_deterministic() -> None:
    plan = plan_of(*cancels(400), act(401, ActionType.STAFF_DEACTIVATE))
    md = render_markdown(plan)
    assert "more `appointment.cancel`" in md
    assert "| - `appointment.cancel` | 400 | 400 sessions to cancel |" in md
    assert len(md) < 20_000
    assert md == render_markdown(plan)


# ------------------------------------------------------------ sessions: whose and when
APPT_CTX = {"client": "C-1001", "start": "2026-12-07T15:00:00Z", "end": "2026-12-07T15:50:00Z", "telehealth": False}
SERIES_CTX = {"client": "C-1001", "rrule": "FREQ=WEEKLY;BYDAY=MO", "first_start": "2026-11-02T15:00:00Z"}


@pytest.mark.parametrize(
    "t, context, tz, want",
    [
        (ActionType.APPOINTMENT_CANCEL, APPT_CTX, "America/New_York", "C-1001 Mon 2026-12-07 10:00 EST"),
        (
            ActionType.APPOINTMENT_TRANSFER,
            {**APPT_CTX, "telehealth": True},
            "America/New_York",
            "C-1001 Mon 2026-12-07 10:00 EST (telehealth)",
        ),
        (
            ActionType.APPOINTMENT_CANCEL,
            {**APPT_CTX, "start": "2026-07-06T14:00:00Z"},
            "America/New_York",
            "C-1001 Mon 2026-07-06 10:00 EDT",
        ),
        (ActionType.APPOINTMENT_CANCEL, APPT_CTX, None, "C-1001 Mon 2026-12-07 15:00 UTC"),
        (ActionType.SERIES_END, SERIES_CTX, "America/New_York", "C-1001 weekly Mon 10:00 EST since 2026-11-02"),
        (
            ActionType.SERIES_TRANSFER,
            {**SERIES_CTX, "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"},
            "America/New_York",
            "C-1001 every 2 weeks Mon/Thu 10:00 EST since 2026-11-02",
        ),
        (
            ActionType.SERIES_END,
            {**SERIES_CTX, "rrule": "FREQ=WEEKLY"},
            "America/New_York",
            "C-1001 weekly Mon 10:00 EST since 2026-11-02",
        ),
        (
            ActionType.SERIES_END,
            {**SERIES_CTX, "rrule": "FREQ=MONTHLY;BYMONTHDAY=2"},
            "America/New_York",
            "C-1001 FREQ=MONTHLY;BYMONTHDAY=2 10:00 EST since 2026-11-02",
        ),
    ],
    ids=[
        "cancel-local-time",
        "telehealth",
        "summer-time",
        "plan-without-timezone-in-utc",
        "weekly-series",
        "fortnightly-two-days",
        "weekday-from-first-start",
        "unusual-rule-shown-as-written",
    ],
)
def test_a_session_line_says_whose_and_when(t: ActionType, context: dict[str, Any], tz: str | None, want: str) -> None:
    plan = plan_of(dataclasses.replace(act(1, t), context=context), extra={"timezone": tz} if tz else {})
    line = next(ln for ln in render_text(plan).splitlines() if SAMPLES[t][0] in ln and t.value in ln)
    assert f"{SAMPLES[t][0]}  {want}  " in line
    assert f"| {SAMPLES[t][0]} | {want} |" in render_markdown(plan)


def test_client_lines_keep_the_client_id_as_their_subject() -> None:
    plan = plan_of(
        dataclasses.replace(act(1, ActionType.APPOINTMENT_CANCEL), context=APPT_CTX),
        act(2, ActionType.CLIENT_REASSIGN, staff="bsmith"),
        extra={"timezone": "America/New_York"},
    )
    line = next(ln for ln in render_text(plan).splitlines() if "client.reassign" in ln)
    assert line.endswith("C-1002  primary: bsmith → mkhan")
    md = render_markdown(plan)
    assert "| # | Action | Target | Session | Change | Drift |" in md
    assert "| 2 | ~ `client.reassign` | C-1002 |  | primary: bsmith → mkhan |  |" in md


def test_markdown_has_no_session_column_for_a_professional_without_sessions() -> None:
    md = render_markdown(plan_of(act(1, ActionType.CLIENT_REASSIGN)))
    assert "| # | Action | Target | Change | Drift |" in md and "Session" not in md
