"""Export files: a professional's (or one client's) records as a FHIR R4 Bundle or CSV.

These files are the one place client names may appear (they are PHI); each is
created with mode 0600 and never overwrites an existing file (``O_CREAT|O_EXCL``).

What is exported
    ``staff``: the clients whose primary is that professional plus every client with
    an appointment with them (any status), and that professional's appointments.
    ``client`` (written before a deletion): that client alone and all of the client's
    appointments. Practitioners referenced by the patients and appointments are
    included so every reference in the bundle resolves.

FHIR (``fhir``)
    A ``Bundle`` of type ``collection`` (R4 / R4B resources from ``fhir.resources``,
    validated as they are built): one ``Practitioner`` per referenced staff member,
    one ``Patient`` per client (name, active, identifier = client id,
    generalPractitioner, ``link`` replaced-by for duplicates) and one ``Appointment``
    per session (status booked/cancelled/fulfilled/noshow, start/end, participants,
    cancelation reason, telehealth and series as extensions). ``fullUrl`` values are
    deterministic ``urn:uuid`` ids and references point at them.

CSV (``csv``)
    One row per appointment, carrying the client's columns; a client without
    appointments has one row with empty appointment columns. Columns:
    ``CSV_COLUMNS``. Rows are ordered by client id, start, appointment id. Text
    cells that a spreadsheet would run as a formula are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import ExportError
from reconciler.model.records import ExportData
from reconciler.timeutil import iso_z_or_none

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.targets.base import Target

FORMATS = ("fhir", "csv")
CSV_COLUMNS = (
    "client_id",
    "first_name",
    "last_name",
    "client_status",
    "primary",
    "balance_cents",
    "portal_access",
    "duplicate_of",
    "appointment_id",
    "staff",
    "start",
    "end",
    "appointment_status",
    "series",
    "telehealth",
    "cancel_reason",
)
FHIR_STATUS = {"scheduled": "booked", "cancelled": "cancelled", "completed": "fulfilled", "no_show": "noshow"}
ID_SYSTEM = "urn:reconciler:{kind}"
EXT_TELEHEALTH = "urn:reconciler:extension:telehealth"
EXT_SERIES = "urn:reconciler:extension:series"
_UUID_NS = uuid.UUID("6b1f6c4e-6d0b-4a53-9d8e-3f6a2c1b7e10")
_FHIR_ID_BAD = re.compile(r"[^A-Za-z0-9\-.]")


# ---------------------------------------------------------------- rendering
def _fhir_id(raw: str) -> str:
    return _FHIR_ID_BAD.sub("-", raw)[:64]


def _full_url(kind: str, raw: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_UUID_NS, f'{kind}/{raw}')}"


_SYSTEM_OF = {"Practitioner": "staff", "Patient": "client", "Appointment": "appointment"}


def _ref(kind: str, raw: str) -> dict[str, Any]:
    system = ID_SYSTEM.format(kind=_SYSTEM_OF[kind])
    return {"reference": _full_url(kind, raw), "type": kind, "identifier": {"system": system, "value": raw}}


def _ident(kind: str, raw: str) -> list[dict[str, str]]:
    return [{"system": ID_SYSTEM.format(kind=kind), "value": raw}]


def render_fhir(data: ExportData, generated_at: dt.datetime) -> str:
    """The FHIR R4 (R4B resources) collection Bundle as JSON, validated by fhir.resources."""
    from fhir.resources.R4B.appointment import Appointment
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.patient import Patient
    from fhir.resources.R4B.practitioner import Practitioner

    entries: list[dict[str, Any]] = []
    for s in data.practitioners:
        res = Practitioner(
            id=_fhir_id(s.id), identifier=_ident("staff", s.id), active=bool(s.active), name=[{"text": s.name}]
        )
        entries.append({"fullUrl": _full_url("Practitioner", s.id), "resource": res})
    for c in data.clients:
        patient: dict[str, Any] = {
            "id": _fhir_id(c.id),
            "identifier": _ident("client", c.id),
            "active": c.status == "active",
            "name": [{"use": "official", "family": c.last_name, "given": [c.first_name]}],
        }
        if c.primary_id:
            patient["generalPractitioner"] = [_ref("Practitioner", c.primary_id)]
        if c.duplicate_of:
            patient["link"] = [{"other": _ref("Patient", c.duplicate_of), "type": "replaced-by"}]
        entries.append({"fullUrl": _full_url("Patient", c.id), "resource": Patient(**patient)})
    for a in data.appointments:
        appt: dict[str, Any] = {
            "id": _fhir_id(a.id),
            "identifier": _ident("appointment", a.id),
            "status": FHIR_STATUS.get(a.status, "booked"),
            "start": iso_z_or_none(a.start_at),
            "end": iso_z_or_none(a.end_at),
            "participant": [
                {"actor": _ref("Patient", a.client_id), "status": "accepted"},
                {"actor": _ref("Practitioner", a.staff_id), "status": "accepted"},
            ],
            "extension": [{"url": EXT_TELEHEALTH, "valueBoolean": bool(a.telehealth)}],
        }
        if a.series_id:
            appt["extension"].append({"url": EXT_SERIES, "valueString": a.series_id})
        if a.cancel_reason:
            appt["cancelationReason"] = {"text": a.cancel_reason}
        entries.append({"fullUrl": _full_url("Appointment", a.id), "resource": Appointment(**appt)})
    bundle = Bundle(type="collection", timestamp=iso_z_or_none(generated_at), entry=entries)
    return bundle.model_dump_json(indent=2) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return iso_z_or_none(value) or ""
    text = str(value)
    # A spreadsheet would run these as formulas (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not isinstance(value, int) else text


def render_csv(data: ExportData) -> str:
    """One row per appointment with the client's columns (see module docstring)."""
    by_client: dict[str, list[Any]] = {}
    for a in data.appointments:
        by_client.setdefault(a.client_id, []).append(a)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c in data.clients:
        head = [
            c.id,
            c.first_name,
            c.last_name,
            c.status,
            c.primary_id,
            c.balance_cents,
            c.portal_access,
            c.duplicate_of,
        ]
        appts = sorted(by_client.get(c.id, []), key=lambda a: (a.start_at, a.id))
        if not appts:
            w.writerow([_cell(v) for v in head] + [""] * 8)
        for a in appts:
            w.writerow(
                [
                    _cell(v)
                    for v in head
                    + [a.id, a.staff_id, a.start_at, a.end_at, a.status, a.series_id, a.telehealth, a.cancel_reason]
                ]
            )
    return buf.getvalue()


