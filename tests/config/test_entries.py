"""The config's plain pass (``reconciler.config.entries``) against the schema (pydantic).

The rule: the plain pass may give up on a file the schema accepts (the schema then
decides), but it never accepts a file the schema refuses, and what it accepts is
exactly the value the schema gives. And it must not give up on ordinary files, or it
saves nothing: a valid config is loaded, and planned, without importing pydantic.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from constants import CONFIG_EXAMPLE_DIRS
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.config import entries
from reconciler.config.loader import config_files, load_config
from reconciler.model import schema
from reconciler.model.desired import FileValues
from reconciler.safeyaml import safe_load_marked

ROOT = Path(__file__).resolve().parents[2]
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def _schema_values(data: Any) -> FileValues | None:
    try:
        return schema.to_file(schema.ConfigFile.model_validate(data))
    except ValidationError:
        return None


def _same(fast: FileValues, slow: FileValues) -> None:
    assert fast == slow
    if fast.practice is not None:
        assert slow.practice is not None
        assert fast.practice.given == slow.practice.given
    for a, b in zip(fast.staff, slow.staff):
        # equal values of the same types (an int is not a float here, nor a str an enum)
        assert [type(getattr(a, f)) for f in a.__dataclass_fields__] == [
            type(getattr(b, f)) for f in b.__dataclass_fields__
        ]


def _check(data: dict[str, Any]) -> FileValues | None:
    """The rule for one file; returns the plain pass's value (None: it gave up)."""
    fast = entries.file_values(data)
    slow = _schema_values(data)
    if fast is not None:
        assert slow is not None, f"the plain pass accepted what the schema refuses: {data!r}"
        _same(fast, slow)
    return fast


# Values for each field: (value, True when the plain pass must take it itself).
COMMON: dict[str, list[Any]] = {
    "str": ["x", "", "élan", 3, 3.0, True, None, ["x"], {"a": 1}, dt.date(2026, 1, 2)],
    "slug": ["bsmith", "b.smith-2", "A" * 64, "A" * 65, "-x", "x y", "x\n", "ü", "", 7, None],
    "int": [0, 1, 28, 29, 2**31 - 1, 2**31, -1, "3", 3.0, True, False, None],
    "float": [20, 20.0, 0.5, 100, 100.0, 100.5, 0, -1, "20", True, float("nan"), float("inf"), None],
    "bool": [True, False, "true", "yes", 1, 0, None, "False"],
    "date": [dt.date(2026, 12, 1), "2026-12-01", dt.datetime(2026, 12, 1), "2026-13-01", 20261201, None],
}

STAFF_FIELDS = {
    "name": "str",
    "billing_role": "str",
    "offboarding": "str",
    "successor": "slug",
    "max_caseload": "int",
    "active": "bool",
    "deactivate_on": "date",
}
ENUMS = {
    ("staff", "role"): ["owner", "clinician", "Clinician", "nurse", 1, None],
    ("staff", "access"): ["entire_practice", "assigned_clients", "all", None],
    ("clients", "status"): ["active", "inactive", "deleted", "gone", None],
    ("clients", "future_sessions"): ["cancel", "keep", "drop", None],
    ("policies", "future_sessions"): ["cancel", "transfer", "keep", None],
    ("policies", "other_clients"): ["inactivate", "transfer", None],
    ("policies", "export"): ["none", "fhir", "csv", "pdf", None],
    ("practice", "unmanaged_staff"): ["ignore", "report", "deactivate", "delete", None],
    ("practice", "client_future_sessions"): ["cancel", "keep", "later", None],
}
PRACTICE_FIELDS = {
    "name": "str",
    "timezone": "str",
    "owner": "slug",
    "clinical_director": "slug",
    "client_plan_limit": "int",
    "seat_price_cents": "int",
    "billing_cycle_day": "int",
    "max_change_percent": "float",
    "default_policy": "str",
}


