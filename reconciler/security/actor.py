"""The actor name recorded in the audit trail (``--actor`` / ``RECONCILER_ACTOR``).

It is replayed by ``reconciler audit`` into terminals and logs, so it must not carry
anything a terminal or a log reader interprets: no control characters (newlines, tabs,
ESC and so ANSI escape sequences, DEL, C1 controls), no invisible format characters
(zero-width, bidirectional overrides), no line or paragraph separators, no unassigned,
private-use or surrogate code points, and no space other than U+0020 (a no-break space
would make ``owner\\u00a0`` look like ``owner``).
"""

from __future__ import annotations

import unicodedata

from ..errors import ReconcilerError

MAX_ACTOR_LENGTH = 128


class InvalidActor(ReconcilerError):
    """The actor name is empty, too long, or holds a character that is not allowed."""


def validate_actor(name: object) -> str:
    """``name`` stripped of surrounding spaces, or :class:`InvalidActor`. The error
    names the offending code point and position, never echoes the raw name."""
    if not isinstance(name, str):
        raise InvalidActor("actor name must be text")
    stripped = name.strip(" ")
    if not stripped:
        raise InvalidActor("actor name is empty")
    if len(stripped) > MAX_ACTOR_LENGTH:
        raise InvalidActor(f"actor name is longer than {MAX_ACTOR_LENGTH} characters ({len(stripped)})")
    for pos, ch in enumerate(stripped, start=1):
        category = unicodedata.category(ch)
        if category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and ch != " "):
            kind = "a control character" if category == "Cc" else "a character that is not allowed"
            raise InvalidActor(f"actor name holds {kind} (U+{ord(ch):04X}) at position {pos}")
    return stripped
