"""A small OpenEMR practice for the target tests, and plan/apply helpers that go
through the application layer exactly as the CLI does (workflow.compute_plan,
executor.apply_plan) with the openemr target."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.app.executor import apply_plan
from reconciler.app.workflow import compute_plan
from reconciler.config.loader import load_config
from reconciler.model.actions import Plan
from reconciler.targets.openemr.target import OpenEMRTarget

from .oe import OE

NOW = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York, a Wednesday
PHI = ("Reyes", "Poe", "Ray", "Quill", "Tom", "Ann")

BASE = """\
version: 1
practice: {timezone: America/New_York, owner: alee, clinical_director: mkhan}
staff:
  - {id: alee, name: Ana Lee, role: owner, access: entire_practice}
  - {id: mkhan, name: Mo Khan, role: clinical_director, access: entire_practice}
  - {id: jdoe, name: Jon Doe, role: clinician}
"""
LEAVE = "  - {id: bsmith, name: Beth Smith, role: clinician, active: false, successor: jdoe%s}\n"


@dataclass
class Practice:
    url: str
    oe: OE
    target: OpenEMRTarget
    ids: dict[str, int]
    cfg: Path

    @property
    def engine(self) -> Any:
        return self.target.engine

    def plan(self, extra: str = "", at: dt.datetime = NOW, **kw: Any) -> Plan:
        (self.cfg / "practice.yaml").write_text(BASE + extra)
        kw.setdefault("allow_mass_change", True)
        return compute_plan(self.target, load_config(self.cfg), at_text=None, now=at, **kw)

    def apply(self, plan: Plan, **kw: Any) -> Any:
        kw.setdefault("now", NOW)
        kw.setdefault("export_dir", self.cfg.parent / "exports")
        return apply_plan(self.target, plan, actor=kw.pop("actor", "alee"), **kw)

    def q(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        return self.oe.q(sql, args)


def build(url: str, oe: OE, tmp_path: Path, *, init: bool = True) -> Practice:
    ids = {
        "alee": oe.user("alee", "Ana", "Lee"),
        "mkhan": oe.user("mkhan", "Mo", "Khan"),
        "bsmith": oe.user("bsmith", "Beth", "Smith"),
        "jdoe": oe.user("jdoe", "Jon", "Doe"),
    }
    oe.addressbook("Quest")  # an address-book entry: no username, never staff
    ids["p1"] = oe.patient("C-1001", "Tom", "Reyes", ids["bsmith"])
    ids["p2"] = oe.patient("C-1002", "Ann", "Poe", ids["bsmith"])
    ids["p3"] = oe.patient("C-1003", "Kim", "Ray", ids["alee"])
    enc = oe.encounter(ids["p2"])
    oe.charge(ids["p2"], enc, "120.00")
    ids["future"] = oe.appt(ids["bsmith"], ids["p1"], "2026-12-07")
    ids["today_past"] = oe.appt(ids["bsmith"], ids["p1"], "2026-12-02", "09:00:00")
    ids["today_future"] = oe.appt(ids["bsmith"], ids["p1"], "2026-12-02", "11:00:00")
    ids["past"] = oe.appt(ids["bsmith"], ids["p1"], "2026-11-30")
    ids["series"] = oe.series(ids["bsmith"], ids["p2"], "2026-11-02", "2027-03-29")  # Mondays 09:00
    target = OpenEMRTarget.open(url)
    if init:
        target.init_schema()
        oe.q("UPDATE reconciler_practice SET timezone='America/New_York'")
    cfg = tmp_path / "practice"
    cfg.mkdir(exist_ok=True)
    return Practice(url, oe, target, ids, cfg)
