"""One exception family for everything a user can get wrong.

::

    ReconcilerError                 exit 1, rendered once by the CLI, never a traceback
    ├── ConfigError                 a config file is unreadable, unsafe or invalid (file:line)
    ├── ValidationFailed            several located problems found by validate / plan
    ├── SnapshotError               a snapshot file cannot be loaded (file:line or entity)
    ├── DatabaseError               the database is unreachable, not initialised, not empty...
    ├── PlanRefused                 invariants, blast-radius guard, deletion rules
    ├── StalePlan                   the database moved since the saved plan was made
    ├── LockHeld                    another apply holds the practice lock
    ├── ApplyFailed                 a write failed; the transaction was rolled back
    └── ExportError                 an export file exists or cannot be written

Each error carries zero or more :class:`Problem` values; a problem has a
:class:`Location` (file, line, field) or an entity reference, so that the message
names where to look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True, order=True)
class Location:
    """Where a problem is: a file and line, optionally a field path, or an entity."""

    file: str | None = None
    line: int | None = None
    field: str | None = None
    entity: str | None = None  # e.g. "staff bsmith", "client C-1001"

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.entity:
            parts.append(self.entity)
        if self.field:
            parts.append(self.field)
        return ": ".join(parts)


@dataclass(frozen=True, order=True)
class Problem:
    """One located finding. ``code`` is a stable machine-readable key."""

    location: Location
    message: str
    code: str = "invalid"
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "field": self.location.field,
            "entity": self.location.entity,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }


def problem_key(problem: Problem) -> tuple[int, str, int, str, str, str]:
    """The one sort key of problems: errors before warnings, then file, line, field,
    entity, message. Missing parts sort first; unlike ``sorted(problems)`` this never
    compares None with a string."""
    loc = problem.location
    return (
        0 if problem.severity == "error" else 1,
        loc.file or "",
        loc.line or 0,
        loc.field or "",
        loc.entity or "",
        problem.message,
    )


class ReconcilerError(Exception):
    """Base of every user-facing error. The CLI prints ``str(err)`` and exits 1."""

    exit_code = 1

    def __init__(self, message: str, problems: Iterable[Problem] = (), location: Location | None = None):
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.location = location
        if location is not None and not self.problems:
            self.problems = (Problem(location, message),)
        super().__init__(message)

    def __str__(self) -> str:
        head = self.args[0] if self.args else self.__class__.__name__
        if len(self.problems) == 1:
            return str(self.problems[0])
        if self.problems:
            lines = [str(head)] + [f"  {p}" for p in sorted(self.problems, key=problem_key)]
            return "\n".join(lines)
        return str(head)


class ConfigError(ReconcilerError):
    """A config file is unreadable, unsafe or does not match the schema."""


class ValidationFailed(ReconcilerError):
    """validate / plan found one or more problems (each located)."""


class SnapshotError(ReconcilerError):
    """A snapshot file cannot be loaded; nothing was loaded."""


class DatabaseError(ReconcilerError):
    """The database is unreachable, not initialised, or in the wrong state."""


class NoPractice(DatabaseError):
    """The database holds no practice row yet (one message wherever it is found)."""

    def __init__(self) -> None:
        super().__init__("the database holds no practice: load one with `reconciler db load FILE`")


class PlanRefused(ReconcilerError):
    """The plan breaks an invariant, the blast-radius guard or a deletion rule."""


class StalePlan(ReconcilerError):
    """The rows a saved plan depends on changed since it was made."""


class LockHeld(ReconcilerError):
    """Another apply holds the practice lock."""


class ApplyFailed(ReconcilerError):
    """A write did not match the plan; the transaction was rolled back."""


class ExportError(ReconcilerError):
    """An export file already exists or cannot be written."""


@dataclass
class ProblemList:
    """Collects problems, then raises them together (validate reports all at once)."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, location: Location, message: str, code: str = "invalid", severity: str = "error") -> None:
        self.problems.append(Problem(location, message, code, severity))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]
