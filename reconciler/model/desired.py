"""The desired state: pydantic models of what people write in the config directory.

These models are the single source of ``schemas/config.schema.json`` (see
``reconciler.config.schema_gen``). Unknown keys are forbidden everywhere. Values are frozen.

:class:`DesiredState` is the merged, located value the rest of the program works
with: the files' lists merged, built-in policies added, and a map from every
declared entity to the file:line where it was declared.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from reconciler.errors import Location
from reconciler.model.limits import INT32_MAX

Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]

#: Key types a ``signing_keys`` line may have (ed25519 at least, SPEC §7.2).
SIGNING_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


def _check_public_key(line: str) -> str:
    """An OpenSSH public key line ``TYPE BASE64 [COMMENT]`` that can verify signatures."""
    import base64
    import binascii
    import struct

    from reconciler.security import sshsig

    parts = line.strip().split(None, 2)
    if len(parts) < 2 or parts[0] not in SIGNING_KEY_TYPES:
        raise ValueError("not an OpenSSH public key line (TYPE BASE64 [COMMENT]) of a supported type")
    if parts[0].startswith("sk-"):  # security keys: cryptography cannot load them; check the blob's type
        try:
            blob = base64.b64decode(parts[1], validate=True)
            (n,) = struct.unpack(">I", blob[:4])
            ok = blob[4 : 4 + n].decode("ascii") == parts[0]
        except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{parts[0]} public key cannot be read")
        return line.strip()
    try:
        sshsig.public_key_blob(line)
    except sshsig.SignatureError as exc:
        raise ValueError(str(exc)) from None
    return line.strip()


SigningKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com"
        r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$"
    ),
    AfterValidator(_check_public_key),
]
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class Role(str, enum.Enum):
    OWNER = "owner"
    CLINICAL_DIRECTOR = "clinical_director"
    PRACTICE_MANAGER = "practice_manager"
    CLINICIAN = "clinician"
    BILLER = "biller"
    ADMIN = "admin"


class Access(str, enum.Enum):
    ENTIRE_PRACTICE = "entire_practice"
    ASSIGNED_CLIENTS = "assigned_clients"
    SCHEDULING_ONLY = "scheduling_only"


class ClientStatus(str, enum.Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DELETED = "deleted"


class UnmanagedStaff(str, enum.Enum):
    IGNORE = "ignore"
    REPORT = "report"
    DEACTIVATE = "deactivate"


class FutureSessions(str, enum.Enum):
    CANCEL = "cancel"
    TRANSFER = "transfer"


class ClientFutureSessions(str, enum.Enum):
    """What happens to a leaving client's scheduled sessions (SPEC §8.2)."""

    CANCEL = "cancel"
    KEEP = "keep"


class OtherClients(str, enum.Enum):
    INACTIVATE = "inactivate"
    TRANSFER = "transfer"


class ExportFormat(str, enum.Enum):
    NONE = "none"
    FHIR = "fhir"
    CSV = "csv"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class NotifyEvent(str, enum.Enum):
    APPLIED = "applied"
    FAILED = "failed"
    COMPLIANCE = "compliance"


class NotifySpec(_Model):
    """One webhook of ``practice.notify`` (SPEC §8.7)."""

    url: Annotated[str, StringConstraints(pattern=r"^https?://")] = Field(description="Where the summary is POSTed.")
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


class DesiredState(_Model):
    """The merged config directory.

    ``locations`` maps ``"staff:<id>"``, ``"client:<id>"``, ``"policy:<name>"`` and
    ``"practice"`` (and ``"<key>.<field>"`` for fields, e.g. ``"staff:bsmith.successor"``)
    to where they were written, so that later checks can name file:line.
    """

    practice: PracticeSpec = PracticeSpec()
    staff: tuple[StaffSpec, ...] = ()
    clients: tuple[ClientSpec, ...] = ()
    policies: tuple[PolicySpec, ...] = ()  # config policies and built-ins, config wins, sorted by name
    locations: dict[str, Location] = Field(default_factory=dict)
    config_digest: str = "sha256:" + "0" * 64
    source: str = "."

    def staff_by_id(self) -> dict[str, StaffSpec]:
        return {s.id: s for s in self.staff}

    def clients_by_id(self) -> dict[str, ClientSpec]:
        return {c.id: c for c in self.clients}

    def policy(self, name: str) -> PolicySpec | None:
        for p in self.policies:
            if p.name == name:
                return p
        return None

    def where(self, key: str) -> Location:
        """Location of an entity or field key; falls back to the entity, then unknown."""
        if key in self.locations:
            return self.locations[key]
        # The entity is the longest located prefix: ids may contain dots ("staff:b.smith.successor").
        head = key
        while "." in head:
            head = head.rsplit(".", 1)[0]
            if head in self.locations:
                return self.locations[head]
        return Location(entity=key.split(".")[0].replace(":", " "))
