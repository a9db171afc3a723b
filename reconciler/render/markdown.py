"""The Markdown rendering of a plan, made to be posted as a pull-request comment.

A title, the summary line and a table of counts per action type, the seat change,
the warnings, the Mermaid charts of :mod:`.charts` (caseload changes, deactivation
dates; only when there are some), then one collapsible ``<details>`` section per
professional with a table of its actions (with a Session column, client id and local time, where the
professional has sessions or series). It ends with :data:`MARKER`, a hidden comment that lets CI
find and update its own comment in place. Pure and deterministic.

Every cell is escaped (pipes, HTML, line breaks): reasons come from config files,
and a comment must not be able to break the table or inject markup.
"""

from __future__ import annotations

from typing import Iterable

from reconciler.model.actions import Action, Plan
from reconciler.render.charts import mermaid_blocks
from reconciler.render.text import (
    DRIFT_GLYPH,
    GLYPHS,
    NO_CHANGES,
    PHRASES,
    Fold,
    fold,
    group_actions,
    header,
    line_changes,
    plan_zone,
    seats_line,
    session_label,
    short_digest,
    summary_counts,
    summary_line,
)

#: The hidden marker CI looks for to edit its previous comment.
MARKER = "<!-- reconciler-plan -->"

#: GitHub comments are capped at 65,536 characters: fold more generously than the
#: terminal, but still fold a professional's thousands of cancelled sessions.
MD_FOLD_OVER = 100
MD_FOLD_KEEP = 50


def escape_cell(text: str) -> str:
    """Make ``text`` safe inside a Markdown table cell (and inside HTML)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return " ".join(text.split())  # newlines would end the row


def render_markdown(plan: Plan) -> str:
    """The plan as a pull-request comment (GitHub-flavoured Markdown)."""
    out: list[str] = [
        f"### Reconciler plan `{plan.plan_id}`",
        "",
        f"As of **{escape_cell(plan.as_of)}** · database `{escape_cell(short_digest(plan.db_fingerprint))}`"
        f" · config `{escape_cell(short_digest(plan.config_digest))}`",
        "",
    ]
    if plan.is_empty:
        out.append(f"**{NO_CHANGES}**")
        out.extend(_warnings(plan.warnings))
        out += ["", MARKER]
        return "\n".join(out) + "\n"

    out += [f"**{escape_cell(summary_line(plan))}**", "", "| Action | Count | Meaning |", "|---|---:|---|"]
    for t, n in summary_counts(plan):
        out.append(f"| {GLYPHS[t]} `{t.value}` | {n} | {escape_cell(PHRASES[t].count(n))} |")
    drift = sum(1 for a in plan.actions if a.drift)
    if drift:
        out += [
            "",
            f"**{drift} action{'s' if drift != 1 else ''} undo{'' if drift != 1 else 'es'} drift** "
            f"(a change made outside reconciler), marked {DRIFT_GLYPH}.",
        ]
    seats = seats_line(plan)
    if seats:
        out += ["", f"**{escape_cell(seats)}**"]
    out.extend(_warnings(plan.warnings))
    out.extend(_charts(plan))

    tz = plan_zone(plan)
    for name, actions in group_actions(plan):
        out += ["", _details_summary(name, actions), ""]
        reasons = _distinct(h for h in (header(a) for a in actions) if h)
        if reasons:
            out += [f"- {escape_cell(r)}" for r in reasons]
            out.append("")
        labels = {a.id: session_label(a, tz) for a in actions}
        # The Session column only where a group has sessions or series (client-only groups stay narrow).
        sessions = any(labels.values())
        if sessions:
            out += ["| # | Action | Target | Session | Change | Drift |", "|---:|---|---|---|---|---|"]
        else:
            out += ["| # | Action | Target | Change | Drift |", "|---:|---|---|---|---|"]
        for item in fold(actions, over=MD_FOLD_OVER, keep=MD_FOLD_KEEP):
            out.append(_row(item, labels if sessions else None))
        out += ["", "</details>"]
    out += ["", MARKER]
    return "\n".join(out) + "\n"


def _details_summary(name: str, actions: list[Action]) -> str:
    n = len(actions)
    return f"<details><summary>{escape_cell(name)} — {n} action{'s' if n != 1 else ''}</summary>"


def _row(item: Action | Fold, labels: dict[int, str | None] | None) -> str:
    """One table row; ``labels`` (action id -> session text) when the table has a Session column."""
    session = "" if labels is None else " |"
    if isinstance(item, Fold):
        return f"| | … and {item.hidden} more `{item.type.value}` | |{session} | |"
    drift = DRIFT_GLYPH + " drift" if item.drift else ""
    if labels is not None:
        session = f" {escape_cell(labels.get(item.id) or '')} |"
    return (
        f"| {item.id} | {GLYPHS[item.type]} `{item.type.value}` | {escape_cell(item.target)} |{session} "
        f"{escape_cell(line_changes(item))} | {drift} |"
    )


def _warnings(warnings: Iterable[str]) -> list[str]:
    items = list(warnings)
    if not items:
        return []
    return ["", "**Warnings**", ""] + [f"- :warning: {escape_cell(w)}" for w in items]


def _charts(plan: Plan) -> list[str]:
    """The plan's Mermaid diagrams (GitHub draws them in the comment); none when nothing moves."""
    out: list[str] = []
    for block in mermaid_blocks(plan):
        out += ["", "```mermaid", block, "```"]
    return out


def _distinct(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
