"""The action vocabulary and the plan value; the SPEC §5 JSON lives here only.

``changes`` conventions (``{field: [before, after]}``, JSON values; times are UTC
ISO strings ending in ``Z``, dates ``YYYY-MM-DD``):

=============================  ==============================================================
practice.update                each differing practice setting among owner, clinical_director,
                               timezone, client_plan_limit; ``target`` is ``practice``
staff.create                   every declared field: ``[null, value]`` (``active`` included)
staff.update                   each differing field among name, role, access, billing_role,
                               max_caseload, settings
staff.schedule_deactivation    ``deactivate_on: [old|null, "YYYY-MM-DD"]`` (also used to clear: ``[old, null]``)
staff.deactivate               ``active: [true, false]``, ``deactivated_at: [null, as_of]``
staff.reactivate               ``active: [false, true]``, ``deactivated_at: [old, null]``,
                               and ``deactivate_on: [old, null]`` when one was recorded
appointment.cancel             ``status: ["scheduled", "cancelled"]``, ``cancel_reason: [old, reason]``
appointment.transfer           ``staff: [old, new]``
series.end                     ``active: [true, false]``, ``until: [old, as_of or cutoff]``; ahead of a
                               scheduled date only ``until: [old, cutoff]`` (the series stays active until then)
series.transfer                ``staff: [old, new]``
appointment.restore            (``revert``) ``status: ["cancelled", "scheduled"]``, ``cancel_reason: [reason, old]``
series.restore                 (``revert``) ``active: [false, true]``, ``until: [cutoff, old]``
series.split                   ``until: [old, cutoff]``, ``successor_series: [null, new id]``; the new
                               series (same rule, ``context`` says its staff and first start) is
                               created for the successor from the first occurrence at/after the cutoff
client.reassign                ``primary: [old, new]``
client.inactivate              ``status: [old, "inactive"]``, ``primary: [old, null]``, ``portal_access: [old, false]``
client.reactivate              ``status: ["inactive", "active"]`` and ``primary: [old, new]`` if it changes
client.mark_duplicate          ``status: [old, "inactive"]``, ``duplicate_of: [old, id]``,
                               ``primary: [old, null]``, ``portal_access: [old, false]``
client.delete                  ``status: [old, "deleted"]``, ``deleted_at: [null, as_of]``,
                               ``primary: [old, null]``, ``portal_access: [old, false]``
client.purge                   ``deleted_at: [when, null]``, ``exists: [true, false]``
export.write                   ``format: [null, "fhir"|"csv"]``, ``file: [null, "<file name>"]``;
                               ``target`` is the staff id (offboarding) or client id (deletion)
=============================  ==============================================================

``context`` (optional, an extension of SPEC §5: written as ``"context"`` only when
non-empty) says what a target *is*, so a reader can tell one session from another.
It never changes anything and holds ids only, never names:

* ``appointment.*``: ``{"client": id, "start": iso Z, "end": iso Z, "telehealth": bool}``
* ``series.*``: ``{"client": id, "rrule": "FREQ=...", "first_start": iso Z}``

Only the fields shown change; a writer applies ``after`` where the row still holds
``before`` (conditional writes), and the executor fails the whole apply otherwise.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping

from reconciler.jsontext import reusable

FORMAT_VERSION = 1
# reconciler.model.limits.INT32_MAX (the audit trail's INTEGER action_id column), not
# imported from there: that module pulls in pydantic, which reading a plan never needs.
_ACTION_ID_MAX = 2**31 - 1


class ActionType(str, enum.Enum):
    """Every action a plan can hold; values are the SPEC strings."""

    PRACTICE_UPDATE = "practice.update"
    STAFF_CREATE = "staff.create"
    STAFF_UPDATE = "staff.update"
    STAFF_SCHEDULE_DEACTIVATION = "staff.schedule_deactivation"
    STAFF_DEACTIVATE = "staff.deactivate"
    STAFF_REACTIVATE = "staff.reactivate"
    APPOINTMENT_CANCEL = "appointment.cancel"
    APPOINTMENT_TRANSFER = "appointment.transfer"
    APPOINTMENT_RESTORE = "appointment.restore"
    SERIES_END = "series.end"
    SERIES_TRANSFER = "series.transfer"
    SERIES_SPLIT = "series.split"
    SERIES_RESTORE = "series.restore"
    CLIENT_REASSIGN = "client.reassign"
    CLIENT_INACTIVATE = "client.inactivate"
    CLIENT_REACTIVATE = "client.reactivate"
    CLIENT_MARK_DUPLICATE = "client.mark_duplicate"
    CLIENT_DELETE = "client.delete"
    CLIENT_PURGE = "client.purge"
    EXPORT_WRITE = "export.write"

    @property
    def entity(self) -> str:
        """``practice`` | ``staff`` | ``appointment`` | ``series`` | ``client`` | ``export``."""
        return self.value.split(".", 1)[0]


_TYPE_BY_VALUE: dict[str, ActionType] = {t.value: t for t in ActionType}


@dataclass(frozen=True)
class Action:
    """One step of a plan. ``staff`` is the professional the action is grouped under."""

    id: int
    type: ActionType
    target: str
    staff: str | None
    changes: Mapping[str, tuple[Any, Any]]
    reason: str
    depends_on: tuple[int, ...] = ()
    drift: bool = False
    context: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The SPEC §5 action object (plus ``context`` when there is any)."""
        doc: dict[str, Any] = {
            "id": self.id,
            "type": self.type._value_,  # (.value goes through enum's slower descriptor)
            "target": self.target,
            "staff": self.staff,
            "changes": {k: [v[0], v[1]] for k, v in sorted(self.changes.items())},
            "reason": self.reason,
            "depends_on": list(self.depends_on),
            "drift": self.drift,
        }
        if self.context:
            doc["context"] = {k: self.context[k] for k in sorted(self.context)}
        return doc

    def _line(self, text: "_Texts") -> str:
        """This action's line of the plan file: ``json`` of :meth:`to_json` with the default
        separators and ``ensure_ascii=False``, written here field by field (a dictionary
        per action built only to be encoded was most of a large plan's rendering)."""
        changes = self.changes
        context = self.context
        line = (
            f'{{"id": {self.id}, "type": "{self.type._value_}", "target": {text.string(self.target)}, '
            f'"staff": {"null" if self.staff is None else text.string(self.staff)}, '
            f'"changes": {text.mapping(dict(sorted(changes.items())))}, '
            f'"reason": {text.reason(self.reason)}, "depends_on": [{", ".join(map(str, self.depends_on))}], '
            f'"drift": {"true" if self.drift else "false"}'
        )
        if context:
            return line + f', "context": {text.mapping(dict(sorted(context.items())))}}}'
        return line + "}"

    def _canonical(self, text: "_Texts") -> str:
        """This action in the plan id's canonical JSON (sorted keys, compact, ASCII)."""
        context = self.context
        return (
            f'{{"changes":{text.mapping(self.changes)},'
            + (f'"context":{text.mapping(context)},' if context else "")
            + f'"depends_on":[{",".join(map(str, self.depends_on))}],"drift":{"true" if self.drift else "false"},'
            f'"id":{self.id},"reason":{text.reason(self.reason)},'
            f'"staff":{"null" if self.staff is None else text.string(self.staff)},'
            f'"target":{text.string(self.target)},"type":"{self.type._value_}"}}'
        )

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Action":
        """Inverse of :meth:`to_json` (a plan saved before ``context`` existed reads as empty)."""
        ident = int(d["id"])
        if not 0 < ident <= _ACTION_ID_MAX:  # the audit trail stores it in an INTEGER column
            raise ValueError(f"action id {ident} is out of range")
        kind = d["type"]
        # The enum's value map first: ActionType(x) goes through EnumType.__call__ (slow
        # per action of a large saved plan); anything else still gets its ValueError.
        type_ = _TYPE_BY_VALUE.get(kind) if isinstance(kind, str) else None
        context = d.get("context")
        return cls(
            id=ident,
            type=type_ if type_ is not None else ActionType(kind),
            target=str(d["target"]),
            staff=d.get("staff"),
            changes={k: (v[0], v[1]) for k, v in d.get("changes", {}).items()},
            reason=str(d.get("reason", "")),
            depends_on=tuple(int(x) for x in d.get("depends_on", ())),
            drift=bool(d.get("drift", False)),
            context=dict(context) if context else {},
        )


