"""``reconciler plan --format html``: the report of each example plan, opened in a real
headless Chromium (Debian's; scripts/test.sh installs it).

In the browser each page must load with no request but its own document and no console
error or warning (the page's Content-Security-Policy turns any attempted load into a
logged, blocked request, so both checks see it), and it must have the structure a
screen reader and a reviewer rely on. A screenshot of each example plan is written to
``docs/plan-<example>.png`` (the README shows one). The harness is shown to catch a
request and a console error, so the checks can fail. One browser launch serves the module.

The HTML text itself is golden-tested with the other renderings (tests/test_golden.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from headless import Browser, Page
from test_golden import EXAMPLES, GOLDEN_DIR, golden_texts

from reconciler.model.actions import Action, ActionType, Plan
from reconciler.render.html import CSP, render_html

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with Browser() as browser:
        yield browser.new_page(width=1200, height=1600)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example's HTML report, rendered from a freshly computed plan (SQLite)."""
    out = tmp_path_factory.mktemp("reports")
    files = {}
    for example in EXAMPLES:
        html = golden_texts(f"sqlite:///{out / (example + '.db')}", example)["html"]
        files[example] = out / f"plan-{example}.html"
        files[example].write_text(html, encoding="utf-8")
    return files


def _sessions_in_plan(example: str) -> int:
    doc = json.loads((GOLDEN_DIR / f"{example}.json").read_text(encoding="utf-8"))
    return sum(1 for a in doc["actions"] if a["type"].startswith("appointment.") and a.get("context", {}).get("start"))


STRUCTURE_JS = """(() => {
  const q = s => Array.from(document.querySelectorAll(s));
  return {
    lang: document.documentElement.lang,
    title: document.title,
    h1: q('h1').map(h => h.textContent),
    h2: q('h2').map(h => h.textContent),
    scripts: q('script').length,
    external: q('[src],[href]').map(n => n.getAttribute('src') || n.getAttribute('href')),
    svgs: q('svg').map(s => [s.getAttribute('role'), s.querySelector('title') && s.querySelector('title').textContent,
                             s.querySelector('desc') && s.querySelector('desc').textContent]),
    tablesWithoutHeaders: q('table').filter(t => !t.querySelector('th')).length,
    chips: q('.chip.cancel, .chip.move').length - q('.legend .chip').length,
    weeks: q('table.week').length,
    bodyText: document.body.innerText,
  };
})()"""


@pytest.mark.parametrize("example", EXAMPLES)
def test_report_loads_offline_cleanly_and_is_screenshotted(page: Page, reports: dict[str, Path], example: str) -> None:
    report = page.load(reports[example].as_uri())
    assert report.foreign_requests == [], f"{example}: the page made requests"
    assert report.console_errors == [], f"{example}: console errors"
    s = page.evaluate(STRUCTURE_JS)
    assert s["lang"] == "en" and s["title"].startswith("Reconciler plan plan-")
    assert len(s["h1"]) == 1 and s["h2"][0] == "Summary"
    assert s["scripts"] == 0 and s["external"] == []
    assert s["tablesWithoutHeaders"] == 0
    for role, title, desc in s["svgs"]:
        assert role == "img" and title and desc
    # Every session the plan cancels or moves is on the calendar strip, once.
    assert s["chips"] == _sessions_in_plan(example)
    assert "Seats before" in s["bodyText"]
    page.screenshot(DOCS / f"plan-{example}.png")
    assert (DOCS / f"plan-{example}.png").stat().st_size > 10_000


def test_what_each_example_shows(page: Page, reports: dict[str, Path]) -> None:
    text = {}
    for example in EXAMPLES:
        page.load(reports[example].as_uri())
        text[example] = page.evaluate("document.body.innerText")
    assert "Mid-cycle credit (bsmith $14.00)" in text["offboarding"]
    assert "Week of Mon 2026-11-23: 5 sessions" in text["offboarding"] and "✕ cancelled" in text["offboarding"]
    assert "→ moved to jdoe" in text["handover"] and "cdavis\n−6" in text["handover"].replace("\t", "\n")
    assert "leaves on this date (scheduled; handled then)" in text["scheduled"]
    assert "Thu 12-31\nleaves: inactive from this day" in text["scheduled"]  # marked on the strip
    assert "Warnings (4)" in text["clients"] and "Sessions, week by week" not in text["clients"]


