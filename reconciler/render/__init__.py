"""Renderers: pure functions from values (plans, problems) to strings; printing is the CLI's job.

:data:`FORMATS` is the registry of plan formats; the CLI builds ``plan --format``
from it. A new format is one module with a ``render_<name>(plan, *, color=False)``
function plus one entry here.
"""

from __future__ import annotations

from typing import Protocol

from reconciler.model.actions import Plan
from reconciler.render.html import render_html
from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text


class PlanRenderer(Protocol):
    def __call__(self, plan: Plan, *, color: bool = False) -> str: ...


def _markdown(plan: Plan, *, color: bool = False) -> str:
    return render_markdown(plan)


def _html(plan: Plan, *, color: bool = False) -> str:
    return render_html(plan)


#: Plan formats, in the order ``--help`` lists them.
FORMATS: dict[str, PlanRenderer] = {
    "text": render_text,
    "json": render_json,
    "markdown": _markdown,
    "html": _html,
}


def render_plan(plan: Plan, fmt: str, *, color: bool = False) -> str:
    """The plan in format ``fmt`` (a key of :data:`FORMATS`)."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown plan format {fmt!r} (known: {', '.join(FORMATS)})") from None
    return renderer(plan, color=color)


__all__ = ["FORMATS", "PlanRenderer", "render_plan"]
