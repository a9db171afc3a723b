"""The plan's JSON (SPEC §5): the same text as the saved plan file. Pure."""

from __future__ import annotations

from reconciler.model.actions import Plan


def render_json(plan: Plan, *, color: bool = False) -> str:
    """Stable key order, 2-space indent, one action per line (see :meth:`Plan.dumps`)."""
    return plan.dumps()
