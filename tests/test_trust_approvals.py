"""SPEC §7.2 (issue 10): deleting a client needs --confirm-delete AND a signed approval
by a staff member the config lists with a key and a role (owner, practice manager) or
access (entire practice) that may approve. On SQLite and PostgreSQL: an approval made by
the real `ssh-keygen -Y sign` or by `reconciler approve-delete` applies end to end (the
audit event records actor and signer); a tampered, expired, wrong-signer or wrong-client
approval is refused with exit 1 and nothing changed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from security.trust_keys import keygen, pub
from sqlalchemy.engine import Engine
from test_executor_support import AT, EXAMPLES, full_state, invoke, practice_db

from reconciler.security.approval import make_approval, render_document

TRAVEL = ("--at", AT, "--allow-time-travel")
PRACTICE = "sunrise-counseling"  # practice_id("Sunrise Counseling")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    return {name: keygen(d, name) for name in ("alee", "rbill", "stranger")}


@pytest.fixture
def setup(db_url: str, tmp_path: Path, keys: dict[str, Path]) -> tuple[Engine, Path]:
    """The clients example (deletes C-1013) with signing keys for alee (owner) and
    rbill (biller: may not approve)."""
    engine = practice_db(db_url)
    cfg = tmp_path / "cfg"
    shutil.copytree(EXAMPLES / "clients", cfg)
    f = cfg / "practice.yaml"
    body = f.read_text()
    body = body.replace(
        "  - {id: alee, name: Ana Lee, role: owner, access: entire_practice}",
        f'  - {{id: alee, name: Ana Lee, role: owner, access: entire_practice, signing_keys: ["{pub(keys["alee"])}"]}}',
    )
    body = body.replace(
        "  - {id: rbill, name: Rae Billings, role: biller, access: assigned_clients}",
        f"  - {{id: rbill, name: Rae Billings, role: biller, access: assigned_clients, "
        f'signing_keys: ["{pub(keys["rbill"])}"]}}',
    )
    assert body.count("signing_keys") == 2
    f.write_text(body)
    yield engine, cfg
    engine.dispose()


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def apply(db_url: str, cfg: Path, tmp_path: Path, *approvals: Path, confirm: str = "C-1013") -> Any:
    args = [
        "apply",
        "-c",
        str(cfg),
        "--auto-approve",
        "--confirm-delete",
        confirm,
        "--actor",
        "alee",
        "--export-dir",
        str(tmp_path / "exports"),
        *TRAVEL,
    ]
    for a in approvals:
        args += ["--approval", str(a)]
    return invoke(db_url, *args)


def refused(res: Any, *words: str) -> None:
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1, res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


def deleted_by(db_url: str) -> dict[str, Any]:
    events = json.loads(invoke(db_url, "audit", "--format", "json").output)
    return next(e for e in events if e["type"] == "client.delete" and e["target"] == "C-1013")


# ---------------------------------------------------------------- accepted
def test_an_approval_signed_by_ssh_keygen_applies_end_to_end(
    setup: tuple[Engine, Path], db_url: str, tmp_path: Path, keys: dict[str, Path]
) -> None:
    _, cfg = setup
    doc = tmp_path / "approval.yaml"
    doc.write_text(render_document(PRACTICE, ["C-1013"], "alee", now() + dt.timedelta(days=1), now()))
    subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "sign",
            "-n",
            "reconciler-approval",
            "-f",
            str(keys["alee"]),
            str(doc),
        ],
        check=True,
        capture_output=True,
    )
    approval = tmp_path / "approval"
    approval.write_bytes(doc.read_bytes() + doc.with_name("approval.yaml.sig").read_bytes())
    res = apply(db_url, cfg, tmp_path, approval)
    assert res.exit_code == 0, res.output
    event = deleted_by(db_url)
    assert event["actor"] == "alee" and event["signer"] == "alee"
    assert invoke(db_url, "audit", "verify").exit_code == 0


def test_an_approval_made_by_approve_delete_applies_end_to_end(
    setup: tuple[Engine, Path], db_url: str, tmp_path: Path, keys: dict[str, Path]
) -> None:
    _, cfg = setup
    out = tmp_path / "approval"
    made = invoke(
        db_url,
        "approve-delete",
        "C-1013",
        "--key",
        str(keys["alee"]),
        "--expires",
        "1d",
        "--out",
        str(out),
        "-c",
        str(cfg),
    )
    assert made.exit_code == 0, made.output
    assert 'signer: "alee"' in out.read_text() and f'practice: "{PRACTICE}"' in out.read_text()
    res = apply(db_url, cfg, tmp_path, out)
    assert res.exit_code == 0, res.output
    assert deleted_by(db_url)["signer"] == "alee"


# ---------------------------------------------------------------- refused
def _tampered(tmp: Path, keys: dict[str, Path]) -> bytes:
    good = make_approval(PRACTICE, ["C-1001"], "alee", now() + dt.timedelta(days=1), keys["alee"])
    return good.replace('"C-1001"', '"C-1013"').encode()


def _expired(tmp: Path, keys: dict[str, Path]) -> bytes:
    return make_approval(
        PRACTICE,
        ["C-1013"],
        "alee",
        now() - dt.timedelta(days=1),
        keys["alee"],
        created_at=now() - dt.timedelta(days=8),
    ).encode()


def _signer_not_allowed(tmp: Path, keys: dict[str, Path]) -> bytes:
    return make_approval(PRACTICE, ["C-1013"], "rbill", now() + dt.timedelta(days=1), keys["rbill"]).encode()


def _claims_owner_with_other_key(tmp: Path, keys: dict[str, Path]) -> bytes:
    return make_approval(PRACTICE, ["C-1013"], "alee", now() + dt.timedelta(days=1), keys["rbill"]).encode()


def _unlisted_key(tmp: Path, keys: dict[str, Path]) -> bytes:
    return make_approval(PRACTICE, ["C-1013"], "alee", now() + dt.timedelta(days=1), keys["stranger"]).encode()


def _wrong_client(tmp: Path, keys: dict[str, Path]) -> bytes:
    return make_approval(PRACTICE, ["C-1001"], "alee", now() + dt.timedelta(days=1), keys["alee"]).encode()


def _wrong_practice(tmp: Path, keys: dict[str, Path]) -> bytes:
    return make_approval("other-practice", ["C-1013"], "alee", now() + dt.timedelta(days=1), keys["alee"]).encode()


BAD = {
    "tampered": (_tampered, "altered after signing"),
    "expired": (_expired, "expired"),
    "signer-not-allowed": (_signer_not_allowed, "may not approve"),
    "wrong-signer-key": (
        _claims_owner_with_other_key,
        "not listed in signing_keys of staff alee",
    ),
    "unlisted-key": (_unlisted_key, "not listed"),
    "wrong-client": (
        _wrong_client,
        "no --approval covers the deletion of client C-1013",
    ),
    "wrong-practice": (_wrong_practice, "for practice other-practice"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_approval_is_refused_and_changes_nothing(
    setup: tuple[Engine, Path],
    db_url: str,
    tmp_path: Path,
    keys: dict[str, Path],
    case: str,
) -> None:
    engine, cfg = setup
    make, words = BAD[case]
    approval = tmp_path / "approval"
    approval.write_bytes(make(tmp_path, keys))
    before = full_state(engine)
    refused(apply(db_url, cfg, tmp_path, approval), words, "nothing was changed")
    assert full_state(engine) == before
    assert not (tmp_path / "exports").exists()


def test_no_approval_is_refused_even_with_confirm_delete_and_an_owner_actor(
    setup: tuple[Engine, Path], db_url: str, tmp_path: Path
) -> None:
    engine, cfg = setup
    before = full_state(engine)
    refused(apply(db_url, cfg, tmp_path), "signed approval is required")
    assert full_state(engine) == before


def test_watch_never_applies_a_deletion(setup: tuple[Engine, Path], db_url: str, tmp_path: Path) -> None:
    from reconciler.app.watch import WatchCycle
    from reconciler.targets.native.target import NativeTarget

    engine, cfg = setup
    before = full_state(engine)
    cycle = WatchCycle(
        cfg,
        NativeTarget(engine),
        auto_apply=True,
        actor="alee",
        export_dir=tmp_path / "exports",
        compliance=lambda *a, **k: {"ok": True, "violations": []},
    )
    cycle("start")
    assert cycle.applied == [] and full_state(engine) == before


def test_signing_keys_must_be_openssh_public_keys(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from reconciler.cli import main

    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "staff.yaml").write_text('version: 1\nstaff:\n  - {id: alee, signing_keys: ["ssh-ed25519 AAAA"]}\n')
    res = CliRunner().invoke(main, ["validate", "-c", str(cfg)])
    assert res.exit_code == 1 and "staff.yaml:3" in res.stderr and "signing_keys" in res.stderr, res.stderr
