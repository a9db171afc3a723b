"""Where the practice records live: one Target per kind of system (SPEC §6).

``get(name)`` returns a target's opener; :mod:`reconciler.targets.base` holds the
protocol every target implements: ``native`` (SQLite, PostgreSQL) and ``openemr``
(OpenEMR 7 on MariaDB/MySQL). A target shipped in another package registers itself
under the entry-point group ``reconciler.targets`` (name = the ``--target`` name, value
= its opener, e.g. ``inhouse_target:InHouseTarget.open``): see docs/targets.md.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from reconciler.errors import ReconcilerError

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.targets.base import Target

ENV_VAR = "RECONCILER_TARGET"
DEFAULT = "native"
NAMES = ("native", "openemr")
#: The entry-point group other packages register their targets under.
ENTRY_POINT_GROUP = "reconciler.targets"


def _entry_points() -> dict[str, Any]:
    """Targets registered by installed packages (the built-in names win)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in NAMES}


def known_names() -> tuple[str, ...]:
    """The built-in targets, then the registered ones, sorted."""
    return NAMES + tuple(sorted(_entry_points()))


def resolve_name(opt: str | None) -> str:
    """``--target``, else $RECONCILER_TARGET, else ``native``; unknown names are one error."""
    name = (opt or os.environ.get(ENV_VAR, "").strip() or DEFAULT).strip()
    if name not in NAMES and name not in _entry_points():
        raise ReconcilerError(f"unknown target {name!r} (known: {', '.join(known_names())})")
    return name


def get(name: str) -> Callable[..., "Target"]:
    """The opener of target ``name``: ``get("native")(url, create=False) -> Target``."""
    name = resolve_name(name)
    if name not in NAMES:
        opener: Callable[..., Target] = _entry_points()[name].load()
        return opener
    if name == "openemr":
        from reconciler.targets.openemr.target import OpenEMRTarget

        return OpenEMRTarget.open
    from reconciler.targets.native.target import NativeTarget

    return NativeTarget.open


def open_target(name: str | None, url: str | None, *, create: bool = False) -> "Target":
    """Open the target named by ``--target`` (or the environment) at ``url``."""
    opener: Any = get(resolve_name(name))
    target: Target = opener(url, create=create)
    return target


def error_line(exc: BaseException) -> str | None:
    """A PHI-free line for a driver error of any known target; None for other errors."""
    from reconciler.targets.native.target import error_line as native_line

    return native_line(exc)
