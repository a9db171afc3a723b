"""Ctrl-C and SIGTERM during ``apply`` are reported truthfully.

Before the commit starts, an interrupt rolls the transaction back: the command ends
with "Interrupted: nothing was changed" (exit 130 for SIGINT, 143 for SIGTERM).
Once the commit starts, SIGINT and SIGTERM are *deferred*: recorded, not acted on,
until the commit has finished and the normal success line has been printed; then
the command says "Interrupted after the changes were committed" and exits with the
same code (128 + the signal number), so a shell loop or CI job still stops — the
message, not the exit code, says that the changes were made. A failure of the commit
itself is reported as such (exit 1), the interrupt noted after it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from types import FrameType
from typing import Any, Iterator

from reconciler.errors import ReconcilerError


class Interrupted(ReconcilerError):
    """The user interrupted; the message says whether anything changed."""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class SignalRaised(KeyboardInterrupt):
    """SIGTERM turned into an exception (like SIGINT's KeyboardInterrupt), so that an
    apply rolls back and reports instead of dying silently."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Deferral:
    """Handlers for SIGINT/SIGTERM around one apply: raise before :meth:`start`,
    record after it."""

    def __init__(self) -> None:
        self.deferring = False
        self.received: int | None = None

    def start(self) -> None:
        """From now on (the commit is starting) a signal is only recorded."""
        self.deferring = True

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.deferring:
            if self.received is None:
                self.received = signum
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SignalRaised(signum)


@contextlib.contextmanager
def apply_signals() -> Iterator[Deferral]:
    """Install the :class:`Deferral` handlers for SIGINT and SIGTERM (main thread
    only: elsewhere signals cannot be handled and nothing is installed)."""
    deferral = Deferral()
    if threading.current_thread() is not threading.main_thread():
        yield deferral
        return
    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, deferral.handle)
    try:
        yield deferral
    finally:
        for num, handler in previous.items():
            signal.signal(num, handler)


__all__ = ["Deferral", "Interrupted", "SignalRaised", "apply_signals"]
