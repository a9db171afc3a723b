"""The desired state: what people write in the config directory, as plain frozen values.

:class:`DesiredState` is the merged, located value the rest of the program works
with: the files' lists merged, built-in policies added, and a map from every
declared entity to the file:line where it was declared.

The file format itself (types, bounds, defaults, the JSON schema and the words of
every error) is :mod:`reconciler.model.schema`, in pydantic; these values are what
it accepts, field for field, with the same defaults. They are plain dataclasses so
that planning a valid config never imports pydantic (a quarter of a second of
every ``plan``): ``reconciler.config.entries`` builds them directly, checking the
same rules, and asks the schema whenever it cannot vouch for a file. Enum fields
also take their values (``role="clinician"``), as the config does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import Location

#: Staff ids, client ids and policy names (``re.match`` this, or pydantic's ``pattern``:
#: ``$`` there is the end of the text, as ``\Z`` here).
SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: A ``signing_keys`` line's form (then :func:`check_public_key`).
SIGNING_KEY_PATTERN = (
    r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$"
)
#: A webhook URL's start.
URL_PATTERN = r"^https?://"

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


def check_public_key(line: str) -> str:
    """An OpenSSH public key line ``TYPE BASE64 [COMMENT]`` that can verify signatures
    (stripped); ValueError otherwise."""
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


class NotifyEvent(str, enum.Enum):
    APPLIED = "applied"
    FAILED = "failed"
    COMPLIANCE = "compliance"


def _coerce(obj: object, **kinds: type[enum.Enum]) -> None:
    """Each named field as a member of its enum (None stays None): the config's strings work."""
    for name, kind in kinds.items():
        value = getattr(obj, name)
        if value is not None and not isinstance(value, kind):
            object.__setattr__(obj, name, kind(value))


def _all_events() -> list[NotifyEvent]:
    return [NotifyEvent.APPLIED, NotifyEvent.FAILED, NotifyEvent.COMPLIANCE]


@dataclass(frozen=True)
class NotifySpec:
    """One webhook of ``practice.notify`` (SPEC §8.7)."""

    url: str
    events: list[NotifyEvent] = field(default_factory=_all_events)
    secret_env: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", [NotifyEvent(e) for e in self.events])


@dataclass(frozen=True)
class PracticeSpec:
    """The ``practice:`` mapping. Every field is optional; absent means "leave as is".
    ``given``: the keys the file wrote (a default and the same value written out differ
    where the planner asks, e.g. ``billing_cycle_day``)."""

    name: str | None = None
    timezone: str | None = None
    owner: str | None = None
    clinical_director: str | None = None
    client_plan_limit: int | None = None
    unmanaged_staff: UnmanagedStaff = UnmanagedStaff.IGNORE
    max_change_percent: float = 20.0
    client_future_sessions: ClientFutureSessions = ClientFutureSessions.KEEP
    notify: list[NotifySpec] = field(default_factory=list)
    default_policy: str = "standard"
    seat_price_cents: int | None = None
    billing_cycle_day: int = 1
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        _coerce(self, unmanaged_staff=UnmanagedStaff, client_future_sessions=ClientFutureSessions)


@dataclass(frozen=True)
class StaffSpec:
    """One entry of ``staff:``. Absent optional fields are left as they are in the database."""

    id: str
    name: str | None = None
    role: Role | None = None
    access: Access | None = None
    billing_role: str | None = None
    active: bool = True
    deactivate_on: dt.date | None = None
    successor: str | None = None
    offboarding: str | None = None
    max_caseload: int | None = None
    settings: dict[str, Any] | None = None
    signing_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _coerce(self, role=Role, access=Access)


@dataclass(frozen=True)
class ClientSpec:
    """One entry of ``clients:`` — by id only: no PHI in git."""

    id: str
    status: ClientStatus | None = None
    primary: str | None = None
    duplicate_of: str | None = None
    future_sessions: ClientFutureSessions | None = None

    def __post_init__(self) -> None:
        _coerce(self, status=ClientStatus, future_sessions=ClientFutureSessions)


@dataclass(frozen=True)
class PolicySpec:
    """An offboarding policy."""

    name: str
    future_sessions: FutureSessions = FutureSessions.CANCEL
    clients_with_balance: str = "clinical_director"
    other_clients: OtherClients = OtherClients.INACTIVATE
    export: ExportFormat = ExportFormat.NONE
    cancel_reason: str = "Provider is no longer with the practice"

    def __post_init__(self) -> None:
        _coerce(self, future_sessions=FutureSessions, other_clients=OtherClients, export=ExportFormat)


def written(entry: Any) -> dict[str, Any]:
    """An entry's fields that hold a value (not None), in field order: what it says."""
    return {
        f.name: getattr(entry, f.name)
        for f in dataclasses.fields(entry)
        if f.compare and getattr(entry, f.name) is not None
    }


@dataclass(frozen=True)
class FileValues:
    """What one config file declares, as plain values (``practice`` None when absent)."""

    practice: PracticeSpec | None
    staff: list[StaffSpec]
    clients: list[ClientSpec]
    policies: list[PolicySpec]


@dataclass(frozen=True)
class DesiredState:
    """The merged config directory.

    ``locations`` maps ``"staff:<id>"``, ``"client:<id>"``, ``"policy:<name>"`` and
    ``"practice"`` (and ``"<key>.<field>"`` for fields, e.g. ``"staff:bsmith.successor"``)
    to where they were written, so that later checks can name file:line.
    """

    practice: PracticeSpec = field(default_factory=PracticeSpec)
    staff: tuple[StaffSpec, ...] = ()
    clients: tuple[ClientSpec, ...] = ()
    policies: tuple[PolicySpec, ...] = ()  # config policies and built-ins, config wins, sorted by name
    locations: dict[str, Location] = field(default_factory=dict)
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
