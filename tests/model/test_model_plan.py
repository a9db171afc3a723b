"""The plan value and its SPEC §5 JSON: what is written, what is read back, the plan id."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from reconciler.model.actions import FORMAT_VERSION, Action, ActionType, Plan

T = ActionType

CANCEL = Action(
    1,
    T.APPOINTMENT_CANCEL,
    "A-1",
    "bsmith",
    {"status": ("scheduled", "cancelled"), "cancel_reason": (None, "Provider left")},
    "bsmith offboarding: future session cancelled",
    (),
    False,
    {"client": "C-1", "start": "2026-12-01T15:00:00Z"},
)
DEACTIVATE = Action(2, T.STAFF_DEACTIVATE, "bsmith", "bsmith", {"active": (True, False)}, "deactivated", (1,), True)
FULL = Plan(
    as_of="2026-11-24T15:00:00Z",
    db_fingerprint="sha256:db",
    config_digest="sha256:cfg",
    actions=(CANCEL, DEACTIVATE),
    warnings=("one warning",),
    seats={"before": 5, "after": 4},
    scope={"at": "2026-11-24T15:00:00Z", "now_staff": ["bsmith"]},
    extra={"timezone": "America/New_York", "seat_credits": [{"staff": "bsmith", "credit_cents": 1200}]},
    generated_at="2026-11-24T15:00:01Z",
)


def test_every_part_of_a_plan_is_read_back_from_its_file() -> None:
    assert Plan.from_json(json.loads(FULL.dumps())) == FULL


def test_the_plan_document_holds_the_spec_fields_in_order() -> None:
    doc = FULL.to_json()
    assert list(doc) == [
        "format_version",
        "generated_at",
        "as_of",
        "db_fingerprint",
        "config_digest",
        "actions",
        "summary",
        "warnings",
        "seats",
        "scope",
        "extra",
    ]
    assert doc["format_version"] == FORMAT_VERSION == 1
    assert doc["summary"] == {"staff.deactivate": 1, "appointment.cancel": 1}
    assert doc["actions"][0] == {
        "id": 1,
        "type": "appointment.cancel",
        "target": "A-1",
        "staff": "bsmith",
        "changes": {"cancel_reason": [None, "Provider left"], "status": ["scheduled", "cancelled"]},
        "reason": "bsmith offboarding: future session cancelled",
        "depends_on": [],
        "drift": False,
        "context": {"client": "C-1", "start": "2026-12-01T15:00:00Z"},
    }
    assert "context" not in doc["actions"][1] and doc["actions"][1]["drift"] is True
    assert list(json.loads(FULL.dumps())) == [*doc, "plan_id"]


def test_an_empty_scope_and_extra_are_left_out() -> None:
    bare = Plan(as_of="2026-11-24T15:00:00Z", db_fingerprint="sha256:db", config_digest="sha256:cfg", actions=())
    doc = bare.to_json(include_generated_at=False)
    assert doc == {
        "format_version": 1,
        "as_of": "2026-11-24T15:00:00Z",
        "db_fingerprint": "sha256:db",
        "config_digest": "sha256:cfg",
        "actions": [],
        "summary": {},
        "warnings": [],
        "seats": {"before": 0, "after": 0},
    }
    assert bare.is_empty and not FULL.is_empty


def test_a_minimal_document_reads_with_defaults() -> None:
    doc = {
        "format_version": 1,
        "as_of": "2026-11-24T15:00:00Z",
        "db_fingerprint": "sha256:db",
        "config_digest": "sha256:cfg",
        "actions": [{"id": "3", "type": "client.purge", "target": "C-9"}],
    }
    plan = Plan.from_json(doc)
    assert plan == Plan(
        as_of="2026-11-24T15:00:00Z",
        db_fingerprint="sha256:db",
        config_digest="sha256:cfg",
        actions=(Action(3, T.CLIENT_PURGE, "C-9", None, {}, ""),),
        seats={},
    )
    assert (plan.warnings, plan.scope, plan.extra, plan.generated_at) == ((), {}, {}, "")


@pytest.mark.parametrize("version", [None, 2, "1"])
def test_another_format_version_is_refused(version: object) -> None:
    doc = FULL.to_json()
    if version is None:
        del doc["format_version"]
    else:
        doc["format_version"] = version
    with pytest.raises(ValueError, match=f"^unsupported plan format_version {version!r}$"):
        Plan.from_json(doc)


def test_the_plan_id_digests_the_content_but_not_the_generation_time() -> None:
    again = Plan.from_json({**FULL.to_json(), "generated_at": "2027-01-01T00:00:00Z"})
    assert again.plan_id == FULL.plan_id
    assert FULL.plan_id.startswith("plan-") and len(FULL.plan_id) == 17
    changed = Plan.from_json({**FULL.to_json(), "warnings": []})
    assert changed.plan_id != FULL.plan_id
    assert json.loads(FULL.dumps())["plan_id"] == FULL.plan_id


def test_the_summary_counts_actions_in_vocabulary_order() -> None:
    assert list(FULL.summary.items()) == [("staff.deactivate", 1), ("appointment.cancel", 1)]
    assert [t.entity for t in (T.STAFF_CREATE, T.APPOINTMENT_CANCEL, T.SERIES_END, T.CLIENT_PURGE, T.EXPORT_WRITE)] == [
        "staff",
        "appointment",
        "series",
        "client",
        "export",
    ]


def test_the_plan_file_is_indented_json_with_one_action_per_line_and_text_as_written() -> None:
    note = Action(1, T.CLIENT_PURGE, "C-9", None, {"exists": (True, False)}, "purged (Zoë's request)")
    plan = Plan(
        as_of="2026-11-24T15:00:00Z",
        db_fingerprint="sha256:db",
        config_digest="sha256:cfg",
        actions=(note,),
        warnings=("client C-1: Zoë's note",),
        scope={"now_staff": ["bsmith"]},
        generated_at="2026-11-24T15:00:01Z",
    )
    assert plan.dumps() == (
        "{\n"
        '  "format_version": 1,\n'
        '  "generated_at": "2026-11-24T15:00:01Z",\n'
        '  "as_of": "2026-11-24T15:00:00Z",\n'
        '  "db_fingerprint": "sha256:db",\n'
        '  "config_digest": "sha256:cfg",\n'
        '  "actions": [\n'
        '    {"id": 1, "type": "client.purge", "target": "C-9", "staff": null, "changes": {"exists": [true, false]}, '
        '"reason": "purged (Zoë\'s request)", "depends_on": [], "drift": false}\n'
        "  ],\n"
        '  "summary": {\n'
        '    "client.purge": 1\n'
        "  },\n"
        '  "warnings": [\n'
        '    "client C-1: Zoë\'s note"\n'
        "  ],\n"
        '  "seats": {\n'
        '    "before": 0,\n'
        '    "after": 0\n'
        "  },\n"
        '  "scope": {\n'
        '    "now_staff": [\n'
        '      "bsmith"\n'
        "    ]\n"
        "  },\n"
        f'  "plan_id": "{plan.plan_id}"\n'
        "}\n"
    )


def test_the_fast_encoding_is_the_standard_librarys_encoding_of_to_json() -> None:
    # dumps and plan_id encode tuples with one reused C encoder; the text must be what
    # json.dumps gives for to_json's lists, for values of every JSON kind.
    odd = Action(
        3,
        T.STAFF_UPDATE,
        "bsmith",
        "bsmith",
        {"settings": ({"a": [1, 2.5, None]}, {"b": {"c": 'Zoë "q" \\ \u2028'}}), "max_caseload": (None, 2**40)},
        "updated",
        (1, 2),
        False,
        {"z": 1, "a": [True, "x"]},
    )
    plan = dataclasses.replace(FULL, actions=(*FULL.actions, odd))
    doc = plan.to_json()
    lines = plan.dumps().split("\n")
    start = lines.index('  "actions": [') + 1
    assert lines[start : start + 3] == [
        "    " + json.dumps(a, ensure_ascii=False) + ("," if i < 2 else "") for i, a in enumerate(doc["actions"])
    ]
    body = {k: v for k, v in doc.items() if k != "generated_at"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert plan.plan_id == "plan-" + digest[:12]
    bad = dataclasses.replace(FULL, actions=(Action(1, T.STAFF_UPDATE, "x", "x", {"n": (None, {1, 2})}, "r"),))
    with pytest.raises(TypeError, match="not JSON serializable"):
        bad.dumps()
