"""A config file's entries as plain values, checked here when they can be, else by the schema.

The config format is :mod:`reconciler.model.schema` (pydantic): it defines every type,
bound and default, the JSON schema, and the words and place of every problem. Importing
pydantic and building those models is about a quarter of a second, most of what a ``plan``
of a valid config costs before any work. So a file is first checked here, against the same
rules written as plain predicates, and turned straight into the values of
:mod:`reconciler.model.desired`. This pass only vouches for what it fully accepts: a value
of any other form (a quoted number, ``yes`` for a boolean, a date written as a string, an
unknown key, anything out of bounds) makes it give up on the whole file, and the schema
decides, accepting what it accepts and wording what it refuses. So it may be stricter than
the schema, never looser, and what it accepts is the value the schema would give: tests
hold it to both (``tests/config/test_entries.py``).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, TypeVar

from reconciler.model import desired as d
from reconciler.model.limits import INT32_MAX

_V = TypeVar("_V")
_Check = Callable[[Any], Any]


class _Doubt(Exception):
    """This pass cannot vouch for a value: the schema decides."""


def _pattern(pattern: str) -> Callable[[str], Any]:
    # pydantic-core matches with Rust's regex, where ``$`` is the end of the text only;
    # Python's ``$`` also matches before a final newline: ``\Z`` is the Rust meaning.
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern).match


_SIGNING_KEY = _pattern(d.SIGNING_KEY_PATTERN)


def _str(value: Any) -> str:
    if type(value) is str:
        return value
    raise _Doubt


def _matching(pattern: str) -> _Check:
    match = _pattern(pattern)

    def check(value: Any) -> str:
        if type(value) is str and match(value):
            return value
        raise _Doubt

    return check


_slug = _matching(d.SLUG_PATTERN)
_url = _matching(d.URL_PATTERN)


def _bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _Doubt


def _int(low: int, high: int) -> _Check:
    def check(value: Any) -> int:
        if type(value) is int and low <= value <= high:
            return value
        raise _Doubt

    return check


def _percent(value: Any) -> float:
    """``float``, ``gt=0, le=100`` (an int is taken as its float, as the schema does)."""
    if (type(value) is int or type(value) is float) and 0 < value <= 100:
        return float(value)
    raise _Doubt


def _date(value: Any) -> Any:
    import datetime as dt

    if type(value) is dt.date:  # a YAML date; a datetime or a string: the schema decides
        return value
    raise _Doubt


def _enum(kind: type[Any]) -> _Check:
    members = {m.value: m for m in kind}

    def check(value: Any) -> Any:
        if type(value) is str and value in members:
            return members[value]
        raise _Doubt

    return check


def _optional(check: _Check) -> _Check:
    return lambda value: None if value is None else check(value)


def _settings(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict) and all(type(k) is str for k in value):
        return dict(value)
    raise _Doubt


def _signing_key(value: Any) -> str:
    if type(value) is str and _SIGNING_KEY(value):
        try:
            return d.check_public_key(value)
        except ValueError:
            raise _Doubt from None
    raise _Doubt


def _list(check: _Check) -> _Check:
    def each(value: Any) -> list[Any]:
        if isinstance(value, list):
            return [check(item) for item in value]
        raise _Doubt

    return each


def _entry(
    cls: Callable[..., _V], fields: Mapping[str, _Check], required: frozenset[str], *, given: bool = False
) -> Callable[[Any], _V]:
    """A mapping with only known keys (the schema forbids others) and every required one;
    ``given``: the value also records which keys were written (pydantic's fields set)."""

    def build(value: Any) -> _V:
        if not isinstance(value, dict) or not value.keys() <= fields.keys() or not required <= value.keys():
            raise _Doubt
        checked = {key: fields[key](item) for key, item in value.items()}
        return cls(**checked, given=frozenset(checked)) if given else cls(**checked)

    return build


_NOTIFY = _entry(
    d.NotifySpec,
    {"url": _url, "events": _list(_enum(d.NotifyEvent)), "secret_env": _optional(_str)},
    frozenset({"url"}),
)

_PRACTICE = _entry(
    d.PracticeSpec,
    {
        "name": _optional(_str),
        "timezone": _optional(_str),
        "owner": _optional(_slug),
        "clinical_director": _optional(_slug),
        "client_plan_limit": _optional(_int(0, INT32_MAX)),
        "unmanaged_staff": _enum(d.UnmanagedStaff),
        "max_change_percent": _percent,
        "client_future_sessions": _enum(d.ClientFutureSessions),
        "notify": _list(_NOTIFY),
        "default_policy": _str,
        "seat_price_cents": _optional(_int(0, INT32_MAX)),
        "billing_cycle_day": _int(1, 28),
    },
    frozenset(),
    given=True,
)
_STAFF = _entry(
    d.StaffSpec,
    {
        "id": _slug,
        "name": _optional(_str),
        "role": _optional(_enum(d.Role)),
        "access": _optional(_enum(d.Access)),
        "billing_role": _optional(_str),
        "active": _bool,
        "deactivate_on": _optional(_date),
        "successor": _optional(_slug),
        "offboarding": _optional(_str),
        "max_caseload": _optional(_int(0, INT32_MAX)),
        "settings": _settings,
        "signing_keys": _list(_signing_key),
    },
    frozenset({"id"}),
)
_CLIENT = _entry(
    d.ClientSpec,
    {
        "id": _slug,
        "status": _optional(_enum(d.ClientStatus)),
        "primary": _optional(_slug),
        "duplicate_of": _optional(_slug),
        "future_sessions": _optional(_enum(d.ClientFutureSessions)),
    },
    frozenset({"id"}),
)
_POLICY = _entry(
    d.PolicySpec,
    {
        "name": _slug,
        "future_sessions": _enum(d.FutureSessions),
        "clients_with_balance": _str,
        "other_clients": _enum(d.OtherClients),
        "export": _enum(d.ExportFormat),
        "cancel_reason": _str,
    },
    frozenset({"name"}),
)
_FILE_KEYS = frozenset({"version", "practice", "staff", "clients", "policies"})


def file_values(data: Mapping[str, Any]) -> d.FileValues | None:
    """The values of one config file's top-level mapping, or None when this pass cannot
    vouch for all of it (then ``reconciler.model.schema`` decides)."""
    try:
        if not data.keys() <= _FILE_KEYS or type(data.get("version")) is not int or data["version"] != 1:
            return None
        return d.FileValues(
            _optional(_PRACTICE)(data.get("practice")),
            _list(_STAFF)(data.get("staff", [])),
            _list(_CLIENT)(data.get("clients", [])),
            _list(_POLICY)(data.get("policies", [])),
        )
    except _Doubt:
        return None


def policy_value(data: Any) -> d.PolicySpec | None:
    """A policy file's value (a built-in policy), or None when the schema must decide."""
    try:
        return _POLICY(data)
    except _Doubt:
        return None