def test_the_harness_catches_requests_and_console_errors(page: Page, tmp_path: Path) -> None:
    """Without this, 'no requests, no errors' could pass because nothing was watched."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        '<!doctype html><html lang="en"><title>t</title><img alt="" src="http://127.0.0.1:9/x.png">'
        '<script>console.error("boom")</script></html>',
        encoding="utf-8",
    )
    report = page.load(leaky.as_uri())
    assert report.foreign_requests == ["http://127.0.0.1:9/x.png"]
    assert any("boom" in m for m in report.console_errors)
    # With the report's policy the same kind of load is refused, and that is logged too.
    guarded = tmp_path / "guarded.html"
    guarded.write_text(
        f'<!doctype html><html lang="en"><meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<title>t</title><link rel="stylesheet" href="http://127.0.0.1:9/x.css"></html>',
        encoding="utf-8",
    )
    report = page.load(guarded.as_uri())
    assert any("Content Security Policy" in m for m in report.console_errors), report


def _plan(*actions: Action, warnings: tuple[str, ...] = ()) -> Plan:
    return Plan(
        as_of="2026-11-24T15:00:00Z",
        db_fingerprint="sha256:00",
        config_digest="sha256:11",
        actions=actions,
        warnings=warnings,
        seats={"before": 2, "after": 2},
    )


def test_everything_from_the_plan_is_escaped() -> None:
    evil = '<script>alert("x")</script>&<img src=x onerror=alert(1)>'
    a = Action(1, ActionType.CLIENT_REASSIGN, evil, evil, {"primary": (evil, "bob")}, evil)
    s = Action(
        2,
        ActionType.APPOINTMENT_CANCEL,
        "A-1",
        evil,
        {"status": ("scheduled", "cancelled")},
        evil,
        context={"client": evil, "start": "2026-11-25T15:00:00Z", "end": "2026-11-25T16:00:00Z"},
    )
    html = render_html(_plan(a, s, warnings=(evil,)))
    assert "<script" not in html and "<img" not in html  # present only as text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html


@pytest.mark.parametrize("example", EXAMPLES)
def test_no_url_and_no_script_in_any_report(example: str) -> None:
    html = (GOLDEN_DIR / f"{example}.html").read_text(encoding="utf-8")
    assert not re.search(r"https?:|//|url\(|<script|@import", html, re.IGNORECASE)


def test_empty_plan_report_says_no_changes() -> None:
    html = render_html(_plan())
    assert "No changes. The practice matches the configuration." in html
    assert "<svg" not in html and "Sessions, week by week" not in html


def test_cli_out_writes_the_report(tmp_path: Path) -> None:
    from dbhelpers import PRACTICE_YAML, fresh_db

    from reconciler.cli import main

    db = f"sqlite:///{tmp_path / 'p.db'}"
    fresh_db(db, PRACTICE_YAML).dispose()
    out = tmp_path / "report.html"
    r = CliRunner().invoke(
        main,
        [
            "plan",
            "-c",
            str(ROOT / "examples" / "offboarding"),
            "--db",
            db,
            "--at",
            "2026-11-24T15:00:00Z",
            "--format",
            "html",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "" and "Wrote the HTML report of plan-" in r.stderr
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    r = CliRunner().invoke(
        main,
        [
            "plan",
            "-c",
            str(ROOT / "examples" / "offboarding"),
            "--db",
            db,
            "--at",
            "2026-11-24T15:00:00Z",
            "--format",
            "html",
        ],
    )
    assert r.exit_code == 0 and r.stdout == out.read_text(encoding="utf-8")