def _cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for name, kind in STAFF_FIELDS.items():
        for v in COMMON[kind]:
            cases.append((f"staff.{name}={v!r}", {"version": 1, "staff": [{"id": "bsmith", name: v}]}))
    for name, kind in PRACTICE_FIELDS.items():
        for v in COMMON[kind]:
            cases.append((f"practice.{name}={v!r}", {"version": 1, "practice": {name: v}}))
    for (section, name), values in ENUMS.items():
        for v in values:
            if section == "practice":
                doc: dict[str, Any] = {"version": 1, "practice": {name: v}}
            else:
                key = "name" if section == "policies" else "id"
                doc = {"version": 1, section: [{key: "p-1", name: v}]}
            cases.append((f"{section}.{name}={v!r}", doc))
    for v in COMMON["slug"]:
        cases.append((f"clients.id={v!r}", {"version": 1, "clients": [{"id": v}]}))
        cases.append((f"clients.primary={v!r}", {"version": 1, "clients": [{"id": "C-1", "primary": v}]}))
        cases.append((f"clients.duplicate_of={v!r}", {"version": 1, "clients": [{"id": "C-1", "duplicate_of": v}]}))
        cases.append((f"policies.name={v!r}", {"version": 1, "policies": [{"name": v}]}))
    for v in COMMON["str"]:
        cases.append((f"policies.cancel_reason={v!r}", {"version": 1, "policies": [{"name": "p", "cancel_reason": v}]}))
        cases.append(
            (
                f"policies.clients_with_balance={v!r}",
                {"version": 1, "policies": [{"name": "p", "clients_with_balance": v}]},
            )
        )
    shapes: list[tuple[str, dict[str, Any]]] = [
        ("version 1", {"version": 1}),
        ("version 2", {"version": 2}),
        ("version '1'", {"version": "1"}),
        ("version True", {"version": True}),
        ("version 1.0", {"version": 1.0}),
        ("no version", {"staff": []}),
        ("unknown top key", {"version": 1, "staf": []}),
        ("staff null", {"version": 1, "staff": None}),
        ("staff a mapping", {"version": 1, "staff": {"id": "x"}}),
        ("staff entry a string", {"version": 1, "staff": ["bsmith"]}),
        ("staff without id", {"version": 1, "staff": [{"name": "B"}]}),
        ("staff unknown key", {"version": 1, "staff": [{"id": "b", "nickname": "B"}]}),
        ("practice null", {"version": 1, "practice": None}),
        ("practice a list", {"version": 1, "practice": []}),
        ("practice unknown key", {"version": 1, "practice": {"owner": "a", "ower": "b"}}),
        ("settings", {"version": 1, "staff": [{"id": "b", "settings": {"messaging_enabled": True, "x": [1]}}]}),
        ("settings null", {"version": 1, "staff": [{"id": "b", "settings": None}]}),
        ("settings a list", {"version": 1, "staff": [{"id": "b", "settings": [1]}]}),
        ("signing key", {"version": 1, "staff": [{"id": "b", "signing_keys": [f"{ED25519} b@laptop "]}]}),
        ("signing key bad", {"version": 1, "staff": [{"id": "b", "signing_keys": ["ssh-ed25519 AAAA"]}]}),
        ("signing key newline", {"version": 1, "staff": [{"id": "b", "signing_keys": [f"{ED25519}\n"]}]}),
        ("signing keys a string", {"version": 1, "staff": [{"id": "b", "signing_keys": ED25519}]}),
        ("notify", {"version": 1, "practice": {"notify": [{"url": "https://h/x"}]}}),
        (
            "notify events",
            {"version": 1, "practice": {"notify": [{"url": "http://h", "events": ["failed"], "secret_env": "S"}]}},
        ),
        ("notify bad event", {"version": 1, "practice": {"notify": [{"url": "http://h", "events": ["sent"]}]}}),
        ("notify ftp", {"version": 1, "practice": {"notify": [{"url": "ftp://h"}]}}),
        ("notify without url", {"version": 1, "practice": {"notify": [{"events": []}]}}),
    ]
    return cases + shapes


CASES = _cases()


