"""The config's plain values (``model/desired``) and the schema's conversion to them
(``model/schema``): the same fields and defaults, enum fields taking their values."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import MappingProxyType
from typing import Any

import pytest

from reconciler.model import desired as d
from reconciler.model import schema
from reconciler.model.actions import Action, ActionType, Plan

# (class, the fields given as the config writes them, the fields as the value holds them)
COERCED: list[tuple[type[Any], dict[str, Any], dict[str, Any]]] = [
    (
        d.StaffSpec,
        {"id": "b", "role": "clinician", "access": "assigned_clients"},
        {"role": d.Role.CLINICIAN, "access": d.Access.ASSIGNED_CLIENTS},
    ),
    (d.StaffSpec, {"id": "b", "role": "owner"}, {"role": d.Role.OWNER, "access": None}),
    (d.StaffSpec, {"id": "b", "access": "scheduling_only"}, {"role": None, "access": d.Access.SCHEDULING_ONLY}),
    (
        d.ClientSpec,
        {"id": "C-1", "status": "deleted", "future_sessions": "cancel"},
        {"status": d.ClientStatus.DELETED, "future_sessions": d.ClientFutureSessions.CANCEL},
    ),
    (
        d.ClientSpec,
        {"id": "C-1", "future_sessions": "keep"},
        {"status": None, "future_sessions": d.ClientFutureSessions.KEEP},
    ),
    (
        d.PolicySpec,
        {"name": "p", "future_sessions": "transfer", "other_clients": "transfer", "export": "csv"},
        {
            "future_sessions": d.FutureSessions.TRANSFER,
            "other_clients": d.OtherClients.TRANSFER,
            "export": d.ExportFormat.CSV,
        },
    ),
    (
        d.PracticeSpec,
        {"unmanaged_staff": "deactivate", "client_future_sessions": "cancel"},
        {"unmanaged_staff": d.UnmanagedStaff.DEACTIVATE, "client_future_sessions": d.ClientFutureSessions.CANCEL},
    ),
    (
        d.NotifySpec,
        {"url": "https://h", "events": ["failed", "applied"]},
        {"events": [d.NotifyEvent.FAILED, d.NotifyEvent.APPLIED]},
    ),
]


@pytest.mark.parametrize(("cls", "given", "held"), COERCED, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(COERCED)])
def test_enum_fields_take_their_values(cls: type[Any], given: dict[str, Any], held: dict[str, Any]) -> None:
    value = cls(**given)
    for name, member in held.items():
        got = getattr(value, name)
        if isinstance(member, list):
            assert got == member and all(type(a) is type(b) for a, b in zip(got, member))
        else:
            assert got is member, name
    # members given as members are kept as they are
    assert cls(**{**given, **{k: v for k, v in held.items() if v is not None}}) == value


@pytest.mark.parametrize(
    ("cls", "given"),
    [
        (d.StaffSpec, {"id": "b", "role": "nurse"}),
        (d.StaffSpec, {"id": "b", "access": "all"}),
        (d.ClientSpec, {"id": "C-1", "status": "gone"}),
        (d.ClientSpec, {"id": "C-1", "future_sessions": "later"}),
        (d.PolicySpec, {"name": "p", "export": "pdf"}),
        (d.PolicySpec, {"name": "p", "future_sessions": "keep"}),
        (d.PolicySpec, {"name": "p", "other_clients": "delete"}),
        (d.PracticeSpec, {"unmanaged_staff": "delete"}),
        (d.PracticeSpec, {"client_future_sessions": "later"}),
        (d.NotifySpec, {"url": "https://h", "events": ["sent"]}),
    ],
)
def test_an_unknown_enum_value_is_refused(cls: type[Any], given: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        cls(**given)


def test_every_notify_event_by_default() -> None:
    assert d.NotifySpec(url="https://h").events == [
        d.NotifyEvent.APPLIED,
        d.NotifyEvent.FAILED,
        d.NotifyEvent.COMPLIANCE,
    ]


# The schema's defaults, converted, are the values' own defaults (field for field).
@pytest.mark.parametrize(
    ("model", "convert", "value", "required"),
    [
        (schema.PracticeSpec, schema.to_practice, d.PracticeSpec, {}),
        (schema.StaffSpec, schema.to_staff, d.StaffSpec, {"id": "b"}),
        (schema.ClientSpec, schema.to_client, d.ClientSpec, {"id": "C-1"}),
        (schema.PolicySpec, schema.to_policy, d.PolicySpec, {"name": "p"}),
        (schema.NotifySpec, lambda m: d.NotifySpec(**dict(m)), d.NotifySpec, {"url": "https://h"}),
    ],
)
def test_the_values_defaults_are_the_schemas(model: Any, convert: Any, value: Any, required: dict[str, Any]) -> None:
    from_schema = convert(model(**required))
    plain = value(**required)
    assert [f.name for f in dataclasses.fields(plain) if f.compare] == list(model.model_fields)
    for f in dataclasses.fields(plain):
        if f.compare:
            got, want = getattr(from_schema, f.name), getattr(plain, f.name)
            assert got == want and type(got) is type(want), f.name


FILE = {
    "version": 1,
    "practice": {
        "owner": "alee",
        "billing_cycle_day": 1,
        "notify": [{"url": "https://h/x", "events": ["compliance"], "secret_env": "S"}],
    },
    "staff": [
        {
            "id": "bsmith",
            "role": "clinician",
            "active": False,
            "deactivate_on": dt.date(2026, 12, 1),
            "settings": {"a": 1},
        },
        {"id": "jdoe"},
    ],
    "clients": [{"id": "C-1", "status": "inactive", "primary": "jdoe"}],
    "policies": [{"name": "keep", "other_clients": "transfer"}],
}


def test_a_validated_file_becomes_its_plain_values() -> None:
    values = schema.to_file(schema.ConfigFile.model_validate(FILE))
    assert values == d.FileValues(
        d.PracticeSpec(
            owner="alee",
            billing_cycle_day=1,
            notify=[d.NotifySpec(url="https://h/x", events=[d.NotifyEvent.COMPLIANCE], secret_env="S")],
        ),
        [
            d.StaffSpec(
                id="bsmith", role=d.Role.CLINICIAN, active=False, deactivate_on=dt.date(2026, 12, 1), settings={"a": 1}
            ),
            d.StaffSpec(id="jdoe"),
        ],
        [d.ClientSpec(id="C-1", status=d.ClientStatus.INACTIVE, primary="jdoe")],
        [d.PolicySpec(name="keep", other_clients=d.OtherClients.TRANSFER)],
    )
    assert values.practice is not None and values.practice.given == {"owner", "billing_cycle_day", "notify"}
    assert schema.to_file(schema.ConfigFile.model_validate({"version": 1})) == d.FileValues(None, [], [], [])


def test_which_practice_keys_were_written_is_not_part_of_its_value() -> None:
    written = d.PracticeSpec(billing_cycle_day=1, given=frozenset({"billing_cycle_day"}))
    assert written == d.PracticeSpec() and written.given == {"billing_cycle_day"} and d.PracticeSpec().given == set()
    assert "given" not in repr(written)


def test_written_is_what_an_entry_says() -> None:
    spec = d.StaffSpec(id="b", role="clinician", active=False)
    assert d.written(spec) == {"id": "b", "role": d.Role.CLINICIAN, "active": False, "signing_keys": []}
    assert list(d.written(d.PracticeSpec(owner="a", given=frozenset({"owner"})))) == [
        "owner",
        "unmanaged_staff",
        "max_change_percent",
        "client_future_sessions",
        "notify",
        "default_policy",
        "billing_cycle_day",
    ]


def test_changes_and_context_of_any_mapping_type_are_written_as_objects() -> None:
    import json

    a = Action(
        1,
        ActionType.CLIENT_REASSIGN,
        "C-1",
        "bsmith",
        MappingProxyType({"primary": ("bsmith", "jdoe")}),
        "r",
        context=MappingProxyType({"b": 1, "a": 2}),
    )
    p = Plan(as_of="t", db_fingerprint="f", config_digest="c", actions=(a,))
    [line] = [x for x in p.dumps().split("\n") if x.startswith('    {"id": ')]
    assert line == "    " + json.dumps(a.to_json(), ensure_ascii=False)
    body = {k: v for k, v in p.to_json().items() if k != "generated_at"}
    import hashlib

    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert p.plan_id == "plan-" + hashlib.sha256(canonical).hexdigest()[:12]
