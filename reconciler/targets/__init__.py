"""Where the practice records live: one Target per kind of system (SPEC §6).

``get(name)`` returns a target's opener; :mod:`reconciler.targets.base` holds the
protocol every target implements: ``native`` (SQLite, PostgreSQL) and ``openemr``
(OpenEMR 7 on MariaDB/MySQL).
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


def resolve_name(opt: str | None) -> str:
    """``--target``, else $RECONCILER_TARGET, else ``native``; unknown names are one error."""
    name = (opt or os.environ.get(ENV_VAR, "").strip() or DEFAULT).strip()
    if name not in NAMES:
        raise ReconcilerError(f"unknown target {name!r} (known: {', '.join(NAMES)})")
    return name


def get(name: str) -> Callable[..., "Target"]:
    """The opener of target ``name``: ``get("native")(url, create=False) -> Target``."""
    if resolve_name(name) == "openemr":
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
