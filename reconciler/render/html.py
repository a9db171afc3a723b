"""The HTML report of a plan (``reconciler plan --format html``): one self-contained page
for the people who review a roster change, practice managers and clinical directors.

Why a page of its own: a reviewer wants to *see* what happens: which sessions are
cancelled or moved in which weeks, whose caseload grows or shrinks, who leaves when.
The page holds a summary (counts, seats and the mid-cycle credit), warnings, caseload
bars, client moves, deactivation dates, a calendar strip per professional of the weeks
with affected sessions, and every action.

Why self-contained: the report is mailed, attached to tickets and opened offline, and a
health practice's report must not call out to anyone. So: no script, no external URL of
any kind, inline CSS, inline SVG drawn here, and a Content-Security-Policy that forbids
every load but inline styles (a mistake shows up as a blocked request, not a leak).

Pure and deterministic: Plan -> str. Client ids only, never names (the plan holds no
names). Every text from the plan goes through :func:`html.escape`.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from typing import Any

from reconciler.model.actions import Action, ActionType, Plan
from reconciler.render.charts import (
    VERBS,
    CaseloadChange,
    caseload_changes,
    client_moves,
    deactivation_dates,
    is_staff,
)
from reconciler.render.text import (
    GLYPHS,
    NO_CHANGES,
    PHRASES,
    Fold,
    credit_items,
    fold,
    format_cents,
    group_actions,
    header,
    line_changes,
    plan_zone,
    session_label,
    short_digest,
    summary_counts,
    summary_line,
)
from reconciler.timeutil import parse_iso_z

#: Only inline styles may load: any request the page would make is blocked (and logged).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

#: Fold a professional's run of one action type in the full action list past this many.
FOLD_OVER = 100
FOLD_KEEP = 50

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Colours chosen for contrast (all text pairs pass WCAG AA at body size) and kept in
# print; meaning never rests on colour alone (each chip also says what happens).
CSS = """
:root { --ink:#1b1f24; --muted:#4a5361; --line:#c9ced6; --bg:#ffffff; --panel:#f5f7fa;
  --cancel:#a1271c; --cancel-bg:#fdecea; --move:#0b4fb3; --move-bg:#e6effc;
  --gain:#1e6b34; --loss:#a1271c; --before:#6b7280; --after:#0b4fb3; --warn-bg:#fff4d6; --warn:#6b4c00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--ink); background: var(--bg); -webkit-print-color-adjust: exact; print-color-adjust: exact; }
header, main, footer { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.5rem; margin: 0 0 4px; } h2 { font-size: 1.2rem; margin: 28px 0 8px; }
h3 { font-size: 1.05rem; margin: 18px 0 6px; }
.meta { color: var(--muted); margin: 0 0 14px; }
code { font: 0.92em ui-monospace, "DejaVu Sans Mono", monospace; }
.lead { font-size: 1.1rem; font-weight: 600; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; padding: 0; list-style: none; }
.cards li { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 150px; }
.cards .n { display: block; font-size: 1.6rem; font-weight: 700; }
table { border-collapse: collapse; margin: 6px 0 12px; }
caption { text-align: left; padding: 2px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--panel); }
td.num, th.num { text-align: right; }
.warnings { background: var(--warn-bg); color: var(--warn); border: 1px solid #d9b54a; border-radius: 6px; padding: 8px 14px 8px 32px; }
.warnings li { margin: 4px 0; color: #3d2c00; }
.strip { table-layout: fixed; width: 100%; }
.strip th { font-weight: 600; font-size: 0.85rem; }
.strip td { height: 64px; padding: 3px; }
.strip td.off { background: #fafbfc; }
.strip th.leave { background: var(--warn-bg); color: #3d2c00; border-bottom: 3px solid var(--warn); }
.chip { display: block; border-radius: 4px; padding: 2px 5px; margin: 2px 0; font-size: 0.8rem; line-height: 1.3; border-left: 4px solid; }
.chip.cancel { background: var(--cancel-bg); color: var(--cancel); border-color: var(--cancel); }
.chip .muted { white-space: nowrap; }
.chip.move { background: var(--move-bg); color: var(--move); border-color: var(--move); }
.legend { display: flex; gap: 16px; padding: 0; list-style: none; font-size: 0.9rem; }
.legend .chip { display: inline-block; }
svg text { font: 13px system-ui, "DejaVu Sans", sans-serif; fill: var(--ink); }
.muted { color: var(--muted); }
footer { color: var(--muted); border-top: 1px solid var(--line); margin-top: 32px; padding-top: 10px; padding-bottom: 24px; font-size: 0.85rem; }
@media print { body { font-size: 10.5pt; } header, main, footer { max-width: none; padding: 0; }
  section, .week, table { break-inside: avoid; } h2, h3 { break-after: avoid; } }
"""


def e(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def render_html(plan: Plan) -> str:
    """The plan as one self-contained, accessible HTML page."""
    title = f"Reconciler plan {plan.plan_id}"
    tz = plan_zone(plan)
    body: list[str] = [
        "<header>",
        f"<h1>Reconciler plan <code>{e(plan.plan_id)}</code></h1>",
        (
            f'<p class="meta">As of <time datetime="{e(plan.as_of)}">{e(plan.as_of)}</time> · times shown in {e(tz)}'
            f" · database <code>{e(short_digest(plan.db_fingerprint))}</code>"
            f" · config <code>{e(short_digest(plan.config_digest))}</code></p>"
        ),
        "</header>",
        "<main>",
    ]
    body += _summary(plan)
    body += _warnings(plan.warnings)
    if not plan.is_empty:
        body += _caseloads(plan)
        body += _dates(plan)
        body += _sessions(plan, tz)
        body += _all_actions(plan, tz)
    body += [
        "</main>",
        (
            "<footer><p>Made by <code>reconciler plan --format html</code>. Clients are shown by id only."
            " This page loads nothing from anywhere.</p></footer>"
        ),
    ]
    head = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
    ]
    return "\n".join(head + body + ["</body>", "</html>"]) + "\n"


# ----------------------------------------------------------------- summary
def _summary(plan: Plan) -> list[str]:
    out = ['<section aria-labelledby="summary">', '<h2 id="summary">Summary</h2>']
    if plan.is_empty:
        return out + [f'<p class="lead">{e(NO_CHANGES)}</p>', *_seats_cards(plan), "</section>"]
    out.append(f'<p class="lead">{e(summary_line(plan))}</p>')
    out += _seats_cards(plan)
    out += [
        "<table>",
        '<caption class="muted">Actions by type, in the order they first run</caption>',
        (
            '<thead><tr><th scope="col">Action</th><th scope="col" class="num">Count</th>'
            '<th scope="col">Meaning</th></tr></thead>'
        ),
        "<tbody>",
    ]
    for t, n in summary_counts(plan):
        out.append(
            f'<tr><td>{e(GLYPHS[t])} <code>{e(t.value)}</code></td><td class="num">{n}</td>'
            f"<td>{e(PHRASES[t].count(n))}</td></tr>"
        )
    out += ["</tbody>", "</table>"]
    drift = sum(1 for a in plan.actions if a.drift)
    if drift:
        out.append(
            f"<p><strong>{drift} action{'s' if drift != 1 else ''} undo drift</strong>"
            " (a change made outside reconciler), marked “drift” below.</p>"
        )
    return out + ["</section>"]


def _seats_cards(plan: Plan) -> list[str]:
    before, after = plan.seats.get("before"), plan.seats.get("after")
    cards: list[tuple[str, str]] = []
    if before is not None or after is not None:
        cards.append(("Seats before", str(before)))
        cards.append(("Seats after", str(after)))
    credits = credit_items(plan.extra.get("seat_credits"))
    if credits:
        detail = ", ".join(f"{s} {format_cents(c)}" for s, c in credits if s)
        cards.append(
            ("Mid-cycle credit" + (f" ({detail})" if detail else ""), format_cents(sum(c for _, c in credits)))
        )
    if not cards:
        return []
    items = "".join(f'<li><span class="n">{e(v)}</span>{e(k)}</li>' for k, v in cards)
    return [f'<ul class="cards" aria-label="Seats and credit">{items}</ul>']


def _warnings(warnings: Sequence[str]) -> list[str]:
    if not warnings:
        return []
    items = "".join(f"<li>{e(w)}</li>" for w in warnings)
    return [
        '<section aria-labelledby="warnings">',
        f'<h2 id="warnings">Warnings ({len(warnings)})</h2>',
        f'<ul class="warnings">{items}</ul>',
        "</section>",
    ]


# ----------------------------------------------------------------- caseloads
def _caseloads(plan: Plan) -> list[str]:
    changes = caseload_changes(plan)
    moves = client_moves(plan)
    if not changes and not moves:
        return []
    out = ['<section aria-labelledby="caseloads">', '<h2 id="caseloads">Caseloads and client moves</h2>']
    if changes:
        out.append(caseload_svg(changes))
    if moves:
        out += [
            "<table>",
            '<caption class="muted">Client moves (active clients per professional)</caption>',
            (
                '<thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">What</th>'
                '<th scope="col" class="num">Clients</th><th scope="col">Client ids</th></tr></thead>'
            ),
            "<tbody>",
        ]
        for m in moves:
            out.append(
                f"<tr><td>{_endpoint(m.source)}</td><td>{_endpoint(m.dest)}</td><td>{e(VERBS[m.kind])}</td>"
                f'<td class="num">{len(m.clients)}</td><td>{e(", ".join(m.clients))}</td></tr>'
            )
        out += ["</tbody>", "</table>"]
    return out + ["</section>"]


def _endpoint(endpoint: str) -> str:
    return (
        f"<code>{e(endpoint)}</code>" if is_staff(endpoint) else f'<span class="muted">{e(endpoint.strip("()"))}</span>'
    )


def caseload_svg(changes: Sequence[CaseloadChange]) -> str:
    """Horizontal bars: before and after when the plan carries the counts, else the net
    change around a zero line (losses left, gains right), each bar labelled with its number."""
    label_w, bar_w, row_h, pad = 150, 420, 34, 8
    exact = all(c.before is not None and c.after is not None for c in changes)
    width = label_w + bar_w + 90
    height = pad * 2 + row_h * len(changes) + 24
    if exact:
        desc = "; ".join(f"{c.staff}: {c.before} before, {c.after} after" for c in changes)
    else:
        desc = "; ".join(f"{c.staff}: {'+' if c.net > 0 else '−'}{abs(c.net)} active clients" for c in changes)
    parts = [
        (
            f'<svg role="img" aria-labelledby="cl-title cl-desc" width="{width}" height="{height}"'
            f' viewBox="0 0 {width} {height}">'
        ),
        f'<title id="cl-title">{"Caseload before and after" if exact else "Net caseload change"}</title>',
        f'<desc id="cl-desc">{e(desc)}</desc>',
    ]
    y = pad
    if exact:
        top = max([max(c.before or 0, c.after or 0) for c in changes] + [1])
        for c in changes:
            parts.append(f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end">{e(c.staff)}</text>')
            for i, (value, colour, word) in enumerate(
                ((c.before or 0, "var(--before)", "before"), (c.after or 0, "var(--after)", "after"))
            ):
                w = round(bar_w * value / top)
                by = y + 3 + i * 14
                parts.append(f'<rect x="{label_w}" y="{by}" width="{w}" height="12" fill="{colour}"/>')
                parts.append(f'<text x="{label_w + w + 6}" y="{by + 11}">{value} {word}</text>')
            y += row_h
    else:
        span = max([abs(c.net) for c in changes] + [1])
        half = bar_w // 2 - 30  # room for the number beside the longest bar on either side
        zero = label_w + 40 + half
        for c in changes:
            w = round(half * abs(c.net) / span)
            x = zero if c.net > 0 else zero - w
            colour = "var(--gain)" if c.net > 0 else "var(--loss)"
            parts.append(f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end">{e(c.staff)}</text>')
            parts.append(f'<rect x="{x}" y="{y + 6}" width="{w}" height="20" fill="{colour}"/>')
            shown = f"{'+' if c.net > 0 else '−'}{abs(c.net)}"
            tx, anchor = (zero + w + 6, "start") if c.net > 0 else (zero - w - 6, "end")
            parts.append(f'<text x="{tx}" y="{y + 20}" text-anchor="{anchor}">{shown}</text>')
            y += row_h
        parts.append(f'<line x1="{zero}" y1="{pad}" x2="{zero}" y2="{y}" stroke="var(--ink)" stroke-width="1"/>')
        parts.append(f'<text x="{zero - 6}" y="{y + 16}" text-anchor="end" class="muted">← loses clients</text>')
        parts.append(f'<text x="{zero + 6}" y="{y + 16}">gains clients →</text>')
    parts.append("</svg>")
    return "".join(parts)


# ----------------------------------------------------------------- dates
def _dates(plan: Plan) -> list[str]:
    marks = deactivation_dates(plan)
    if not marks:
        return []
    out = [
        '<section aria-labelledby="dates">',
        '<h2 id="dates">Deactivation dates</h2>',
        "<table>",
        '<thead><tr><th scope="col">Date</th><th scope="col">Professional</th><th scope="col">What</th></tr></thead>',
        "<tbody>",
    ]
    for m in marks:
        what = (
            "deactivated by this plan (seat released)"
            if m.kind == "now"
            else "leaves on this date (scheduled; handled then)"
        )
        out.append(
            f'<tr><td><time datetime="{m.day.isoformat()}">{m.day.isoformat()}</time></td>'
            f"<td><code>{e(m.staff)}</code></td><td>{e(what)}</td></tr>"
        )
    return out + ["</tbody>", "</table>", "</section>"]


# ----------------------------------------------------------------- sessions
def _session_start(a: Action, tz: dt.tzinfo) -> dt.datetime | None:
    start = a.context.get("start") if a.context else None
    if not isinstance(start, str):
        return None
    try:
        return parse_iso_z(start).astimezone(tz)
    except ValueError:
        return None


def _chip(a: Action, start: dt.datetime) -> str:
    client = e(a.context.get("client") or "?")
    video = " (video)" if a.context.get("telehealth") is True else ""
    if a.type is ActionType.APPOINTMENT_TRANSFER:
        to = a.changes.get("staff", (None, None))[1]
        return (
            f'<span class="chip move">{start:%H:%M} {client}{video}<br>→ moved to {e(to)}'
            f' <span class="muted">({e(a.target)})</span></span>'
        )
    if a.type is ActionType.APPOINTMENT_RESTORE:
        return (
            f'<span class="chip move">{start:%H:%M} {client}{video}<br>↺ restored'
            f' <span class="muted">({e(a.target)})</span></span>'
        )
    return (
        f'<span class="chip cancel">{start:%H:%M} {client}{video}<br>✕ cancelled'
        f' <span class="muted">({e(a.target)})</span></span>'
    )


def _series_what(a: Action, tz: dt.tzinfo) -> str:
    """What happens to a series, in words (the successor's half of a split is by id)."""
    if a.type is ActionType.SERIES_TRANSFER:
        return f"moved to {a.changes.get('staff', (None, None))[1]}"
    if a.type is ActionType.SERIES_SPLIT:
        to = a.changes.get("successor_staff", (None, None))[1]
        new = a.changes.get("successor_series", (None, None))[1]
        first = a.changes.get("successor_start", (None, None))[1]
        try:
            since = f" from {parse_iso_z(str(first)).astimezone(tz):%Y-%m-%d}" if first else ""
        except ValueError:
            since = ""
        return f"split on the date: continued by {to} as {new}{since}"
    if a.type is ActionType.SERIES_RESTORE:
        return "restored (revert)"
    return "ended"


def _sessions(plan: Plan, tz: dt.tzinfo) -> list[str]:
    out: list[str] = []
    for name, actions in group_actions(plan):
        sessions = [(a, s) for a in actions if a.type.entity == "appointment" and (s := _session_start(a, tz))]
        series = [a for a in actions if a.type.entity == "series"]
        if not sessions and not series:
            continue
        sid = f"sessions-{len(out)}"
        out += [
            f'<section class="staff" aria-labelledby="{sid}">',
            (
                f'<h3 id="{sid}">{e(name)}: {len(sessions)} session{"s" if len(sessions) != 1 else ""}'
                f"{f', {len(series)} series' if series else ''}</h3>"
            ),
        ]
        if sessions:
            leaves = {m.day for m in deactivation_dates(plan) if m.staff == name and m.kind == "scheduled"}
            out += _strip(sessions, leaves)
        if series:
            out.append("<ul>")
            for a in series:
                what = _series_what(a, tz)
                out.append(f"<li><code>{e(a.target)}</code> {e(session_label(a, tz) or '')}: {e(what)}</li>")
            out.append("</ul>")
        out.append("</section>")
    if not out:
        return []
    legend = (
        '<ul class="legend" aria-label="Legend"><li><span class="chip cancel">✕ cancelled</span></li>'
        '<li><span class="chip move">→ moved to a colleague</span></li></ul>'
    )
    return [
        '<section aria-labelledby="sessions">',
        '<h2 id="sessions">Sessions, week by week</h2>',
        legend,
        *out,
        "</section>",
    ]


def _strip(sessions: Iterable[tuple[Action, dt.datetime]], leaves: set[dt.date]) -> list[str]:
    """One small calendar table per affected week: days as columns, sessions as chips;
    a scheduled leave date is marked, so a reviewer sees why sessions from then on move."""
    weeks: dict[dt.date, dict[int, list[str]]] = {}
    for a, start in sorted(sessions, key=lambda p: (p[1], p[0].id)):
        monday = start.date() - dt.timedelta(days=start.weekday())
        weeks.setdefault(monday, {}).setdefault(start.weekday(), []).append(_chip(a, start))
    out: list[str] = []
    for monday, days in weeks.items():
        n = sum(len(v) for v in days.values())
        out += [
            '<table class="strip week">',
            f"<caption>Week of {monday:%a %Y-%m-%d}: {n} session{'s' if n != 1 else ''}</caption>",
            "<thead><tr>",
        ]
        for i, name in enumerate(_DAY_NAMES):
            day = monday + dt.timedelta(days=i)
            mark = ' class="leave"' if day in leaves else ""
            note = "<br><span>leaves: inactive from this day</span>" if day in leaves else ""
            out.append(f'<th scope="col"{mark}><time datetime="{day.isoformat()}">{name} {day:%m-%d}</time>{note}</th>')
        out += ["</tr></thead>", "<tbody><tr>"]
        for i in range(7):
            chips = days.get(i)
            out.append(f"<td>{''.join(chips)}</td>" if chips else '<td class="off"></td>')
        out += ["</tr></tbody>", "</table>"]
    return out


# ----------------------------------------------------------------- every action
def _all_actions(plan: Plan, tz: dt.tzinfo) -> list[str]:
    out = ['<section aria-labelledby="actions">', '<h2 id="actions">Every action, in execution order</h2>']
    for name, actions in group_actions(plan):
        sid = f"actions-{len(out)}"
        n = len(actions)
        out.append(f'<h3 id="{sid}">{e(name)}: {n} action{"s" if n != 1 else ""}</h3>')
        reasons = list(dict.fromkeys(h for h in (header(a) for a in actions) if h))
        if reasons:
            out.append("<ul>" + "".join(f"<li>{e(r)}</li>" for r in reasons) + "</ul>")
        out += [
            f'<table aria-labelledby="{sid}">',
            (
                '<thead><tr><th scope="col" class="num">#</th><th scope="col">Action</th><th scope="col">Target</th>'
                '<th scope="col">Session</th><th scope="col">Change</th><th scope="col">Drift</th></tr></thead>'
            ),
            "<tbody>",
        ]
        for item in fold(actions, over=FOLD_OVER, keep=FOLD_KEEP):
            if isinstance(item, Fold):
                out.append(
                    f'<tr><td></td><td colspan="5">… and {item.hidden} more <code>{e(item.type.value)}</code>'
                    " (all in the JSON plan)</td></tr>"
                )
                continue
            out.append(
                f'<tr><td class="num">{item.id}</td><td>{e(GLYPHS[item.type])} <code>{e(item.type.value)}</code></td>'
                f"<td><code>{e(item.target)}</code></td><td>{e(session_label(item, tz) or '')}</td>"
                f"<td>{e(line_changes(item))}</td><td>{'drift' if item.drift else ''}</td></tr>"
            )
        out += ["</tbody>", "</table>"]
    return out + ["</section>"]
