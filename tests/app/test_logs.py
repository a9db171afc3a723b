"""Structured logs (text and JSON lines, no client names) and progress bars."""

from __future__ import annotations

import io
import json
import logging
from typing import Iterator

import pytest

from reconciler.logs import REDACTED, configure, get_logger, reset
from reconciler.progress import NoProgress, RichProgress, progress_bar


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    yield buf
    # Leave the reconciler logger as other tests expect it: no handler of ours.
    reset()


def lines(buf: io.StringIO) -> list[str]:
    return buf.getvalue().splitlines()


def test_json_lines_carry_time_level_event_and_fields(stream: io.StringIO) -> None:
    configure("json", stream)
    get_logger("watch").info(
        "plan.changed", plan_id="plan-0123456789ab", actions=12, file="practice/staff.yaml", line=7
    )
    (line,) = lines(stream)
    doc = json.loads(line)
    assert list(doc)[:3] == ["time", "level", "event"]
    assert doc["level"] == "info" and doc["event"] == "plan.changed"
    assert doc["time"].endswith("Z")
    assert {k: doc[k] for k in ("plan_id", "actions", "file", "line")} == {
        "plan_id": "plan-0123456789ab",
        "actions": 12,
        "file": "practice/staff.yaml",
        "line": 7,
    }


def test_text_lines_read_as_event_then_sorted_key_values(stream: io.StringIO) -> None:
    configure("text", stream)
    get_logger("watch").warning("apply.failed", plan_id="plan-1", message="another apply holds the lock")
    (line,) = lines(stream)
    time_, level, event, *rest = line.split(" ", 3)
    assert time_.endswith("Z") and level == "WARNING" and event == "apply.failed"
    assert "apply.failed" in line
    assert 'message="another apply holds the lock" plan_id=plan-1' in line


def test_a_field_cannot_forge_the_envelope(stream: io.StringIO) -> None:
    configure("json", stream)
    get_logger("x").info("real.event", event="forged", level="debug")
    doc = json.loads(lines(stream)[0])
    assert doc["event"] == "real.event" and doc["level"] == "info"


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("key", ["first_name", "last_name", "client_name", "Last_Name"])
def test_client_names_are_never_logged(stream: io.StringIO, fmt: str, key: str) -> None:
    configure(fmt, stream)
    get_logger("watch").info("client.touched", client="C-1001", **{key: "Reyes"})
    get_logger("watch").info("nested", client={"id": "C-1002", key: "Patel"})
    out = stream.getvalue()
    assert "Reyes" not in out and "Patel" not in out
    assert REDACTED in out and "C-1001" in out and "C-1002" in out


def test_configure_twice_does_not_duplicate_lines(stream: io.StringIO) -> None:
    configure("text", stream)
    configure("json", stream)
    get_logger("watch").info("once")
    assert len(lines(stream)) == 1
    json.loads(lines(stream)[0])


def test_levels_below_the_configured_one_are_dropped(stream: io.StringIO) -> None:
    configure("text", stream, level=logging.INFO)
    get_logger("watch").debug("plan.unchanged")
    get_logger("watch").error("config.invalid", file="practice/a.yaml", line=3)
    out = lines(stream)
    assert len(out) == 1 and "config.invalid" in out[0] and "line=3" in out[0]


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        configure("xml", io.StringIO())


# ---------------------------------------------------------------- progress


class FakeTty(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    "enabled, tty, ci, drawn",
    [(True, True, None, True), (False, True, None, False), (True, False, None, False), (True, True, "true", False)],
    ids=["enabled-tty", "disabled", "not-a-tty", "under-CI"],
)
def test_a_bar_is_drawn_only_when_enabled_on_a_terminal_outside_ci(
    monkeypatch: pytest.MonkeyPatch, enabled: bool, tty: bool, ci: str | None, drawn: bool
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    out = FakeTty(tty)
    with progress_bar(10, "Loading clients", enabled, stream=out) as bar:
        for _ in range(10):
            bar.advance(1)
    assert isinstance(bar, RichProgress if drawn else NoProgress)
    assert bar.completed == 10
    assert ("Loading clients" in out.getvalue()) is drawn
