"""Render validation problems for people: one located line per problem, then a summary."""

from __future__ import annotations

from typing import Iterable

from reconciler.errors import Problem, problem_key

__all__ = ["format_problem", "format_problems", "problem_key"]


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
