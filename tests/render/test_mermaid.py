"""The Markdown plan's Mermaid charts: what they say (render/charts.py), and that Mermaid
itself parses and draws every one of them.

Validation uses the real thing: Mermaid's own browser bundle (``mermaid.min.js``, the
npm package pinned and digest-checked by scripts/fetch-mermaid.sh, which
scripts/test.sh runs) loaded from a local file into headless Chromium, where each
diagram goes through ``mermaid.parse`` and ``mermaid.render``. One browser launch
checks all the diagrams; a broken diagram is shown to fail, so the check can fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from headless import Browser, CDPError, Page

from reconciler.model.actions import Action, ActionType, Plan
from reconciler.render.charts import (
    caseload_changes,
    client_moves,
    deactivation_dates,
    mermaid_blocks,
    mermaid_caseload,
    mermaid_timeline,
)
from reconciler.render.markdown import render_markdown

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = ROOT / "tests" / "golden"
MERMAID_JS = ROOT / ".cache" / "mermaid-11.17.2" / "mermaid.min.js"
FENCE = re.compile(r"```mermaid\n(.*?)\n```", re.DOTALL)

T = ActionType


def _plan(*actions: Action, extra: dict[str, object] | None = None) -> Plan:
    return Plan(
        as_of="2026-11-24T15:00:00Z",
        db_fingerprint="sha256:00",
        config_digest="sha256:11",
        actions=tuple(actions),
        seats={"before": 3, "after": 3},
        extra={"timezone": "America/New_York", **(extra or {})},
    )


def _a(i: int, type_: ActionType, target: str, staff: str | None, **changes: tuple[object, object]) -> Action:
    return Action(i, type_, target, staff, changes, "test")


MIXED = _plan(
    _a(1, T.CLIENT_REASSIGN, "C-1", "ann", primary=("ann", "bob")),
    _a(2, T.CLIENT_REASSIGN, "C-2", "bob", primary=("bob", "ann")),
    _a(3, T.CLIENT_REASSIGN, "C-3", "ann", primary=("ann", "bob")),
    _a(4, T.CLIENT_INACTIVATE, "C-4", "ann", status=("active", "inactive"), primary=("ann", None)),
    _a(5, T.CLIENT_REACTIVATE, "C-5", "cy", status=("inactive", "active")),
    _a(6, T.CLIENT_INACTIVATE, "C-6", None, status=("active", "inactive")),  # had no primary: no caseload
    _a(7, T.STAFF_SCHEDULE_DEACTIVATION, "ann", "ann", deactivate_on=(None, "2027-01-15")),
    _a(8, T.STAFF_DEACTIVATE, "dee", "dee", active=(True, False), deactivated_at=(None, "2026-11-25T03:00:00Z")),
)


# ----------------------------------------------------------------- what the charts say
def test_net_caseload_change_is_derived_from_the_client_actions() -> None:
    assert {c.staff: c.net for c in caseload_changes(MIXED)} == {"ann": -2, "bob": 1, "cy": 1}
    moves = {(m.source, m.dest, m.kind.value): m.clients for m in client_moves(MIXED)}
    assert moves == {
        ("ann", "bob", "client.reassign"): ("C-1", "C-3"),
        ("bob", "ann", "client.reassign"): ("C-2",),
        ("ann", "(inactive)", "client.inactivate"): ("C-4",),
        ("(inactive)", "cy", "client.reactivate"): ("C-5",),
    }


def test_given_caseload_counts_win_and_unchanged_ones_are_left_out() -> None:
    plan = _plan(
        *MIXED.actions,
        extra={
            "caseloads": {
                "bob": {"before": 4, "after": 5},
                "ann": {"before": 9, "after": 7},
                "eve": {"before": 2, "after": 2},
            }
        },
    )
    assert [(c.staff, c.before, c.after, c.net) for c in caseload_changes(plan)] == [
        ("ann", 9, 7, -2),
        ("bob", 4, 5, 1),
    ]
    bars = mermaid_blocks(plan)[0]
    assert bars.startswith("xychart-beta") and '"ann before", "ann after", "bob before", "bob after"' in bars
    assert "bar [9, 7, 4, 5]" in bars
    assert '["ann 9 → 7"]' in (mermaid_caseload(plan) or "")


def test_dates_are_local_days_in_the_practice_timezone() -> None:
    # 03:00Z on the 25th is still the 24th in New York.
    assert [(m.day.isoformat(), m.staff, m.kind) for m in deactivation_dates(MIXED)] == [
        ("2026-11-24", "dee", "now"),
        ("2027-01-15", "ann", "scheduled"),
    ]
    assert mermaid_timeline(MIXED) == (
        "timeline\n    title Deactivation dates\n"
        "    2026-11-24 : dee deactivated by this plan\n"
        "    2027-01-15 : ann leaves (scheduled)"
    )


def test_no_chart_when_nothing_moves() -> None:
    assert mermaid_blocks(_plan()) == []
    assert "```mermaid" not in render_markdown(_plan())
    sessions_only = _plan(
        _a(1, T.APPOINTMENT_CANCEL, "A-1", "ann", status=("scheduled", "cancelled")),
        _a(2, T.CLIENT_REASSIGN, "C-1", "ann", primary=(None, None)),
    )
    assert mermaid_blocks(sessions_only) == []
    assert "```mermaid" not in render_markdown(sessions_only)


EVIL = 'x"]; click n0 "javascript:alert(1)" %%\n<b>'
ODD = _plan(
    _a(1, T.CLIENT_REASSIGN, "C-1", EVIL, primary=(EVIL, "bob")),
    _a(2, T.STAFF_SCHEDULE_DEACTIVATION, EVIL, EVIL, deactivate_on=(None, "2027-01-01")),
)


def test_odd_staff_ids_cannot_break_or_inject_into_a_diagram() -> None:
    blocks = mermaid_blocks(ODD)
    assert len(blocks) == 2
    for block in blocks:
        assert "x____click_n0__javascript_alert_1_______b_" in block  # the id, defused
        for bad in ("<b>", "%%", "javascript:", 'x"', "click n0"):
            assert bad not in block


# ----------------------------------------------------------------- Mermaid parses them
DIAGRAMS: dict[str, str] = {}
for _path in sorted(GOLDEN_DIR.glob("*.md")):
    for _i, _block in enumerate(FENCE.findall(_path.read_text(encoding="utf-8"))):
        DIAGRAMS[f"{_path.stem}#{_i}"] = _block
for _i, _block in enumerate(
    mermaid_blocks(_plan(*MIXED.actions, extra={"caseloads": {"ann": {"before": 9, "after": 7}}}))
):
    DIAGRAMS[f"given-caseloads#{_i}"] = _block
for _i, _block in enumerate(mermaid_blocks(ODD)):
    DIAGRAMS[f"odd-ids#{_i}"] = _block
README_DIAGRAMS = FENCE.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_shows_the_offboarding_charts_as_rendered() -> None:
    """The README's example diagrams are the offboarding plan's, not a stale copy (they are parsed below too)."""
    assert README_DIAGRAMS == FENCE.findall((GOLDEN_DIR / "offboarding.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def mermaid_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    assert MERMAID_JS.is_file(), f"{MERMAID_JS} is missing: run scripts/fetch-mermaid.sh (scripts/test.sh does)"
    page_file = tmp_path_factory.mktemp("mermaid") / "mermaid.html"
    page_file.write_text(
        f'<!doctype html><meta charset="utf-8"><script src="{MERMAID_JS.as_uri()}"></script><div id="out"></div>',
        encoding="utf-8",
    )
    with Browser() as browser:
        page = browser.new_page()
        report = page.load(page_file.as_uri())
        assert report.console_errors == []
        page.evaluate("mermaid.initialize({startOnLoad: false, securityLevel: 'strict'})")
        yield page


def _render(page: Page, name: str, source: str) -> str:
    """Parse and draw ``source`` with Mermaid; the SVG's text (raises CDPError when Mermaid refuses)."""
    js = (
        f"mermaid.parse({json.dumps(source)}).then(() => mermaid.render('d' + Date.now(), {json.dumps(source)}))"
        ".then(r => { const d = document.getElementById('out'); d.innerHTML = r.svg; return d.textContent; })"
    )
    text = page.evaluate(js, await_promise=True)
    assert isinstance(text, str), name
    return text


