"""Export files (SPEC §3.1.1, §4 `export`): FHIR R4 Bundle or CSV of a professional's
clients, mode 0600, never overwriting; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from dbhelpers import PRACTICE_YAML
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.engine import Engine

from reconciler.app.exports import CSV_COLUMNS, FHIR_STATUS, export_client, export_staff
from reconciler.cli import main
from reconciler.errors import ExportError
from reconciler.targets.native.target import NativeTarget

SNAP: dict[str, Any] = yaml.safe_load(PRACTICE_YAML.read_text())
AT = dt.datetime(2026, 11, 24, 17, tzinfo=dt.timezone.utc)


def staff_clients(staff: str) -> set[str]:
    """The SPEC's 'professional's clients': primary, plus anyone with a session with them."""
    return {c["id"] for c in SNAP["clients"] if c.get("primary") == staff} | {
        a["client"] for a in SNAP["appointments"] if a["staff"] == staff
    }


def staff_appointments(staff: str) -> set[str]:
    return {a["id"] for a in SNAP["appointments"] if a["staff"] == staff}


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_fhir_export_is_a_valid_r4_collection_of_the_professionals_records(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "bsmith.fhir.json"
    n = export_staff(NativeTarget(engine), "bsmith", "fhir", out, generated_at=AT)
    text = out.read_text()
    Bundle.model_validate_json(text)  # fhir.resources validates every resource
    doc = json.loads(text)
    assert (doc["resourceType"], doc["type"]) == ("Bundle", "collection")
    patients = resources(doc, "Patient")
    assert n == len(patients)
    assert {p["identifier"][0]["value"] for p in patients} == staff_clients("bsmith")
    appts = resources(doc, "Appointment")
    assert {a["identifier"][0]["value"] for a in appts} == staff_appointments("bsmith")
    want_status = {a["id"]: FHIR_STATUS[a["status"]] for a in SNAP["appointments"] if a["staff"] == "bsmith"}
    assert {a["identifier"][0]["value"]: a["status"] for a in appts} == want_status
    assert "bsmith" in {p["id"] for p in resources(doc, "Practitioner")}
    first = next(c for c in SNAP["clients"] if c["id"] == "C-1001")
    c1001 = next(p for p in patients if p["id"] == "C-1001")
    assert c1001["name"][0] == {"use": "official", "family": first["last_name"], "given": [first["first_name"]]}


def test_every_reference_in_the_bundle_resolves(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    export_staff(NativeTarget(engine), "bsmith", "fhir", out, generated_at=AT)
    doc = json.loads(out.read_text())
    urls = {e["fullUrl"] for e in doc["entry"]}
    refs = [p["actor"]["reference"] for a in resources(doc, "Appointment") for p in a["participant"]]
    refs += [g["reference"] for p in resources(doc, "Patient") for g in p.get("generalPractitioner", [])]
    assert refs and set(refs) <= urls


def test_csv_export_has_one_row_per_appointment_with_client_columns(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "bsmith.csv"
    n = export_staff(NativeTarget(engine), "bsmith", "csv", out, generated_at=AT)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert n == len({r["client_id"] for r in rows}) == len(staff_clients("bsmith"))
    assert {r["appointment_id"] for r in rows if r["appointment_id"]} == staff_appointments("bsmith")
    assert len([r for r in rows if r["appointment_id"]]) == len(staff_appointments("bsmith"))
    a5 = next(r for r in rows if r["appointment_id"] == "A-5")
    assert (a5["client_id"], a5["first_name"], a5["start"], a5["appointment_status"], a5["series"]) == (
        "C-1001",
        "Tom",
        "2026-11-30T14:00:00Z",
        "scheduled",
        "S-1",
    )


def test_client_without_sessions_still_gets_a_row(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "c.csv"
    assert export_client(NativeTarget(engine), "C-1030", "csv", out, generated_at=AT) == 1
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["client_id"], r["appointment_id"]) for r in rows] == [("C-1030", "")]


def test_client_export_holds_that_client_alone(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    export_client(NativeTarget(engine), "C-1013", "fhir", out, generated_at=AT)
    doc = json.loads(out.read_text())
    assert [p["id"] for p in resources(doc, "Patient")] == ["C-1013"]
    assert {a["identifier"][0]["value"] for a in resources(doc, "Appointment")} == {
        a["id"] for a in SNAP["appointments"] if a["client"] == "C-1013"
    }


@pytest.mark.parametrize("fmt", ["fhir", "csv"])
def test_export_file_is_mode_0600_whatever_the_umask(engine: Engine, tmp_path: Path, fmt: str) -> None:
    import os

    old = os.umask(0)
    try:
        out = tmp_path / "x"
        export_staff(NativeTarget(engine), "jdoe", fmt, out, generated_at=AT)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("existing", ["file", "symlink"])
def test_export_never_overwrites(engine: Engine, tmp_path: Path, existing: str) -> None:
    out = tmp_path / "x.json"
    if existing == "file":
        out.write_text("keep me")
    else:
        (tmp_path / "target").write_text("keep me")
        out.symlink_to(tmp_path / "target")
    with pytest.raises(ExportError, match="already exists"):
        export_staff(NativeTarget(engine), "jdoe", "fhir", out, generated_at=AT)
    assert out.read_text() == "keep me"


def test_unknown_staff_is_an_export_error_and_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    with pytest.raises(ExportError, match="staff nobody"):
        export_staff(NativeTarget(engine), "nobody", "fhir", out)
    assert not out.exists()


def test_csv_cells_that_look_like_formulas_are_defused(engine: Engine, tmp_path: Path) -> None:
    from reconciler.targets.native.schema import clients_t

    with engine.begin() as conn:
        conn.execute(clients_t.update().where(clients_t.c.id == "C-1008").values(first_name="=HYPERLINK(1)"))
    out = tmp_path / "j.csv"
    export_staff(NativeTarget(engine), "jdoe", "csv", out, generated_at=AT)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["first_name"] for r in rows if r["client_id"] == "C-1008"} == {"'=HYPERLINK(1)"}


def test_export_command_writes_the_file_and_counts_clients(engine: Engine, tmp_path: Path, db_url: str) -> None:
    out = tmp_path / "sub" / "jdoe.csv"
    out.parent.mkdir()  # `export --out` never creates directories (issue 11)
    res = CliRunner().invoke(main, ["export", "--staff", "jdoe", "--format", "csv", "--out", str(out), "--db", db_url])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"wrote {out} ({len(staff_clients('jdoe'))} clients)"
    again = CliRunner().invoke(
        main, ["export", "--staff", "jdoe", "--format", "csv", "--out", str(out), "--db", db_url]
    )
    assert again.exit_code == 1 and "already exists" in again.output