def render_export(data: ExportData, fmt: str, generated_at: dt.datetime) -> bytes:
    """``fhir`` or ``csv`` text of an export, UTF-8."""
    if fmt == "fhir":
        return render_fhir(data, generated_at).encode("utf-8")
    if fmt == "csv":
        return render_csv(data).encode("utf-8")
    raise ExportError(f"unknown export format {fmt!r} (expected one of: {', '.join(FORMATS)})")


# ---------------------------------------------------------------- writing
def write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and write ``data`` durably; never overwrite.

    An existing file (or a symlink in its place) is an :class:`ExportError` and is
    left untouched.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot create export file ({exc.strerror}); nothing was changed") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask says
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)  # the export must survive a crash that follows it
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise ExportError(f"{path}: cannot write export file ({exc.strerror}); nothing was changed") from None
    os.close(fd)


def _exists(path: Path) -> ExportError:
    return ExportError(
        f"{path}: export file already exists; refusing to overwrite it (move it away, then re-run); nothing was changed"
    )


def refuse_existing(path: Path) -> None:
    """Fail early (before any work) when an export file is already there."""
    if path.exists() or path.is_symlink():
        raise _exists(path)


def ensure_dir(directory: Path) -> None:
    """Create the export directory (mode 0700) if missing."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ExportError(
            f"{directory}: cannot create export directory ({exc.strerror}); nothing was changed"
        ) from None


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (expected one of: {', '.join(FORMATS)})")


def export_staff(target: "Target", staff_id: str, fmt: str, out: Path, generated_at: dt.datetime | None = None) -> int:
    """Write ``staff_id``'s client records to ``out`` (0600, never overwrites);
    returns the number of clients exported."""
    return _export(target, False, staff_id, fmt, out, generated_at)


def export_client(
    target: "Target", client_id: str, fmt: str, out: Path, generated_at: dt.datetime | None = None
) -> int:
    """Write one client's records to ``out`` (0600, never overwrites); returns 1."""
    return _export(target, True, client_id, fmt, out, generated_at)


def _export(
    target: "Target", of_client: bool, ident: str, fmt: str, out: Path, generated_at: dt.datetime | None
) -> int:
    _check_format(fmt)
    refuse_existing(out)
    target.require_schema()  # an uninitialised database is one clear error, not a SQL one
    with target.reading() as session:
        data = session.export_data(ident, client=of_client)
    if out.parent != Path(""):
        ensure_dir(out.parent)
    write_new_file(out, render_export(data, fmt, generated_at or dt.datetime.now(dt.timezone.utc)))
    return len(data.clients)
