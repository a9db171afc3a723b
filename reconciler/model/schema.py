"""The config file format as pydantic models: the schema, and the words of its errors.

These models are the single source of ``schemas/config.schema.json`` (see
``reconciler.config.schema_gen``). Unknown keys are forbidden everywhere. The config
loader checks a file without them when it can (``reconciler.config.entries``, stricter
than these models, never looser) and asks them only about a file it cannot vouch for,
so that every problem is worded and located as pydantic words it; what they accept
becomes the plain values of :mod:`reconciler.model.desired` (:func:`to_file`).
Importing pydantic and building these classes is about a quarter of a second, which a
``plan`` of a valid config no longer pays.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from reconciler.model import desired as d
from reconciler.model.desired import (
    Access,
    ClientFutureSessions,
    ClientStatus,
    ExportFormat,
    FutureSessions,
    NotifyEvent,
    OtherClients,
    Role,
    UnmanagedStaff,
)
from reconciler.model.desired import (
    check_public_key as _check_public_key,
)
from reconciler.model.limits import INT32_MAX, INT64_MAX

#: A count or amount stored in an INTEGER column (``max_caseload``, ``client_plan_limit``...).
Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
#: The same, strict (no "3" or 3.0): snapshot files.
StrictInt32 = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]
#: Money in cents stored in a BIGINT column (``balance_cents``).
StrictInt64 = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]

Slug = Annotated[str, StringConstraints(pattern=d.SLUG_PATTERN)]

SigningKey = Annotated[
    str,
    StringConstraints(pattern=d.SIGNING_KEY_PATTERN),
    AfterValidator(_check_public_key),
]
ClientId = Annotated[str, StringConstraints(pattern=d.SLUG_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class NotifySpec(_Model):
    """One webhook of ``practice.notify`` (SPEC §8.7)."""

    url: Annotated[str, StringConstraints(pattern=d.URL_PATTERN)] = Field(description="Where the summary is POSTed.")
    events: list[NotifyEvent] = Field(
        default_factory=lambda: [NotifyEvent.APPLIED, NotifyEvent.FAILED, NotifyEvent.COMPLIANCE],
        description="Which events are sent.",
    )
    secret_env: str | None = Field(
        None, description="Environment variable holding the HMAC-SHA256 secret of the X-Reconciler-Signature header."
    )


class PracticeSpec(_Model):
    """The ``practice:`` mapping. Every field is optional; absent means "leave as is"."""

    name: str | None = Field(None, description="Practice name.")
    timezone: str | None = Field(
        None,
        description="IANA timezone, e.g. America/New_York; dates in the config are read in it.",
    )
    owner: Slug | None = Field(None, description="Staff id of the practice owner.")
    clinical_director: Slug | None = Field(None, description="Staff id of the clinical director.")
    client_plan_limit: int | None = Field(
        None,
        ge=0,
        le=INT32_MAX,
        description="Maximum number of active clients the practice's plan allows.",
    )
    unmanaged_staff: UnmanagedStaff = Field(
        UnmanagedStaff.IGNORE,
        description="What to do with staff in the database but not in the config.",
    )
    max_change_percent: float = Field(
        20.0,
        gt=0,
        le=100,
        description="Blast-radius guard: refuse plans that deactivate/inactivate more than this share.",
    )
    client_future_sessions: ClientFutureSessions = Field(
        ClientFutureSessions.KEEP,
        description="Default for a client the config inactivates, deletes or marks duplicate: cancel its "
        "scheduled sessions after now (and end its series), or keep them.",
    )
    notify: list[NotifySpec] = Field(
        default_factory=list, description="Webhooks told about applies, failures and compliance violations."
    )
    default_policy: str = Field("standard", description="Offboarding policy for staff without an `offboarding` key.")
    seat_price_cents: int | None = Field(
        None, ge=0, le=INT32_MAX, description="Monthly price of one seat, for the mid-cycle credit."
    )
    billing_cycle_day: int = Field(
        1,
        ge=1,
        le=28,
        description="Day of the month on which the billing cycle starts.",
    )


class StaffSpec(_Model):
    """One entry of ``staff:``. Absent optional fields are left as they are in the database."""

    id: Slug
    name: str | None = None
    role: Role | None = None
    access: Access | None = None
    billing_role: str | None = None
    active: bool = Field(True, description="Desired activity; false offboards the professional now.")
    deactivate_on: dt.date | None = Field(
        None,
        description="Scheduled deactivation: inactive from 00:00 that day, practice timezone.",
    )
    successor: Slug | None = Field(None, description="Takes over transferred clients and sessions.")
    offboarding: str | None = Field(None, description="Offboarding policy name (default: practice.default_policy).")
    max_caseload: int | None = Field(None, ge=0, le=INT32_MAX)
    settings: dict[str, Any] | None = Field(None, description="Free-form settings, e.g. messaging_enabled.")
    signing_keys: list[SigningKey] = Field(
        default_factory=list,
        description="OpenSSH public keys (ssh-ed25519 AAAA... user@host) whose signatures approve client deletions "
        "when this staff member's role is owner or practice_manager or access is entire_practice.",
    )


class ClientSpec(_Model):
    """One entry of ``clients:`` — by id only: no PHI in git."""

    id: ClientId
    status: ClientStatus | None = None
    primary: Slug | None = None
    duplicate_of: ClientId | None = None
    future_sessions: ClientFutureSessions | None = Field(
        None,
        description="For a client this entry inactivates, deletes or marks duplicate: cancel its scheduled "
        "sessions after now (and end its series) or keep them (default: practice.client_future_sessions).",
    )


class PolicySpec(_Model):
    """An offboarding policy."""

    name: Slug
    future_sessions: FutureSessions = FutureSessions.CANCEL
    clients_with_balance: str = Field(
        "clinical_director",
        description="owner | clinical_director | successor | <staff id>",
    )
    other_clients: OtherClients = OtherClients.INACTIVATE
    export: ExportFormat = ExportFormat.NONE
    cancel_reason: str = "Provider is no longer with the practice"


class ConfigFile(_Model):
    """One YAML file of the config directory."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="reconciler config file")

    version: Literal[1]
    practice: PracticeSpec | None = None
    staff: list[StaffSpec] = Field(default_factory=list)
    clients: list[ClientSpec] = Field(default_factory=list)
    policies: list[PolicySpec] = Field(default_factory=list)


