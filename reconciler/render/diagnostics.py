"""Render validation problems for people: one located line per problem, then a summary."""

from __future__ import annotations

from typing import Iterable

from reconciler.errors import Problem


def problem_key(problem: Problem) -> tuple[int, str, int, str, str, str]:
    """Sort key: errors before warnings, then file, line, field, entity, message.

    Missing parts sort first; unlike ``sorted(problems)`` this never compares None
    with a string.
    """
    loc = problem.location
    return (
        0 if problem.severity == "error" else 1,
        loc.file or "",
        loc.line or 0,
        loc.field or "",
        loc.entity or "",
        problem.message,
    )


def format_problem(problem: Problem) -> str:
    """``file:line: field: message``; warnings say ``warning:`` before the message."""
    where = str(problem.location)
    message = problem.message if problem.severity == "error" else f"warning: {problem.message}"
    return f"{where}: {message}" if where else message


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_problems(problems: Iterable[Problem]) -> str:
    """All problems, errors first then warnings, each group sorted by place, one per
    line, and a trailing summary line ``N errors, M warnings``. No trailing newline."""
    ordered = sorted(problems, key=problem_key)
    errors = sum(1 for p in ordered if p.severity == "error")
    lines = [format_problem(p) for p in ordered]
    lines.append(f"{_count(errors, 'error')}, {_count(len(ordered) - errors, 'warning')}")
    return "\n".join(lines)
