"""A throwaway MariaDB server for the test session (mariadb-install-db + mariadbd).

Modelled on ``pgserver.py``: started once per test session in a temporary
directory, listening only on a unix socket there (``--skip-networking``), with
settings that trade durability for speed. Nothing is read from /etc/mysql
(``--no-defaults``), so a distro service that apt may have started, or its
configuration, cannot leak in. As root (CI) the server runs as ``nobody``,
because mariadbd refuses to run as root without ``--user`` and the tests should
not own a system account's files.

Grants are real, not ``--skip-grant-tables``: each database from
``create_database()`` gets its own password-protected user (named like the
database) with ``ALL`` on that database only, the way an OpenEMR installation's
``openemr`` user is set up, so the target is tested with the privileges it will
have in the field and one test's user cannot see another test's database.

A failure to start is an error, never a skip: the OpenEMR tests must run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pymysql

SERVER_NAMES = ("mariadbd", "mysqld")
INSTALL_NAMES = ("mariadb-install-db", "mysql_install_db")
SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")

TEST_PASSWORD = "reconciler-test-pw"


def _find(names: tuple[str, ...]) -> Path:
    """First of ``names`` on PATH or in the usual sbin dirs (root's PATH may lack /usr/sbin)."""
    override = os.environ.get("RECONCILER_MARIADB_BIN", "")
    dirs = [override] if override else []
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
        for d in [*dirs, *SEARCH_DIRS]:
            cand = Path(d) / name
            if cand.exists():
                return cand
    raise RuntimeError(
        f"MariaDB server binaries not found (looked for {', '.join(names)}); "
        "install Debian's mariadb-server (scripts/test.sh does) or set RECONCILER_MARIADB_BIN"
    )


class MariaDbServer:
    """One mariadbd process with its own datadir and socket under a temp dir."""

    def __init__(self) -> None:
        self.server_bin = _find(SERVER_NAMES)
        self.install_bin = _find(INSTALL_NAMES)
        self.root = Path(tempfile.mkdtemp(prefix="reconciler-mariadb-"))
        self.data = self.root / "data"
        self.sock = self.root / "mysqld.sock"
        self.pid_file = self.root / "mysqld.pid"
        self.log_file = self.root / "server.log"
        self.as_nobody = os.geteuid() == 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float = 0.0

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(a) for a in args]
        if self.as_nobody:
            cmd = ["runuser", "-u", "nobody", "--", *cmd]
        return cmd

    def _server_args(self) -> list[str]:
        # --no-defaults must come first; the rest keep the server private and fast.
        return [
            str(self.server_bin),
            "--no-defaults",
            f"--datadir={self.data}",
            f"--socket={self.sock}",
            f"--pid-file={self.pid_file}",
            f"--log-error={self.log_file}",
            f"--tmpdir={self.root}",
            "--skip-networking",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--innodb-flush-method=nosync",
            "--sync-binlog=0",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            "--max-connections=200",
        ]

    def start(self, timeout: float = 60.0) -> MariaDbServer:
        t0 = time.monotonic()
        if self.as_nobody:
            os.chmod(self.root, 0o777)
        install = subprocess.run(
            self._cmd(
                str(self.install_bin),
                "--no-defaults",
                f"--datadir={self.data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if install.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{install.stdout.decode(errors='replace')}")
        self.proc = subprocess.Popen(
            self._cmd(*self._server_args()), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode}:\n{self._log_tail()}")
            # A raw socket first: PyMySQL leaks its socket when a connect is refused.
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(5)
                probe.connect(str(self.sock))
                if probe.recv(1):  # the server's greeting: it is accepting clients
                    break
            except OSError as exc:
                last = exc
            finally:
                probe.close()
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"mariadbd did not accept connections in {timeout}s ({last}):\n{self._log_tail()}")
        self.start_seconds = time.monotonic() - t0
        return self

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _root_conn(self) -> pymysql.connections.Connection:
        """The superuser, over the socket; only the fixture itself uses it (to create databases)."""
        return pymysql.connect(unix_socket=str(self.sock), user="root", password="", autocommit=True, connect_timeout=5)

    def root_connection(self) -> pymysql.connections.Connection:
        """A superuser connection, for tests that must do what the target's user cannot."""
        return self._root_conn()

    def stop(self) -> None:
        """Clean shutdown (SIGTERM to mariadbd), then remove the whole temp dir."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                pid = None
                try:
                    pid = int(self.pid_file.read_text().strip())
                except (OSError, ValueError):
                    pass
                if pid:
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                else:
                    self.proc.terminate()
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    if pid:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str, user: str | None = None, password: str = TEST_PASSWORD) -> str:
        """SQLAlchemy URL over the unix socket (PyMySQL), the shape SPEC §6 documents plus the socket."""
        user = user or dbname
        return f"mysql+pymysql://{user}:{password}@localhost/{dbname}?unix_socket={self.sock}&charset=utf8mb4"

    def create_database(self, name: str | None = None) -> str:
        """A fresh empty database and its own user (same name, ALL on it only); returns its URL."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        with self._root_conn() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
            cur.execute("CREATE USER %s@'localhost' IDENTIFIED BY %s", (name, TEST_PASSWORD))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'localhost'", (name,))
        return self.url(name)