@pytest.mark.parametrize("doc", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_the_plain_pass_never_accepts_more_than_the_schema_nor_another_value(doc: dict[str, Any]) -> None:
    _check(doc)


TAKEN = [
    {"version": 1},
    {"version": 1, "practice": None},
    {
        "version": 1,
        "practice": {
            "name": "P",
            "timezone": "America/New_York",
            "owner": "alee",
            "clinical_director": "mkhan",
            "client_plan_limit": 100,
            "unmanaged_staff": "report",
            "max_change_percent": 35,
            "client_future_sessions": "cancel",
            "notify": [{"url": "https://hooks.example/x", "events": ["applied"], "secret_env": "HOOK"}],
            "default_policy": "handover",
            "seat_price_cents": 6000,
            "billing_cycle_day": 28,
        },
        "staff": [
            {
                "id": "bsmith",
                "name": "B",
                "role": "clinician",
                "access": "assigned_clients",
                "billing_role": "rendering",
                "active": False,
                "deactivate_on": dt.date(2026, 12, 1),
                "successor": "jdoe",
                "offboarding": "standard",
                "max_caseload": 0,
                "settings": {"messaging_enabled": True},
                "signing_keys": [ED25519 + " b@laptop"],
            }
        ],
        "clients": [
            {"id": "C-1", "status": "inactive", "primary": "jdoe", "duplicate_of": "C-2", "future_sessions": "keep"}
        ],
        "policies": [
            {
                "name": "p",
                "future_sessions": "transfer",
                "clients_with_balance": "successor",
                "other_clients": "transfer",
                "export": "fhir",
                "cancel_reason": "moved",
            }
        ],
    },
]


@pytest.mark.parametrize("doc", TAKEN, ids=["version only", "practice null", "every field"])
def test_the_plain_pass_takes_ordinary_files_itself(doc: dict[str, Any]) -> None:
    assert _check(doc) is not None


def test_a_practice_remembers_which_keys_were_written() -> None:
    fast = entries.file_values({"version": 1, "practice": {"billing_cycle_day": 1, "owner": "alee"}})
    assert fast is not None and fast.practice is not None
    assert fast.practice.given == {"billing_cycle_day", "owner"}


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 2**31 + 1),
    st.floats(allow_nan=True),
    st.sampled_from(["", "x", "bsmith", "clinician", "cancel", "keep", "2026-12-01", "1", "yes", "a b", "x\n"]),
    st.dates(),
)
_staff_keys = st.sampled_from(
    ["id", "name", "role", "access", "active", "deactivate_on", "successor", "max_caseload", "offboarding", "nick"]
)
_practice_keys = st.sampled_from(list(PRACTICE_FIELDS) + ["unmanaged_staff", "client_future_sessions", "notify", "x"])


@settings(max_examples=300, deadline=None)
@given(
    staff=st.lists(st.dictionaries(_staff_keys, _scalars, max_size=5), max_size=3),
    practice=st.one_of(st.none(), st.dictionaries(_practice_keys, _scalars, max_size=4)),
)
def test_any_mix_of_values_obeys_the_rule(staff: list[dict[str, Any]], practice: dict[str, Any] | None) -> None:
    doc: dict[str, Any] = {"version": 1, "staff": staff}
    if practice is not None:
        doc["practice"] = practice
    _check(doc)


def test_every_example_config_takes_the_plain_pass_and_loads_as_through_the_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dirs = list(CONFIG_EXAMPLE_DIRS)
    assert len(dirs) >= 4
    for directory in dirs:
        for _rel, path in config_files(directory):
            data = safe_load_marked(path.read_text(encoding="utf-8"), str(path))
            assert _check(data) is not None, path
        fast = load_config(directory)
        with monkeypatch.context() as m:
            m.setattr(entries, "file_values", lambda data: None)
            m.setattr(entries, "policy_value", lambda data: None)
            slow = load_config(directory)
        assert fast == slow, directory
        assert fast.practice.given == slow.practice.given


def test_a_valid_config_is_loaded_and_planned_without_importing_pydantic(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    env = {**os.environ, "RECONCILER_DB": f"sqlite:///{db}"}
    for args in (["db", "init"], ["db", "load", str(ROOT / "examples" / "practice.yaml")]):
        subprocess.run([sys.executable, "-m", "reconciler", *args], env=env, check=True, capture_output=True)
    code = (
        "import sys; from reconciler.cli import main\n"
        "try:\n"
        f"    main(['plan', '-c', {str(ROOT / 'examples' / 'offboarding')!r}, '--at', '2026-11-24T15:00:00Z'])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, 2), e.code\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
        "assert 'reconciler.model.schema' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, cwd=tmp_path)


def test_a_file_the_plain_pass_gives_up_on_is_worded_by_the_schema(tmp_path: Path) -> None:
    from reconciler.errors import ConfigError

    (tmp_path / "staff.yaml").write_text("version: 1\nstaff:\n  - id: bsmith\n    active: maybe\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    [problem] = exc.value.problems
    assert (problem.location.line, problem.location.field) == (4, "staff[0].active")
    assert "valid boolean" in problem.message