@dataclass(frozen=True)
class Plan:
    """A computed plan. ``scope`` is the read scope (JSON-ready) that ``apply`` re-reads
    to recompute ``db_fingerprint``; ``extra`` holds further JSON-ready extensions
    (e.g. seat credit details). Deterministic apart from ``generated_at``."""

    as_of: str
    db_fingerprint: str
    config_digest: str
    actions: tuple[Action, ...]
    warnings: tuple[str, ...] = ()
    seats: Mapping[str, Any] = field(default_factory=lambda: {"before": 0, "after": 0})
    scope: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    generated_at: str = ""

    @property
    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for a in self.actions:
            counts[a.type._value_] = counts.get(a.type._value_, 0) + 1
        # Order the summary like the vocabulary, not like a hash table.
        return {t.value: counts[t.value] for t in ActionType if t.value in counts}

    @property
    def is_empty(self) -> bool:
        return not self.actions

    @cached_property
    def plan_id(self) -> str:
        """A stable id derived from the plan's content (not from generated_at).

        Computed once per plan (a plan is frozen): digesting thousands of actions is
        most of the text rendering's cost, and ``apply`` names the plan several times.
        Taken from the source :meth:`digest_from` was given, if any."""
        source = self.__dict__.pop("_plan_id_source", None)
        if source is not None:
            return str(source())
        return self.compute_plan_id()

    def compute_plan_id(self) -> str:
        """:attr:`plan_id` worked out afresh (a pure function of the plan)."""
        return _plan_id(self._doc(include_generated_at=False, actions=[]), self.actions)

    def digest_from(self, source: Callable[[], str]) -> None:
        """Let :attr:`plan_id` come from ``source`` (which must give :meth:`compute_plan_id`'s
        value), asked once and only when the id is first needed: :meth:`dumps` writes the id
        last and asks for it after the actions, so the caller may have it worked out
        elsewhere meanwhile (``reconciler.app`` digests a large plan on the second core).
        Nothing changes once the id is known."""
        if "plan_id" not in self.__dict__:
            self.__dict__["_plan_id_source"] = source

    def to_json(self, include_generated_at: bool = True) -> dict[str, Any]:
        doc = self._doc(include_generated_at, actions=[a.to_json() for a in self.actions])
        return doc

    def _doc(self, include_generated_at: bool = True, *, actions: list[dict[str, Any]]) -> dict[str, Any]:
        """:meth:`to_json` with ``actions`` as given (the writers pass ``[]`` and write the
        actions' text themselves)."""
        doc: dict[str, Any] = {"format_version": FORMAT_VERSION}
        if include_generated_at:
            doc["generated_at"] = self.generated_at
        doc.update(
            {
                "as_of": self.as_of,
                "db_fingerprint": self.db_fingerprint,
                "config_digest": self.config_digest,
                "actions": actions,
                "summary": self.summary,
                "warnings": list(self.warnings),
                "seats": dict(self.seats),
            }
        )
        if self.scope:
            doc["scope"] = dict(self.scope)
        if self.extra:
            doc["extra"] = dict(self.extra)
        return doc

    def dumps(self) -> str:
        """The plan file / ``--format json`` text: stable key order, 2-space indent,
        one action per line (readable, greppable, diff-friendly).

        Each action's line is written by :meth:`Action._line` (the standard library's
        encoder with ``indent`` falls back to its pure-Python encoder, which took a third
        of a 12,000-action ``reconciler plan``).
        """
        doc = self._doc(actions=[])
        parts = []
        for key, value in doc.items():
            if key == "actions" and self.actions:
                parts_of = _Texts(canonical=False)
                text = "[\n    " + ",\n    ".join([a._line(parts_of) for a in self.actions]) + "\n  ]"
            else:
                text = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            parts.append(f"  {json.dumps(key)}: {text}")
        # The id comes last, asked for after the actions are written (see digest_from).
        parts.append(f'  "plan_id": {json.dumps(self.plan_id, ensure_ascii=False)}')
        return "{\n" + ",\n".join(parts) + "\n}\n"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Plan":
        if d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported plan format_version {d.get('format_version')!r}")
        return cls(
            as_of=str(d["as_of"]),
            db_fingerprint=str(d["db_fingerprint"]),
            config_digest=str(d["config_digest"]),
            actions=tuple(Action.from_json(a) for a in d["actions"]),
            warnings=tuple(str(w) for w in d.get("warnings", [])),
            seats=dict(d.get("seats", {})),
            scope=dict(d.get("scope", {})),
            extra=dict(d.get("extra", {})),
            generated_at=str(d.get("generated_at", "")),
        )


