"""Scenario cases as data: ``tests/cases/<name>/{config/, actual.yaml, at.txt, plan.json}``.

``actual.yaml`` is the ActualState the native target reads for the case (the rows
the plan depends on, as the planner sees them), so a case is planned without a
database; ``plan.json`` is the expected plan (``generated_at`` normalised). A subset
is also planned through each backend from the sample snapshot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing
from pathlib import Path
from typing import Any

import yaml
from constants import ROOT

from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState, Appointment, Client, Practice, Series, Staff, canonical_row

CASES_DIR = ROOT / "tests" / "cases"
GENERATED_AT = "<normalised>"
_ROWS = {"staff": Staff, "clients": Client, "appointments": Appointment, "series": Series}


def case_names() -> list[str]:
    return sorted(p.name for p in CASES_DIR.iterdir() if (p / "plan.json").is_file())


def dump_actual(actual: ActualState) -> str:
    doc: dict[str, Any] = {"practice": canonical_row(actual.practice) if actual.practice else None}
    for key in _ROWS:
        rows = getattr(actual, key)
        doc[key] = [canonical_row(rows[k]) for k in sorted(rows)]
    doc["caseloads"] = dict(sorted(actual.caseloads.items()))
    doc["active_client_total"] = actual.active_client_total
    doc["active_staff_total"] = actual.active_staff_total
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _value(cls: type, name: str, value: Any) -> Any:
    hint = str(typing.get_type_hints(cls)[name])
    if value is None:
        return None
    if "datetime" in hint and isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if "date" in hint and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def _row(cls: type, data: dict[str, Any]) -> Any:
    return cls(**{f.name: _value(cls, f.name, data[f.name]) for f in dataclasses.fields(cls) if f.name in data})


def load_actual(path: Path) -> ActualState:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = {key: {r["id"]: _row(cls, r) for r in doc[key]} for key, cls in _ROWS.items()}
    return ActualState(
        practice=_row(Practice, doc["practice"]) if doc["practice"] else None,
        caseloads=doc["caseloads"],
        active_client_total=doc["active_client_total"],
        active_staff_total=doc["active_staff_total"],
        **rows,
    )


def normalised_json(plan: Plan) -> str:
    doc = json.loads(plan.dumps())
    doc["generated_at"] = GENERATED_AT
    # A plan made through a database says which one (extra.db_id, outside the plan id);
    # the cases are planned without one.
    doc.get("extra", {}).pop("db_id", None)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
