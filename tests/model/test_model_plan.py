"""The plan value and its SPEC §5 JSON: what is written, what is read back, the plan id."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

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


# ---------------------------------------------------------------- the encoders behind dumps and plan_id
def _three_actions() -> Plan:
    third = Action(3, T.CLIENT_PURGE, "C-9", None, {"exists": (True, False)}, "purged (Zoë)")
    return dataclasses.replace(FULL, actions=(*FULL.actions, third))


def _expected_lines(plan: Plan) -> list[str]:
    actions = plan.to_json()["actions"]
    return [
        "    " + json.dumps(a, ensure_ascii=False) + ("," if i < len(actions) - 1 else "")
        for i, a in enumerate(actions)
    ]


def _action_lines(text: str) -> list[str]:
    lines = text.split("\n")
    start = lines.index('  "actions": [') + 1
    return lines[start : lines.index("  ],", start)]


def test_the_action_lines_come_from_one_c_encoder_per_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    # The point of the line encoder is speed: one C encoder for all the plan's actions,
    # not a JSONEncoder (and its C encoder) per action.
    made: list[tuple[object, ...]] = []
    real = json.encoder.c_make_encoder
    assert real is not None

    def counting(*args: object) -> object:
        made.append(args[4:7])  # key separator, item separator, sort_keys
        return real(*args)  # type: ignore[misc]

    monkeypatch.setattr(json.encoder, "c_make_encoder", counting)
    plan = _three_actions()
    text = plan.dumps()
    assert made.count((": ", ", ", False)) == 1, made
    assert _action_lines(text) == _expected_lines(plan)


@pytest.mark.parametrize("c_encoder", ["missing", "other signature"])
def test_without_the_c_encoder_the_lines_are_the_same_text(monkeypatch: pytest.MonkeyPatch, c_encoder: str) -> None:
    real = json.encoder.c_make_encoder

    def other_signature(*args: object) -> object:
        if args[0] is None:  # the line encoder's call (json's own passes its markers dict)
            raise TypeError("make_encoder() takes 3 arguments")
        return real(*args)  # type: ignore[misc]

    plan = _three_actions()
    expected = plan.dumps()
    monkeypatch.setattr(json.encoder, "c_make_encoder", None if c_encoder == "missing" else other_signature)
    again = dataclasses.replace(plan)  # plan_id not remembered yet
    assert again.dumps() == expected
    assert "Zoë" in _action_lines(expected)[-1]


def test_special_values_are_written_as_json_dumps_writes_them() -> None:
    odd = Action(1, T.STAFF_UPDATE, "x", "x", {"n": (float("nan"), float("inf"))}, "r", (), False, {"k": -float("inf")})
    plan = dataclasses.replace(FULL, actions=(odd,))
    assert _action_lines(plan.dumps()) == _expected_lines(plan)


@pytest.mark.parametrize(
    "value",
    [pytest.param({1, 2}, id="a set"), pytest.param({(1, 2): 3}, id="a tuple key (never silently dropped)")],
)
def test_a_value_json_cannot_write_is_the_standard_librarys_type_error(value: object) -> None:
    bad = dataclasses.replace(FULL, actions=(Action(1, T.STAFF_UPDATE, "x", "x", {"n": (None, value)}, "r"),))
    with pytest.raises(TypeError) as ours:
        bad.dumps()
    with pytest.raises(TypeError) as stdlib:
        json.dumps(value)
    assert str(ours.value) == str(stdlib.value)


def _canonical_id(doc: dict[str, object]) -> str:
    body = {k: v for k, v in doc.items() if k != "generated_at"}
    return "plan-" + hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


@pytest.mark.parametrize(
    ("extra", "same_as"),
    [
        ({"db_id": "db-1"}, {}),
        ({"db_id": "db-2"}, {}),
        ({"db_id": "db-1", "timezone": "America/New_York"}, {"timezone": "America/New_York"}),
    ],
    ids=["db id only", "another db id", "db id and more"],
)
def test_the_plan_id_leaves_the_database_identity_out(extra: dict[str, str], same_as: dict[str, str]) -> None:
    with_db = dataclasses.replace(FULL, extra=extra)
    without = dataclasses.replace(FULL, extra=same_as)
    assert with_db.plan_id == without.plan_id == _canonical_id(without.to_json())
    assert json.loads(with_db.dumps())["plan_id"] == with_db.plan_id


def test_any_other_extension_changes_the_plan_id() -> None:
    a = dataclasses.replace(FULL, extra={"db_id": "db-1", "timezone": "America/New_York"})
    b = dataclasses.replace(FULL, extra={"db_id": "db-1", "timezone": "Europe/Paris"})
    assert a.plan_id != b.plan_id
    assert a.plan_id == _canonical_id(dataclasses.replace(a, extra={"timezone": "America/New_York"}).to_json())


@pytest.mark.parametrize("first", ["dumps", "plan_id"])
def test_the_plan_is_digested_once_whatever_asks_first(monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    from reconciler.model import actions

    calls: list[int] = []
    real = actions._plan_id

    def counting(body: dict[str, object], acts: Any) -> str:
        calls.append(1)
        return real(body, acts)

    monkeypatch.setattr(actions, "_plan_id", counting)
    plan = dataclasses.replace(_three_actions())
    if first == "plan_id":
        pid = plan.plan_id
        text = plan.dumps()
    else:
        text = plan.dumps()
        pid = plan.plan_id
    plan.dumps()
    assert len(calls) == 1
    assert json.loads(text)["plan_id"] == pid == _canonical_id(plan.to_json())


# ---------------------------------------------------------------- Action.from_json
@pytest.mark.parametrize("ident", [1, 2**31 - 1, "7"])
def test_an_action_id_in_the_audit_trails_integer_range_reads(ident: object) -> None:
    assert Action.from_json({"id": ident, "type": "client.purge", "target": "C-9"}).id == int(ident)  # type: ignore[call-overload]


@pytest.mark.parametrize("ident", [0, -1, 2**31])
def test_an_action_id_outside_the_integer_range_is_refused(ident: int) -> None:
    with pytest.raises(ValueError, match=f"^action id {ident} is out of range$"):
        Action.from_json({"id": ident, "type": "client.purge", "target": "C-9"})


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("staff.explode", "'staff.explode' is not a valid ActionType"),
        (7, "7 is not a valid ActionType"),
        (["client.purge"], "['client.purge'] is not a valid ActionType"),
        (None, "None is not a valid ActionType"),
    ],
    ids=["unknown name", "a number", "a list", "null"],
)
def test_an_unknown_action_type_is_a_value_error_naming_it(kind: object, words: str) -> None:
    with pytest.raises(ValueError) as err:
        Action.from_json({"id": 1, "type": kind, "target": "C-9"})
    assert str(err.value) == words


def test_a_known_action_type_is_looked_up_without_the_enum_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # EnumType.__call__ per action was a measured share of reading a large saved plan.
    from reconciler.model import actions

    def no_enum_call(value: object) -> ActionType:
        raise AssertionError(f"ActionType({value!r}) called")

    monkeypatch.setattr(actions, "ActionType", no_enum_call)
    for t in T:
        assert Action.from_json({"id": 1, "type": t.value, "target": "x"}).type is t


# ---------------------------------------------------------------- an id worked out elsewhere
def test_an_id_source_is_asked_once_when_the_id_is_first_needed_and_after_the_actions() -> None:
    expected = dataclasses.replace(FULL).dumps()
    plan = dataclasses.replace(FULL)
    asked: list[str] = []

    def source() -> str:
        asked.append("id")
        return plan.compute_plan_id()

    plan.digest_from(source)
    assert asked == []  # not before it is needed
    assert plan.dumps() == expected
    assert asked == ["id"]
    assert plan.plan_id == FULL.plan_id and plan.dumps() == expected
    assert asked == ["id"]  # remembered


def test_the_id_a_source_gives_is_the_plans_id_written_as_given() -> None:
    plan = dataclasses.replace(FULL)
    plan.digest_from(lambda: "plan-from-sourcé")
    assert plan.plan_id == "plan-from-sourcé"
    # Written like every other text of the file: UTF-8, not escaped.
    assert plan.dumps().endswith('  "plan_id": "plan-from-sourcé"\n}\n')


@pytest.mark.parametrize("part", ["_line", "_canonical"])
def test_dumps_writes_and_digests_each_action_once(monkeypatch: pytest.MonkeyPatch, part: str) -> None:
    """The plan file's line and the id's canonical text of each action, once each."""
    built: list[int] = []
    real = getattr(Action, part)

    def counting(self: Action, texts: object) -> str:
        built.append(self.id)
        return str(real(self, texts))

    monkeypatch.setattr(Action, part, counting)
    plan = dataclasses.replace(_three_actions())
    plan.dumps()
    assert built == [1, 2, 3]


def test_a_known_id_is_not_replaced_by_a_source() -> None:
    plan = dataclasses.replace(FULL)
    known = plan.plan_id
    plan.digest_from(lambda: "plan-other")
    assert "_plan_id_source" not in plan.__dict__  # nothing is kept that could ever be asked
    assert plan.plan_id == known and json.loads(plan.dumps())["plan_id"] == known


def test_compute_plan_id_is_the_id_worked_out_afresh() -> None:
    plan = dataclasses.replace(FULL)
    assert plan.compute_plan_id() == FULL.plan_id == _canonical_id(FULL.to_json())
    assert "plan_id" not in plan.__dict__  # computing it does not remember it
