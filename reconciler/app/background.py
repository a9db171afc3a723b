"""A string computed on the second core: a forked process works out a pure function's
result while this one goes on.

A large plan digests its inputs: the fingerprint of the rows it read is SHA-256 over
their canonical JSON (about a tenth of a 12,000-action ``plan``), while the planner
itself does not need it until its last line. The forked child sees the same values
(copy-on-write), computes the same text and sends it through a pipe; nothing else
passes between the two. Anything unusual (not Linux, another thread running, as in
``watch``, a child that fails or is killed) falls back to computing the value here, so
the result never depends on how it was computed.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Callable

#: Set (to anything) to compute everything in this process.
NO_FORK_ENV = "RECONCILER_NO_FORK"


class Later:
    """A string that ``fn`` gives; ``Later()`` waits for it. Call :meth:`close` (or use
    ``with``) to end the child when the value is not wanted after all."""

    def __init__(self, fn: Callable[[], str], *, fork: bool = True) -> None:
        """``fork=False``: the work is too small to be worth a process (computed here)."""
        self._fn = fn
        self._value: str | None = None
        self._pid = 0
        self._read = -1
        if fork and _can_fork():
            self._fork()

    def _fork(self) -> None:
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child: compute, send, leave without running any exit handler
            status = 1
            try:
                os.close(read)
                data = self._fn().encode("utf-8")
                view = memoryview(data)
                while view:
                    view = view[os.write(write, view) :]
                status = 0
            except BaseException:  # noqa: BLE001 (the parent computes it instead)
                pass
            finally:
                os._exit(status)
        os.close(write)
        self._pid, self._read = pid, read

    def __call__(self) -> str:
        if self._value is None:
            got = self._collect()
            self._value = got if got is not None else self._fn()
        return self._value

    def _collect(self) -> str | None:
        """The child's text, or None when it failed (or there is no child)."""
        if not self._pid:
            return None
        chunks = []
        try:
            while chunk := os.read(self._read, 1 << 20):
                chunks.append(chunk)
        finally:
            status = self._reap()
        if status != 0:
            return None
        try:
            return b"".join(chunks).decode("utf-8")
        except UnicodeDecodeError:
            return None

    def _reap(self) -> int:
        os.close(self._read)
        pid, self._pid, self._read = self._pid, 0, -1
        _, status = os.waitpid(pid, 0)
        return status

    def close(self) -> None:
        """End the child, if any, without waiting for its value."""
        if self._pid:
            import signal

            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def __enter__(self) -> "Later":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _can_fork() -> bool:
    # fork() copies only the calling thread: a lock another thread holds (logging's,
    # an I/O buffer's) would stay held in the child forever. macOS frameworks are not
    # fork-safe either. So: Linux, one thread, and not switched off.
    return sys.platform == "linux" and threading.active_count() == 1 and not os.environ.get(NO_FORK_ENV)