def test_the_examples_have_the_expected_diagrams() -> None:
    kinds = {name: block.split("\n---\n")[-1].split("\n", 1)[0] for name, block in DIAGRAMS.items()}
    assert {k: v for k, v in kinds.items() if not k.startswith(("given", "odd"))} == {
        "clients#0": "flowchart LR",
        "handover#0": "flowchart LR",
        "handover#1": "timeline",
        "offboarding#0": "flowchart LR",
        "offboarding#1": "timeline",
        "ownership#0": "timeline",
        "scheduled#0": "timeline",
    }


def test_every_diagram_parses_and_renders_in_mermaid(mermaid_page: Page) -> None:
    drawn = {name: _render(mermaid_page, name, source) for name, source in sorted(DIAGRAMS.items())}
    # Mermaid wraps lines into separate SVG text runs: compare without white space.
    drawn = {name: "".join(text.split()) for name, text in drawn.items()}
    assert "bsmith−7" in drawn["offboarding#0"] and "5inactivated" in drawn["offboarding#0"]
    assert "2026-12-31" in drawn["scheduled#0"] and "egarcialeaves(scheduled)" in drawn["scheduled#0"]
    assert "annbefore" in drawn["given-caseloads#0"]
    assert "aleedeactivatedbythisplan" in drawn["ownership#0"]
    assert mermaid_page.report("after rendering").console_errors == []


def test_a_broken_diagram_is_refused(mermaid_page: Page) -> None:
    with pytest.raises(CDPError, match="Parse error"):
        _render(mermaid_page, "broken", 'flowchart LR\n    n0["bsmith -->|"2"| n1')
