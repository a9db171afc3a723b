"""Structured logging for the long-running commands (``watch``) and operators.

One event per line, either human text::

    2026-11-24T09:53:30Z INFO  plan.changed plan_id=plan-0123abcd actions=12

or JSON lines (``--log-format json``)::

    {"time": "2026-11-24T09:53:30Z", "level": "info", "event": "plan.changed", "plan_id": "plan-0123abcd", "actions": 12}

Callers log an *event name* plus keyword *fields* (ids, counts, file and line),
never free prose about clients. As a second line of defence, fields whose key can
hold a person's name on a client record (``first_name``, ``last_name``,
``client_name``...) are redacted before anything is written: clients are referred
to by id only, in logs as everywhere else.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import IO, Any, Mapping

ROOT = "reconciler"
REDACTED = "[redacted]"

#: Field names that could carry a client's name (PHI); their values never reach a log.
PHI_FIELDS = frozenset({"first_name", "last_name", "client_name", "full_name", "given_name", "family_name"})

_FIELDS_ATTR = "reconciler_fields"


def scrub(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with PHI-bearing keys redacted (recursively, for nested mappings)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key.lower() in PHI_FIELDS:
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = scrub(value)
        else:
            out[key] = value
    return out


def _time(record: logging.LogRecord) -> str:
    when = dt.datetime.fromtimestamp(record.created, tz=dt.timezone.utc).replace(microsecond=0)
    return when.isoformat().replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(getattr(record, _FIELDS_ATTR, {}) or {})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event, then the fields (sorted)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"time": _time(record), "level": record.levelname.lower(), "event": record.getMessage()}
        fields = _fields(record)
        for key in sorted(fields):
            if key not in doc:  # the envelope keys win; a field cannot forge them
                doc[key] = fields[key]
        return json.dumps(doc, ensure_ascii=False, default=str, sort_keys=False)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    # Quote values with spaces or quotes so a line splits back into key=value pairs.
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``TIME LEVEL event key=value ...`` (fields sorted by key)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        parts = [_time(record), f"{record.levelname:<5}", record.getMessage()]
        parts += [f"{k}={_text_value(fields[k])}" for k in sorted(fields)]
        return " ".join(parts)


class EventLogger:
    """A thin wrapper over :mod:`logging`: ``log.info("plan.changed", plan_id=..., actions=3)``."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    @property
    def name(self) -> str:
        return self._logger.name

    def log(self, level: int, event: str, /, **fields: Any) -> None:
        """Log ``event`` with ``fields`` (PHI-bearing keys redacted)."""
        if self._logger.isEnabledFor(level):
            self._logger.log(level, "%s", event, extra={_FIELDS_ATTR: scrub(fields)})

    def debug(self, event: str, /, **fields: Any) -> None:
        self.log(logging.DEBUG, event, **fields)

    def info(self, event: str, /, **fields: Any) -> None:
        self.log(logging.INFO, event, **fields)

    def warning(self, event: str, /, **fields: Any) -> None:
        self.log(logging.WARNING, event, **fields)

    def error(self, event: str, /, **fields: Any) -> None:
        self.log(logging.ERROR, event, **fields)


def get_logger(name: str) -> EventLogger:
    """The event logger ``reconciler.<name>`` (``name`` may already start with ``reconciler``)."""
    full = name if name == ROOT or name.startswith(ROOT + ".") else f"{ROOT}.{name}"
    return EventLogger(logging.getLogger(full))


def configure(log_format: str = "text", stream: IO[str] | None = None, level: int = logging.INFO) -> logging.Handler:
    """Send every ``reconciler.*`` event to ``stream`` (default stderr) as ``text`` or ``json``.

    Idempotent: a second call replaces the handler the first one installed, so tests
    and repeated ``watch`` runs in one process do not duplicate lines.
    """
    if log_format not in ("text", "json"):
        raise ValueError(f"unknown log format {log_format!r} (text | json)")
    reset()
    root = logging.getLogger(ROOT)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler._reconciler_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Our lines are complete on their own; do not let the root logger print them twice.
    root.propagate = False
    return handler


def reset() -> None:
    """Undo :func:`configure`: remove its handler, let events propagate again."""
    root = logging.getLogger(ROOT)
    for old in [h for h in root.handlers if getattr(h, "_reconciler_handler", False)]:
        root.removeHandler(old)
    root.propagate = True
    root.setLevel(logging.NOTSET)
