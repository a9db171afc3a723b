"""A real headless Chromium for the tests, driven over the DevTools protocol (stdlib only).

Why this and not ``chromium --dump-dom`` / ``--screenshot``: those flags cannot say
*what the page did*. Over the DevTools protocol the test sees every network request
the page starts (``Network.requestWillBeSent``), every console message and uncaught
exception, and takes the screenshot in the same launch, so one browser start serves
all the example plans (Chromium takes a second or two to start).

Why ``--remote-debugging-pipe`` and not a port: no websocket client is in the test
lock, no port is opened, and nothing else on the machine can talk to the browser.
The protocol on the pipe is JSON messages ended by a NUL byte: commands go to the
browser's fd 3, replies and events come back on its fd 4.

The browser runs in its own session (process group) with a throw-away profile and
with the flags that stop its own background traffic (component updates, sync, field
trials), so a request seen by a test comes from the page.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)


def chromium_path() -> str:
    """Debian's ``chromium`` (scripts/test.sh installs it); a clear failure, not a skip, without it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "no chromium on PATH: run scripts/test.sh (it installs Debian's chromium) or apt-get install chromium"
    )


class CDPError(RuntimeError):
    """A DevTools command answered with an error, or the browser did not answer in time."""


@dataclass
class PageReport:
    """What one page load did: the requests it started and the problems it logged."""

    url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def foreign_requests(self) -> list[str]:
        """Every request other than the page's own document (a self-contained page makes none)."""
        return [u for u in self.requests if u != self.url]


class Browser:
    """One headless Chromium; use as a context manager (the process group is ended on exit)."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="reconciler-chromium-")
        self._log = open(Path(self._profile) / "chromium.log", "wb")  # noqa: SIM115 (closed in close())
        cmd_r, cmd_w = os.pipe()
        resp_r, resp_w = os.pipe()
        # Move the child's ends above 10 first so the dup2 onto 3 and 4 cannot clobber them.
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(resp_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(resp_w)
        argv = [chromium_path(), *FLAGS, f"--user-data-dir={self._profile}", "about:blank"]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, self._log.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, self._log.fileno(), 2),
            (os.POSIX_SPAWN_DUP2, child_r, 3),
            (os.POSIX_SPAWN_DUP2, child_w, 4),
        ]
        try:
            self.pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions, setsid=True)
        finally:
            os.close(child_r)
            os.close(child_w)
        self._out = cmd_w
        self._in = resp_r
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._closed = False

    # ------------------------------------------------------------ protocol
    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its reply; events that arrive meanwhile are kept."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            for i, m in enumerate(self._events):
                if m.get("id") == self._next_id:
                    del self._events[i]
                    if "error" in m:
                        raise CDPError(f"{method}: {m['error']}")
                    result: dict[str, Any] = m.get("result", {})
                    return result
            self._read(deadline, f"the reply to {method}")

    def wait_event(self, method: str, *, session: str | None) -> dict[str, Any]:
        """Wait for the next ``method`` event of ``session`` (events before it stay queued)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, m in enumerate(self._events):
                if m.get("method") == method and m.get("sessionId") == session:
                    del self._events[i]
                    return m
            self._read(deadline, method)

    def take_events(self, session: str) -> list[dict[str, Any]]:
        """Remove and return every queued event of ``session``."""
        mine = [m for m in self._events if m.get("sessionId") == session and "method" in m]
        self._events = [m for m in self._events if not (m.get("sessionId") == session and "method" in m)]
        return mine

    def _read(self, deadline: float, waiting_for: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self._in], [], [], left)[0]:
            raise CDPError(f"chromium did not send {waiting_for} within {self.timeout:.0f}s; log:\n{self.log()}")
        chunk = os.read(self._in, 1 << 20)
        if not chunk:
            raise CDPError(f"chromium exited while we waited for {waiting_for}; log:\n{self.log()}")
        self._buffer += chunk
        *messages, self._buffer = self._buffer.split(b"\0")
        self._events.extend(json.loads(m) for m in messages if m)

    def log(self) -> str:
        self._log.flush()
        return (Path(self._profile) / "chromium.log").read_text(errors="replace")[-4000:]

    # ------------------------------------------------------------ pages
    def new_page(self, *, width: int = 1200, height: int = 1600) -> Page:
        """A fresh tab with network, console and log reporting on, at a fixed viewport."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        return Page(self, session)

    # ------------------------------------------------------------ lifetime
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.call("Browser.close")
        except (CDPError, OSError):
            pass
        deadline = time.monotonic() + 5
        exited = False
        while not exited and time.monotonic() < deadline:
            exited = os.waitpid(self.pid, os.WNOHANG) != (0, 0)
            time.sleep(0 if exited else 0.05)
        try:  # our own process group (setsid above): helpers the browser left behind, or all of it
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if not exited:
            os.waitpid(self.pid, 0)
        for fd in (self._out, self._in):
            os.close(fd)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One tab of a :class:`Browser`, attached in flat session mode."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def load(self, url: str) -> PageReport:
        """Navigate, wait for the load event, and report requests and console problems."""
        self.browser.take_events(self.session)
        reply = self.browser.call("Page.navigate", {"url": url}, session=self.session)
        if reply.get("errorText"):
            raise CDPError(f"navigating to {url}: {reply['errorText']}")
        self.browser.wait_event("Page.loadEventFired", session=self.session)
        # A round trip after the load event lets late console messages arrive first.
        self.evaluate("document.readyState")
        return self.report(url)

    def report(self, url: str) -> PageReport:
        """Requests and console/log errors queued since the last load or report."""
        report = PageReport(url)
        for m in self.browser.take_events(self.session):
            p = m.get("params", {})
            method = m["method"]
            if method == "Network.requestWillBeSent":
                report.requests.append(p["request"]["url"])
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                report.console_errors.append(f"console.{p['type']}: {args}")
            elif method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                report.console_errors.append(
                    "exception: " + str(d.get("exception", {}).get("description") or d.get("text"))
                )
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                e = p["entry"]
                report.console_errors.append(
                    f"log.{e['level']} ({e.get('source')}): {e.get('text')} {e.get('url', '')}".rstrip()
                )
        return report

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """The JSON value of ``expression`` in the page; a thrown error is a :class:`CDPError`."""
        reply = self.browser.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            session=self.session,
        )
        if "exceptionDetails" in reply:
            d = reply["exceptionDetails"]
            raise CDPError(str(d.get("exception", {}).get("description") or d.get("text")))
        return reply.get("result", {}).get("value")

    def screenshot(self, path: Path) -> None:
        """A PNG of the viewport (the size given to :meth:`Browser.new_page`)."""
        data = self.browser.call("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
