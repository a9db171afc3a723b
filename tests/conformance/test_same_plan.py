"""A plan made against OpenEMR renders exactly like the same world's plan on native
(issue 9 "done when"): text, Markdown and JSON, byte for byte, once the values that
name the database itself — the read-set fingerprint and the plan id derived from it, and
the database's identity ``extra.db_id`` — are masked (and ``generated_at``, the clock)."""

from __future__ import annotations

import json
import re

import pytest

from reconciler.conformance.scenarios import prepare
from reconciler.conformance.world import AT, config

from .harnesses import NativeHarness, OpenEMRHarness

LEAVE = "  - {id: bsmith, name: Beth Smith, role: clinician, active: false, successor: jdoe, offboarding: %s}"
CONFIGS = {
    "standard": config({"bsmith": LEAVE % "standard"}),
    "handover": config({"bsmith": LEAVE % "handover"}),
    "scheduled": config(
        {"bsmith": "  - {id: bsmith, name: Beth Smith, role: clinician, deactivate_on: 2026-12-15, successor: jdoe}"}
    ),
    "chain-and-clients": config(
        {
            "bsmith": "  - {id: bsmith, name: Beth Smith, role: clinician, active: false, successor: cdavis, offboarding: handover}",
            "cdavis": "  - {id: cdavis, name: Cara Davis, role: clinician, active: false, successor: jdoe, offboarding: standard}",
            "tnguyen": "  - {id: tnguyen, name: Tam Nguyen, role: clinician, active: true}",
        },
        clients="  - {id: C-1005, status: inactive}\n  - {id: C-1006, primary: jdoe}\n  - {id: C-1007, status: active, primary: egarcia}\n",
    ),
}


def _mask(text: str, plan: dict) -> str:
    text = text.replace(plan["plan_id"], "plan-ID").replace(plan["db_fingerprint"], "sha256:DB")
    text = text.replace(plan["db_fingerprint"][:19], "sha256:DB")  # the text rendering's short form
    if plan.get("extra", {}).get("db_id"):  # a random identity per database (issue 11)
        text = text.replace(plan["extra"]["db_id"], "DB-ID")
    return re.sub(r'"generated_at": "[^"]*"', '"generated_at": "-"', text)


def _renderings(run, cfg: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    run.write_config(cfg)
    args = ("plan", "-c", str(run.cfg), "--at", AT, "--allow-mass-change", "--format")
    plan = json.loads(run.cli(*args, "json").stdout)
    return {fmt: _mask(run.cli(*args, fmt).stdout, plan) for fmt in ("text", "json", "markdown")}


@pytest.fixture(scope="module")
def runs(mariadb_server, tmp_path_factory):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("same")
    native = prepare(NativeHarness("native/sqlite", lambda: f"sqlite:///{base / 'native.db'}"), base / "native")
    openemr = prepare(OpenEMRHarness(mariadb_server.create_database), base / "openemr")
    return native, openemr


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_openemr_plan_renders_like_native(runs, name: str) -> None:  # type: ignore[no-untyped-def]
    native, openemr = runs
    want, got = _renderings(native, CONFIGS[name]), _renderings(openemr, CONFIGS[name])
    assert json.loads(want["json"])["actions"], "the scenario plans nothing"
    for fmt in ("text", "json", "markdown"):
        assert got[fmt] == want[fmt], f"{fmt} differs"
    assert "sha256:DB" in want["text"] and "plan-ID" in want["text"]  # the masks matched
