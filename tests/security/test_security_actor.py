"""The actor name written into the audit trail (reconciler.security.actor)."""

from __future__ import annotations

import re

import pytest

from reconciler.errors import ReconcilerError
from reconciler.security.actor import MAX_ACTOR_LENGTH, InvalidActor, validate_actor


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("alee", "alee"),
        ("  alee  ", "alee"),
        ("Dr. Zoë Ñúñez (practice manager)", "Dr. Zoë Ñúñez (practice manager)"),
        ("ci@gitops-runner", "ci@gitops-runner"),
        ("漢字", "漢字"),
        ("a" * MAX_ACTOR_LENGTH, "a" * MAX_ACTOR_LENGTH),
    ],
)
def test_valid_actor_is_returned_stripped(name: str, expected: str) -> None:
    assert validate_actor(name) == expected


@pytest.mark.parametrize(
    ("label", "name", "message"),
    [
        ("empty", "", "empty"),
        ("only spaces", "   ", "empty"),
        ("too long", "a" * (MAX_ACTOR_LENGTH + 1), "longer than 128"),
        (
            "newline (forged audit line)",
            "alee\n2026-12-02T00:00:00Z  owner  p-1 #1  client.delete",
            "U+000A",
        ),
        ("trailing newline", "alee\n", "U+000A"),
        ("carriage return", "alee\rowner", "U+000D"),
        ("tab", "a\tb", "U+0009"),
        ("ANSI escape", "\x1b[2K\x1b[1Gowner", "U+001B"),
        ("C1 CSI", "a\x9b2Kb", "U+009B"),
        ("DEL", "a\x7fb", "U+007F"),
        ("NUL", "a\x00b", "U+0000"),
        ("bidi override", "alee\u202eeganam", "U+202E"),
        ("zero-width space", "ow\u200bner", "U+200B"),
        ("line separator", "a\u2028b", "U+2028"),
        ("paragraph separator", "a\u2029b", "U+2029"),
        ("no-break space", "owner\u00a0", "U+00A0"),
        ("private use", "a\ue000", "U+E000"),
        ("unassigned", "a\U000e0fff", "U+E0FFF"),
        ("lone surrogate", "a\ud800", "U+D800"),
    ],
)
def test_invalid_actor_is_refused(label: str, name: str, message: str) -> None:
    with pytest.raises(InvalidActor, match=re.escape(message)) as err:
        validate_actor(name)
    assert "\x1b" not in str(err.value) and "\n" not in str(err.value), label


def test_non_text_actor_is_refused() -> None:
    with pytest.raises(InvalidActor):
        validate_actor(None)


def test_invalid_actor_is_a_reconciler_error() -> None:
    assert issubclass(InvalidActor, ReconcilerError)
