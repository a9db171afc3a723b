"""Progress bars for long operations (snapshot load, large applies), on stderr only.

Usage::

    with progress_bar(total=len(rows), description="Loading clients", enabled=progress) as bar:
        for chunk in chunks:
            write(chunk)
            bar.advance(len(chunk))

A bar is drawn only when asked for (``enabled``), stderr is a terminal and ``$CI``
is unset; otherwise the object is a no-op, so callers never branch. ``rich`` is
imported only when a bar is actually drawn.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import IO, Any, Iterator, Protocol


class Progress(Protocol):
    """What callers get: ``advance(n)`` after each unit of work."""

    def advance(self, n: int = 1) -> None: ...


class NoProgress:
    """The silent bar: counts, draws nothing."""

    def __init__(self) -> None:
        self.completed = 0

    def advance(self, n: int = 1) -> None:
        self.completed += n


class RichProgress:
    """A rich task on a live progress display."""

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress = progress
        self._task = task
        self.completed = 0

    def advance(self, n: int = 1) -> None:
        self.completed += n
        self._progress.advance(self._task, n)


def bar_wanted(enabled: bool, stream: IO[str] | None = None) -> bool:
    """True when a bar should be drawn: enabled, a terminal, and not under CI."""
    stream = stream if stream is not None else sys.stderr
    if not enabled or os.environ.get("CI"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def progress_bar(total: int, description: str, enabled: bool, stream: IO[str] | None = None) -> Iterator[Progress]:
    """A progress bar on stderr (or ``stream``) when wanted, else a no-op; see the module doc."""
    out = stream if stream is not None else sys.stderr
    if not bar_wanted(enabled, out):
        yield NoProgress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichLive

    console = Console(file=out, force_terminal=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    # transient: the bar disappears when done, leaving the command's own summary line.
    with RichLive(*columns, console=console, transient=True) as live:
        task = live.add_task(description, total=max(total, 0))
        yield RichProgress(live, task)
