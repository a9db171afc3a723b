"""Renderers: pure functions from values (plans, problems) to strings; printing is the CLI's job.

:data:`FORMATS` is the registry of plan formats; the CLI builds ``plan --format``
from it. A new format is one module with a ``render_<name>(plan, *, color=False)``
function plus one entry here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.actions import Plan


class PlanRenderer(Protocol):
    def __call__(self, plan: "Plan", *, color: bool = False) -> str: ...


# Each renderer imports its module when called: a command renders one format, and the
# HTML report (with its charts) alone costs a tenth of a second of start-up.
def _text(plan: "Plan", *, color: bool = False) -> str:
    from reconciler.render.text import render_text

    return render_text(plan, color=color)


def _json(plan: "Plan", *, color: bool = False) -> str:
    from reconciler.render.json import render_json

    return render_json(plan, color=color)


def _markdown(plan: "Plan", *, color: bool = False) -> str:
    from reconciler.render.markdown import render_markdown

    return render_markdown(plan)


def _html(plan: "Plan", *, color: bool = False) -> str:
    from reconciler.render.html import render_html

    return render_html(plan)


#: Plan formats, in the order ``--help`` lists them.
FORMATS: dict[str, PlanRenderer] = {
    "text": _text,
    "json": _json,
    "markdown": _markdown,
    "html": _html,
}


def render_plan(plan: "Plan", fmt: str, *, color: bool = False) -> str:
    """The plan in format ``fmt`` (a key of :data:`FORMATS`)."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown plan format {fmt!r} (known: {', '.join(FORMATS)})") from None
    return renderer(plan, color=color)


__all__ = ["FORMATS", "PlanRenderer", "render_plan"]
