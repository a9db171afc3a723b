"""Test helpers for the openemr target: a throwaway MariaDB server (interim, until the
``mariadb`` branch's tests/mariadb_server.py lands) and rows inserted the way OpenEMR
inserts them (every NOT NULL column filled)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import phpserialize  # type: ignore[import-untyped]
import pymysql

SCHEMA = Path(__file__).with_name("_interim_schema.sql")


class MariaDB:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="reconciler-mariadb-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = "mysql" if os.geteuid() == 0 else None

    def start(self) -> "MariaDB":
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        if install is None or not Path(server).exists():
            raise RuntimeError("MariaDB server not found (apt-get install mariadb-server)")
        if self.user:
            shutil.chown(self.root, self.user)
        args = [install, f"--datadir={self.data}", "--auth-root-authentication-method=normal", "--skip-test-db"]
        if self.user:
            args.append(f"--user={self.user}")
        subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        cmd = [server, f"--datadir={self.data}", f"--socket={self.sock}", "--skip-networking",
               f"--pid-file={self.root / 'pid'}", f"--log-error={self.root / 'err.log'}",
               "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin"]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.sock.exists():
                try:
                    pymysql.connect(unix_socket=str(self.sock), user="root").close()
                    return self
                except pymysql.err.OperationalError:
                    pass
            time.sleep(0.2)
        raise RuntimeError("MariaDB did not start: " + (self.root / "err.log").read_text(errors="replace")[-2000:])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def raw(self, db: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(unix_socket=str(self.sock), user="root", database=db, autocommit=True)

    def create_database(self, sql_mode: str = "") -> str:
        name = "oe_" + uuid.uuid4().hex[:10]
        with self.raw() as c, c.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        with self.raw(name) as c, c.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")  # as OpenEMR runs its installer
            for stmt in SCHEMA.read_text().split(";\n"):
                body = "\n".join(line for line in stmt.splitlines() if not line.strip().startswith("--")).strip()
                if body:
                    cur.execute(body)
        return name

    def url(self, db: str, sql_mode: str | None = None) -> str:
        u = f"mysql+pymysql://root@localhost/{db}?unix_socket={self.sock}&charset=utf8mb4"
        return u


def spec(freq: int = 1, unit: int = 1, exdate: str = "") -> str:
    """A ``pc_recurrspec`` as OpenEMR's calendar writes it (PHP-serialized array)."""
    d = {"event_repeat_freq": str(freq), "event_repeat_freq_type": str(unit), "event_repeat_on_num": "1",
         "event_repeat_on_day": "0", "event_repeat_on_freq": "0", "exdate": exdate}
    return phpserialize.dumps({k.encode(): v.encode() for k, v in d.items()}).decode()