# --------------------------------------------------------------------------- to values
def _fields(model: BaseModel, *skip: str) -> dict[str, Any]:
    return {name: getattr(model, name) for name in type(model).model_fields if name not in skip}


def to_practice(model: PracticeSpec) -> d.PracticeSpec:
    """The plain value of a validated ``practice:`` mapping."""
    return d.PracticeSpec(
        **_fields(model, "notify"),
        notify=[d.NotifySpec(**_fields(n)) for n in model.notify],
        given=frozenset(model.model_fields_set),
    )


def to_staff(model: StaffSpec) -> d.StaffSpec:
    """The plain value of a validated ``staff:`` entry."""
    return d.StaffSpec(**_fields(model))


def to_client(model: ClientSpec) -> d.ClientSpec:
    """The plain value of a validated ``clients:`` entry."""
    return d.ClientSpec(**_fields(model))


def to_policy(model: PolicySpec) -> d.PolicySpec:
    """The plain value of a validated policy."""
    return d.PolicySpec(**_fields(model))


def to_file(model: ConfigFile) -> d.FileValues:
    """The plain values of a validated config file."""
    return d.FileValues(
        to_practice(model.practice) if model.practice is not None else None,
        [to_staff(s) for s in model.staff],
        [to_client(c) for c in model.clients],
        [to_policy(p) for p in model.policies],
    )
