"""Golden files: the plans of the shipped examples, as a practice would see them.

For each config dir under ``examples/`` the plan against ``examples/practice.yaml``
at ``2026-11-24T15:00:00Z`` is rendered as text, JSON (``generated_at``
normalised), Markdown and HTML and compared with ``tests/golden/<example>.<txt|json|md|html>``
on both backends (the JSON comparison on PostgreSQL shows the backends agree).
A failure prints a unified diff; ``scripts/update_goldens.py`` regenerates the
files after a deliberate change (then read the diff before committing it).

The same renderings must not contain any client's first or last name.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from pathlib import Path

import pytest
import yaml
from constants import AT, EXAMPLES_DIR, NOW, ROOT
from dbhelpers import fresh_db

from reconciler.targets.native.target import NativeTarget

SNAPSHOT = EXAMPLES_DIR / "practice.yaml"
GOLDEN_DIR = ROOT / "tests" / "golden"
EXAMPLES = ("offboarding", "handover", "scheduled", "clients", "ownership")
FORMATS = {"txt": "text", "json": "json", "md": "markdown", "html": "html"}
GENERATED_AT = "<normalised>"


def golden_texts(db_url: str, example: str) -> dict[str, str]:
    """The example's plan rendered per golden file suffix (``txt``, ``json``, ``md``)."""
    from reconciler.app.workflow import compute_plan, render_plan
    from reconciler.config.loader import load_config

    # An absolute config path on purpose: reasons cite files relative to the config
    # directory, so the goldens do not depend on where this checkout lives.
    desired = load_config(EXAMPLES_DIR / example)
    engine = fresh_db(db_url, SNAPSHOT)
    try:
        plan = compute_plan(NativeTarget(engine), desired, at_text=AT, now=NOW)
    finally:
        engine.dispose()
    out = {ext: render_plan(plan, fmt) for ext, fmt in FORMATS.items()}
    # generated_at is the one field allowed to differ between runs (SPEC §3.7).
    doc = json.loads(out["json"])
    doc["generated_at"] = GENERATED_AT
    if "db_id" in doc.get("extra", {}):
        doc["extra"]["db_id"] = "<normalised>"  # each fresh database has its own identity
    out["json"] = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return out


def client_names() -> set[str]:
    """Every client's first and last name in the sample snapshot."""
    doc = yaml.safe_load(SNAPSHOT.read_text(encoding="utf-8"))
    return {c[k] for c in doc["clients"] for k in ("first_name", "last_name")}


def _diff(want: str, got: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(want.splitlines(True), got.splitlines(True), f"golden/{name}", f"computed/{name}")
    )


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_plans_match_their_golden_files(db_url: str, example: str) -> None:
    got = golden_texts(db_url, example)
    diffs = []
    for ext, text in got.items():
        path = GOLDEN_DIR / f"{example}.{ext}"
        want = path.read_text(encoding="utf-8") if path.exists() else ""
        if text != want:
            diffs.append(_diff(want, text, path.name))
    assert not diffs, (
        "renderings differ from the golden files (run scripts/update_goldens.py "
        "if the change is deliberate):\n" + "\n".join(diffs)
    )


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_plans_name_no_client(db_url: str, example: str) -> None:
    names = client_names()
    assert len(names) >= 50  # the snapshot really holds names to look for
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names))) + r")\b")
    for ext, text in golden_texts(db_url, example).items():
        found = sorted(set(pattern.findall(text)))
        assert not found, f"{example}.{ext} contains client names {found}"


def test_plan_does_not_depend_on_how_the_config_dir_is_spelled(db_url: str) -> None:
    """Reasons cite config files relative to the config directory: the plan JSON (and
    so plan_id) is the same for a relative, an absolute and a ./-prefixed spelling."""
    from reconciler.app.workflow import compute_plan
    from reconciler.config.loader import load_config

    spellings = {
        "relative": Path("examples/clients"),
        "absolute": EXAMPLES_DIR / "clients",
        "dot-slash": Path("./examples/clients/"),
    }
    engine = fresh_db(db_url, SNAPSHOT)
    try:
        with contextlib.chdir(ROOT):
            plans = {
                name: compute_plan(NativeTarget(engine), load_config(path), at_text=AT, now=NOW)
                for name, path in spellings.items()
            }
    finally:
        engine.dispose()
    reasons = [a.reason for a in plans["absolute"].actions]
    assert any(r.startswith("explicit clients: entry (clients.yaml:4)") for r in reasons), reasons
    assert {name: p.plan_id for name, p in plans.items()} == dict.fromkeys(spellings, plans["relative"].plan_id)