class OE:
    """Insert rows as OpenEMR would (sql_mode '' like OpenEMR's own sessions)."""

    def __init__(self, conn: pymysql.connections.Connection) -> None:
        self.c = conn
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")
        self._pid = 0
        self._enc = 0

    def q(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.c.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def user(self, username: str, fname: str, lname: str, active: int = 1) -> int:
        with self.c.cursor() as cur:
            cur.execute("INSERT INTO users (uuid, username, password, authorized, fname, lname, active, calendar, "
                        "facility_id, see_auth, abook_type) VALUES (%s,%s,'NoLongerUsed',1,%s,%s,%s,1,3,1,'')",
                        (uuid.uuid4().bytes, username, fname, lname, active))
            return int(cur.lastrowid)

    def addressbook(self, fname: str) -> int:
        with self.c.cursor() as cur:
            cur.execute("INSERT INTO users (username, fname, lname, active, abook_type) VALUES ('', %s, 'Lab', 1, 'ord_lab')",
                        (fname,))
            return int(cur.lastrowid)

    def patient(self, pubpid: str, fname: str, lname: str, provider: int | None, status: str | None = "active",
                portal: str = "YES") -> int:
        self._pid += 1
        with self.c.cursor() as cur:
            cur.execute("INSERT INTO patient_data (uuid, pid, pubpid, fname, lname, DOB, sex, providerID, date, "
                        "allow_patient_portal, care_team_status) VALUES (%s,%s,%s,%s,%s,'1980-01-02','Female',%s,NOW(),%s,%s)",
                        (uuid.uuid4().bytes, self._pid, pubpid, fname, lname, provider, portal, status))
        return self._pid

    def encounter(self, pid: int) -> int:
        self._enc += 1
        with self.c.cursor() as cur:
            cur.execute("INSERT INTO form_encounter (uuid, date, pid, encounter, facility_id) VALUES (%s, NOW(), %s, %s, 3)",
                        (uuid.uuid4().bytes, pid, self._enc))
        return self._enc

    def charge(self, pid: int, enc: int, fee: str, activity: int = 1) -> None:
        with self.c.cursor() as cur:
            cur.execute("INSERT INTO billing (date, code_type, code, pid, encounter, activity, fee, authorized, billed, "
                        "units) VALUES (NOW(),'CPT4','90837',%s,%s,%s,%s,1,0,1)", (pid, enc, activity, fee))

    def sale(self, pid: int, enc: int, fee: str) -> None:
        with self.c.cursor() as cur:
            cur.execute("INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, sale_date, quantity, fee) "
                        "VALUES (1,1,%s,%s,CURDATE(),1,%s)", (pid, enc, fee))

    def payment(self, pid: int, enc: int, pay: str = "0", adj: str = "0", deleted: bool = False) -> None:
        with self.c.cursor() as cur:
            cur.execute("SELECT COALESCE(MAX(sequence_no),0)+1 FROM ar_activity WHERE pid=%s AND encounter=%s", (pid, enc))
            seq = cur.fetchone()[0]
            cur.execute("INSERT INTO ar_activity (pid, encounter, sequence_no, code, payer_type, post_time, post_user, "
                        "session_id, pay_amount, adj_amount, modified_time, follow_up, account_code, deleted) "
                        "VALUES (%s,%s,%s,'',0,NOW(),1,0,%s,%s,NOW(),'','PP',%s)",
                        (pid, enc, seq, pay, adj, dt.datetime(2026, 1, 1) if deleted else None))

    def appt(self, aid: int, pid: int, day: str, time_: str = "10:00:00", minutes: int = 50, status: str = "-") -> int:
        with self.c.cursor() as cur:
            cur.execute(
                "INSERT INTO openemr_postcalendar_events (pc_catid, pc_multiple, pc_aid, pc_pid, pc_title, pc_time, "
                "pc_hometext, pc_informant, pc_eventDate, pc_endDate, pc_duration, pc_recurrtype, pc_recurrspec, "
                "pc_recurrfreq, pc_startTime, pc_endTime, pc_alldayevent, pc_apptstatus, pc_prefcatid, pc_location, "
                "pc_eventstatus, pc_sharing, pc_facility, pc_billing_location, pc_room, uuid) VALUES "
                "(5,0,%s,%s,'Office Visit',NOW(),'',1,%s,'0000-00-00',%s,0,%s,0,%s,ADDTIME(%s, SEC_TO_TIME(%s)),0,%s,0,"
                "%s,1,1,3,3,'',%s)",
                (str(aid), str(pid), day, minutes * 60, spec(0, 0), time_, time_, minutes * 60, status,
                 phpserialize.dumps({b"event_location": b""}).decode(), uuid.uuid4().bytes))
            return int(cur.lastrowid)

    def series(self, aid: int, pid: int, first: str, end: str = "2027-06-30", time_: str = "09:00:00",
               minutes: int = 50, freq: int = 1, unit: int = 1, exdate: str = "") -> int:
        with self.c.cursor() as cur:
            cur.execute(
                "INSERT INTO openemr_postcalendar_events (pc_catid, pc_multiple, pc_aid, pc_pid, pc_title, pc_time, "
                "pc_hometext, pc_informant, pc_eventDate, pc_endDate, pc_duration, pc_recurrtype, pc_recurrspec, "
                "pc_recurrfreq, pc_startTime, pc_endTime, pc_alldayevent, pc_apptstatus, pc_prefcatid, pc_location, "
                "pc_eventstatus, pc_sharing, pc_facility, pc_billing_location, pc_room, uuid) VALUES "
                "(5,0,%s,%s,'Therapy',NOW(),'',1,%s,%s,%s,1,%s,0,%s,ADDTIME(%s, SEC_TO_TIME(%s)),0,'-',0,%s,1,1,3,3,'',%s)",
                (str(aid), str(pid), first, end, minutes * 60, spec(freq, unit, exdate), time_, time_, minutes * 60,
                 phpserialize.dumps({b"event_location": b""}).decode(), uuid.uuid4().bytes))
            return int(cur.lastrowid)