class _Texts:
    """The JSON text of an action's parts in one flavour: the plan file's (default
    separators, UTF-8 as is) or the plan id's canonical one (sorted keys at every level,
    compact, ASCII), exactly as the standard library writes them. Encoders are built once
    per plan, and each distinct reason (a handful per plan) is encoded once."""

    __slots__ = ("string", "_encode", "reason")

    def __init__(self, *, canonical: bool) -> None:
        if canonical:
            self.string = json.encoder.encode_basestring_ascii
            self._encode = reusable(json.JSONEncoder(sort_keys=True, separators=(",", ":")))
        else:
            self.string = json.encoder.encode_basestring
            self._encode = reusable(json.JSONEncoder(ensure_ascii=False))
        self.reason: Callable[[str], str] = functools.cache(self.string)

    def mapping(self, value: Mapping[str, Any]) -> str:
        """A mapping's text (``changes``, ``context``: any Mapping, written as a dict)."""
        return self._encode(dict(value))


#: The canonical text of a plan body whose ``actions`` is empty starts so ("actions"
#: sorts first of a plan's keys: as_of, config_digest, ... come after it); the actions'
#: own text goes in its brackets.
_EMPTY_ACTIONS = '{"actions":[]'


def _plan_id(body: Mapping[str, Any], actions: Iterable[Action]) -> str:
    """``plan-`` + 12 hex digits of the SHA-256 of the canonical (sorted, compact) JSON of
    ``body`` with ``actions`` (``body`` has them empty).

    The database identity (``extra.db_id``) is left out: it says where the plan was
    made, not what it does (the same plan over two copies of a practice is one plan)."""
    extra = body.get("extra")
    if isinstance(extra, Mapping) and "db_id" in extra:
        rest = {k: v for k, v in extra.items() if k != "db_id"}
        body = {k: v for k, v in body.items() if k != "extra"} | ({"extra": rest} if rest else {})
    head = json.dumps(body, sort_keys=True, separators=(",", ":"))
    text = _Texts(canonical=True)
    raw = '{"actions":[' + ",".join([a._canonical(text) for a in actions]) + "]" + head[len(_EMPTY_ACTIONS) :]
    return "plan-" + hashlib.sha256(raw.encode()).hexdigest()[:12]
