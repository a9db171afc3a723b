"""`reconciler import`: a config that describes the database, so the first plan is empty."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from constants import NOW, ROOT
from dbhelpers import PRACTICE_YAML, fresh_db

from reconciler.app.importer import (
    describe_clients,
    describe_staff,
    import_config,
)
from reconciler.errors import ReconcilerError
from reconciler.model.actual import Client as ImportedClient
from reconciler.model.actual import Staff as ImportedStaff
from reconciler.targets.native.target import NativeTarget


def client_names(snapshot: Path) -> set[str]:
    doc = yaml.safe_load(snapshot.read_text(encoding="utf-8"))
    return {c[k] for c in doc["clients"] for k in ("first_name", "last_name")}


def first_plan(engine: object, config_dir: Path) -> object:
    from reconciler.app.workflow import compute_plan
    from reconciler.config.loader import load_config

    return compute_plan(NativeTarget(engine), load_config(config_dir), at_text=None, now=NOW)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the rule: first plan is empty


def test_first_plan_against_the_imported_example_practice_is_empty(db_url: str, tmp_path: Path) -> None:
    engine = fresh_db(db_url, PRACTICE_YAML)
    out = tmp_path / "imported"
    written = import_config(NativeTarget(engine), out, now=NOW)
    assert [p.name for p in written] == ["practice.yaml", "staff.yaml", "clients.yaml"]
    plan = first_plan(engine, out)
    assert plan.actions == (), [a.to_json() for a in plan.actions]  # type: ignore[attr-defined]
    engine.dispose()


def test_first_plan_is_empty_after_the_database_was_changed_by_an_apply(db_url: str, tmp_path: Path) -> None:
    """Inactive, duplicate and deleted clients and an offboarded professional survive the round trip."""
    from reconciler.app.workflow import apply_plan, compute_plan
    from reconciler.config.loader import load_config

    engine = fresh_db(db_url, PRACTICE_YAML)
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    for src in (ROOT / "examples" / "clients").glob("*.yaml"):
        (cfg / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    plan = compute_plan(NativeTarget(engine), load_config(cfg), at_text=None, now=NOW)
    apply_plan(NativeTarget(engine), plan, actor="alee", confirm_delete=("C-1013",), export_dir=tmp_path / "exports")
    out = tmp_path / "imported"
    import_config(NativeTarget(engine), out, now=NOW)
    clients = yaml.safe_load((out / "clients.yaml").read_text(encoding="utf-8"))["clients"]
    assert {"id": "C-1013", "status": "deleted"} in clients
    assert {"id": "C-1012", "duplicate_of": "C-1011"} in clients
    assert first_plan(engine, out).actions == ()  # type: ignore[attr-defined]
    engine.dispose()


def test_first_plan_against_an_imported_generated_practice_is_empty(tmp_path: Path) -> None:
    from sqlalchemy import select

    from reconciler.targets.native.engine import make_engine
    from reconciler.targets.native.schema import clients_t

    url = f"sqlite:///{tmp_path / 'gen.db'}"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            "--staff",
            "20",
            "--clients",
            "500",
            "--appointments",
            "3000",
            "--seed",
            "7",
            "--db",
            url,
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    engine = make_engine(url)
    out = tmp_path / "imported"
    import_config(NativeTarget(engine), out, now=NOW)
    plan = first_plan(engine, out)
    assert plan.actions == (), [a.to_json() for a in plan.actions][:5]  # type: ignore[attr-defined]
    with engine.connect() as conn:
        names = {n for row in conn.execute(select(clients_t.c.first_name, clients_t.c.last_name)) for n in row}
    # staff.yaml holds staff names, which may share a first name with a client; the
    # files about clients and the practice must hold no client name at all.
    text = (out / "clients.yaml").read_text(encoding="utf-8") + (out / "practice.yaml").read_text(encoding="utf-8")
    assert sorted(n for n in names if re.search(rf"\b{re.escape(n)}\b", text)) == []
    engine.dispose()


# ---------------------------------------------------------------- what the files say


def test_files_carry_the_schema_modeline_and_say_they_were_generated(tmp_path: Path) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    written = import_config(NativeTarget(engine), tmp_path / "out", now=NOW)
    for path in written:
        first, second = path.read_text(encoding="utf-8").splitlines()[:2]
        assert first.startswith("# yaml-language-server: $schema=")
        ref = first.split("$schema=", 1)[1]
        assert ref.endswith("schemas/config.schema.json")
        assert (path.parent / ref).resolve() == (ROOT / "schemas" / "config.schema.json").resolve()
        assert "Generated by `reconciler import`" in second
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["version"] == 1
    engine.dispose()


def test_the_example_practice_imports_as_expected(tmp_path: Path) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    out = tmp_path / "out"
    import_config(NativeTarget(engine), out, now=NOW)
    practice = yaml.safe_load((out / "practice.yaml").read_text(encoding="utf-8"))["practice"]
    assert practice == {
        "name": "Sunrise Counseling",
        "timezone": "America/New_York",
        "owner": "alee",
        "clinical_director": "mkhan",
        "client_plan_limit": 500,
        "seat_price_cents": 6000,
    }
    staff = {s["id"]: s for s in yaml.safe_load((out / "staff.yaml").read_text(encoding="utf-8"))["staff"]}
    assert sorted(staff) == ["alee", "bsmith", "cdavis", "egarcia", "jdoe", "mkhan", "pmorgan", "rbill", "tnguyen"]
    assert staff["bsmith"] == {
        "id": "bsmith",
        "name": "Beth Smith",
        "role": "clinician",
        "access": "assigned_clients",
        "billing_role": "rendering",
        "active": True,
        "max_caseload": 40,
        "settings": {"messaging_enabled": True},
    }
    assert staff["tnguyen"]["active"] is False
    clients = yaml.safe_load((out / "clients.yaml").read_text(encoding="utf-8"))["clients"]
    assert clients == [{"id": "C-1030", "status": "inactive"}], "only non-default clients, by id"
    engine.dispose()


def test_no_client_name_is_ever_written(tmp_path: Path) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    out = tmp_path / "out"
    import_config(NativeTarget(engine), out, now=NOW)
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(out.iterdir()))
    leaked = sorted(n for n in client_names(PRACTICE_YAML) if n in text)
    assert leaked == []
    engine.dispose()


@pytest.mark.parametrize("content", ["file", "dir"], ids=["a-file-inside", "a-subdir-inside"])
def test_a_non_empty_out_dir_is_refused_and_left_alone(tmp_path: Path, content: str) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.yaml").write_text("keep me") if content == "file" else (out / "sub").mkdir()
    with pytest.raises(ReconcilerError, match="not empty"):
        import_config(NativeTarget(engine), out, now=NOW)
    assert sorted(p.name for p in out.iterdir()) == (["mine.yaml"] if content == "file" else ["sub"])
    engine.dispose()


def test_an_empty_existing_out_dir_is_fine(tmp_path: Path) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    (tmp_path / "out").mkdir()
    assert len(import_config(NativeTarget(engine), tmp_path / "out", now=NOW)) == 3
    engine.dispose()


# ---------------------------------------------------------------- pure description


@pytest.mark.parametrize(
    "client, entry",
    [
        (ImportedClient("C-1", "inactive"), {"id": "C-1", "status": "inactive"}),
        (ImportedClient("C-2", "deleted"), {"id": "C-2", "status": "deleted"}),
        (ImportedClient("C-3", "inactive", duplicate_of="C-9"), {"id": "C-3", "duplicate_of": "C-9"}),
        (ImportedClient("C-4", "deleted", duplicate_of="C-9"), {"id": "C-4", "status": "deleted"}),
        (ImportedClient("C-5", "active", primary="jdoe"), None),
    ],
    ids=["inactive", "deleted", "duplicate", "deleted-duplicate", "active-is-default"],
)
def test_clients_are_described_by_state_only(client: ImportedClient, entry: dict[str, str] | None) -> None:
    doc = describe_clients((client,))
    assert doc["clients"] == ([] if entry is None else [entry])


@pytest.mark.parametrize(
    "staff, expected",
    [
        (
            ImportedStaff("a", "A", "clinician", "assigned_clients", True),
            {"id": "a", "name": "A", "role": "clinician", "access": "assigned_clients", "active": True},
        ),
        (
            ImportedStaff("b", "B", "clinician", "assigned_clients", True, deactivate_on=dt.date(2026, 12, 31)),
            {
                "id": "b",
                "name": "B",
                "role": "clinician",
                "access": "assigned_clients",
                "active": True,
                "deactivate_on": dt.date(2026, 12, 31),
            },
        ),
        (
            ImportedStaff("c", "C", "clinician", "assigned_clients", False, deactivate_on=dt.date(2026, 1, 1)),
            {"id": "c", "name": "C", "role": "clinician", "access": "assigned_clients", "active": False},
        ),
    ],
    ids=["plain", "scheduled-deactivation-kept", "inactive-date-is-history"],
)
def test_staff_are_described_fully(staff: ImportedStaff, expected: dict[str, object]) -> None:
    assert describe_staff((staff,))["staff"] == [expected]


def test_active_clients_without_an_active_primary_are_flagged_for_attention(tmp_path: Path) -> None:
    from sqlalchemy import update

    from reconciler.targets.native.schema import clients_t

    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    with engine.begin() as conn:  # changes made outside the tool: the database breaks an invariant
        conn.execute(update(clients_t).where(clients_t.c.id == "C-1008").values(primary_id="tnguyen"))
        conn.execute(update(clients_t).where(clients_t.c.id == "C-1009").values(primary_id=None))
    out = tmp_path / "out"
    import_config(NativeTarget(engine), out, now=NOW)
    header = [line for line in (out / "clients.yaml").read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert any("Needs attention" in line for line in header)
    assert any("C-1008, C-1009" in line for line in header)
    engine.dispose()
