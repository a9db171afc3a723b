"""OpenEMR's ``log`` rows are written in multi-row INSERTs (the bench's hot spot) and each
``log_comment_encrypt`` row still names its own ``log`` row: its checksum is the one
OpenEMR's EventAuditLogger computes over that row. Both paths: consecutive ids (MariaDB's
default auto-increment lock mode) in several chunks, and one row at a time."""

from __future__ import annotations

import base64
import hashlib

import pytest

from reconciler.targets.openemr import audit

from .practice import LEAVE, build


def _implode(row: tuple) -> str:  # type: ignore[type-arg]
    return "".join(
        "" if v is None else (v.strftime("%Y-%m-%d %H:%M:%S") if hasattr(v, "strftime") else str(v)) for v in row
    )


@pytest.mark.parametrize("consecutive", [True, False], ids=["multi-row", "row-by-row"])
def test_log_rows_pair_with_their_checksums(oedb, tmp_path, monkeypatch, consecutive: bool) -> None:
    monkeypatch.setattr(audit, "LOG_CHUNK", 2)
    monkeypatch.setattr(audit, "consecutive_ids", lambda conn: consecutive)
    p = build(*oedb, tmp_path)
    plan = p.plan(LEAVE % "")
    assert len(plan.actions) >= 5
    p.apply(plan)
    logs = p.q(
        "SELECT id, date, event, category, user, groupname, comments, user_notes, patient_id, success, crt_user, "
        "log_from, menu_item_id, ccda_doc_id FROM log ORDER BY id"
    )
    sums = dict(p.q("SELECT log_id, checksum FROM log_comment_encrypt"))
    assert len(logs) == len(plan.actions) == len(sums)
    for row in logs:
        assert sums[row[0]] == hashlib.sha3_512(_implode(row[1:]).encode()).hexdigest()
    order = [base64.b64decode(r[6]).decode().split("#", 1)[1].split(":", 1)[0] for r in logs]
    assert order == [str(a.id) for a in plan.actions]  # one row per action, in plan order
