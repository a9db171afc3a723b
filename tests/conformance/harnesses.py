"""The conformance harnesses of the three backends the project ships (issue 9):
native on SQLite, native on PostgreSQL, openemr on MariaDB. Each reads facts back with
its own SQL, not through the target's reader, so a reader bug cannot hide a writer bug."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from openemr import fixture as fx
from sqlalchemy.pool import NullPool

from reconciler.conformance.harness import AppointmentFact, ClientFact, Facts, SeriesFact

TZ = ZoneInfo("America/New_York")
UTC = dt.timezone.utc


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=NullPool)


def _last_day(start_utc: dt.datetime, until_utc: dt.datetime | None) -> dt.date | None:
    """The inclusive last local day of a series given its exclusive ``until`` (the last
    day whose session, at the series' local start time, begins before ``until``)."""
    if until_utc is None:
        return None
    wall = start_utc.replace(tzinfo=UTC).astimezone(TZ).time()
    day = until_utc.replace(tzinfo=UTC).astimezone(TZ).date()
    at = dt.datetime.combine(day, wall, tzinfo=TZ)
    return day if at < until_utc.replace(tzinfo=UTC) else day - dt.timedelta(days=1)


class NativeHarness:
    """The ``native`` target (the reconciler's own schema) on SQLite or PostgreSQL."""

    target = "native"

    def __init__(self, name: str, new_url: Callable[[], str]) -> None:
        self.name = name
        self._new_url = new_url
        self._booked = 900

    def new_database(self) -> str:
        from reconciler.targets.native.target import NativeTarget

        url = self._new_url()
        target = NativeTarget.open(url, create=True)
        target.init_schema()
        target.dispose()
        return url

    def seed(self, url: str, snapshot: Path) -> None:
        from reconciler.targets.native.target import NativeTarget

        target = NativeTarget.open(url)
        target.load_snapshot(snapshot)
        target.dispose()

    def book(self, url: str, *, client: str, staff: str, start: dt.datetime, minutes: int) -> str:
        self._booked += 1
        ident = str(self._booked)
        engine = _engine(url)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO appointments (id, client_id, staff_id, start_at, end_at, status, telehealth) "
                    "VALUES (:i, :c, :s, :a, :b, 'scheduled', :t)"
                ),
                {
                    "i": ident,
                    "c": client,
                    "s": staff,
                    "a": start.astimezone(UTC).replace(tzinfo=None),
                    "b": (start + dt.timedelta(minutes=minutes)).astimezone(UTC).replace(tzinfo=None),
                    "t": False,
                },
            )
        engine.dispose()
        return ident

    def facts(self, url: str) -> Facts:
        engine = _engine(url)
        with engine.connect() as conn:
            staff = {str(i): bool(a) for i, a in conn.execute(sa.text("SELECT id, active FROM staff"))}
            clients = {
                str(i): ClientFact(str(s), p, bool(pa))
                for i, s, p, pa in conn.execute(sa.text("SELECT id, status, primary_id, portal_access FROM clients"))
            }
            appts = {
                str(i): AppointmentFact(str(s), str(st))
                for i, s, st in conn.execute(sa.text("SELECT id, status, staff_id FROM appointments"))
            }
            series = tuple(
                SeriesFact(str(c), str(s), _last_day(_dt(a), None if u is None else _dt(u)))
                for c, s, a, u, act in conn.execute(
                    sa.text("SELECT client_id, staff_id, start_at, until, active FROM series ORDER BY id")
                )
                if act
            )
        engine.dispose()
        return Facts(staff, clients, appts, series)

    def schema_fingerprint(self, url: str) -> str:
        # The native schema is the reconciler's own; still, no scenario may change it.
        engine = _engine(url)
        insp = sa.inspect(engine)
        text = "\n".join(
            f"{t}: " + ", ".join(f"{c['name']} {c['type']} {c['nullable']}" for c in insp.get_columns(t))
            for t in sorted(insp.get_table_names())
        )
        engine.dispose()
        return hashlib.sha256(text.encode()).hexdigest()


def _dt(value: Any) -> dt.datetime:
    """A naive-UTC DATETIME column value (SQLite may hand back text)."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


class OpenEMRHarness:
    """The ``openemr`` target on MariaDB: OpenEMR 7's own table definitions
    (tests/openemr/schema.sql), the world written the way OpenEMR writes its rows."""

    target = "openemr"
    name = "openemr/mariadb"

    def __init__(self, new_url: Callable[[], str]) -> None:
        self._new_url = new_url

    def new_database(self) -> str:
        from reconciler.targets.openemr.target import OpenEMRTarget

        url = self._new_url()
        engine = _engine(url)
        with engine.begin() as conn:
            fx.create_tables(conn)
        engine.dispose()
        target = OpenEMRTarget.open(url)
        target.init_schema()
        target.dispose()
        return url

    def seed(self, url: str, snapshot: Path) -> None:
        from reconciler.targets.openemr.seed import seed_snapshot

        engine = _engine(url)
        seed_snapshot(engine, snapshot)
        engine.dispose()

    def book(self, url: str, *, client: str, staff: str, start: dt.datetime, minutes: int) -> str:
        engine = _engine(url)
        local = start.astimezone(TZ)
        with engine.begin() as conn:
            pid = conn.execute(sa.text("SELECT pid FROM patient_data WHERE pubpid = :p"), {"p": client}).scalar_one()
            aid = conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": staff}).scalar_one()
            eid = fx.insert_appointment(conn, int(pid), int(aid), local.date(), local.time(), minutes * 60)
        engine.dispose()
        return str(eid)

    def facts(self, url: str) -> Facts:
        from reconciler.targets.openemr.read import STATUS_OF

        engine = _engine(url)
        with engine.connect() as conn:
            users = {
                int(i): str(u) for i, u in conn.execute(sa.text("SELECT id, username FROM users WHERE username <> ''"))
            }
            staff = {
                str(u): bool(a)
                for u, a in conn.execute(sa.text("SELECT username, active FROM users WHERE username <> ''"))
            }
            pubpid: dict[str, str] = {}
            clients: dict[str, ClientFact] = {}
            for pid, pub, prov, status, portal in conn.execute(
                sa.text("SELECT pid, pubpid, providerID, care_team_status, allow_patient_portal FROM patient_data")
            ):
                pubpid[str(pid)] = str(pub)
                clients[str(pub)] = ClientFact(
                    "inactive" if status == "inactive" else "active", users.get(int(prov or 0)), portal == "YES"
                )
            appts: dict[str, AppointmentFact] = {}
            series: list[SeriesFact] = []
            for eid, aid, pid, rtype, status, end in conn.execute(
                sa.text(
                    "SELECT pc_eid, pc_aid, pc_pid, pc_recurrtype, pc_apptstatus, CAST(pc_endDate AS CHAR) "
                    "FROM openemr_postcalendar_events ORDER BY pc_eid"
                )
            ):
                who = users[int(aid)]
                if int(rtype) == 0:
                    appts[str(eid)] = AppointmentFact(STATUS_OF.get(str(status), "scheduled"), who)
                else:
                    last = None if str(end).startswith("0000") else dt.date.fromisoformat(str(end))
                    series.append(SeriesFact(pubpid[str(pid)], who, last))
        engine.dispose()
        return Facts(staff, clients, appts, tuple(series))

    def schema_fingerprint(self, url: str) -> str:
        """``SHOW CREATE TABLE`` of every OpenEMR table (all but ``reconciler_*``), less
        the AUTO_INCREMENT counter that inserting rows moves."""
        import re

        engine = _engine(url)
        with engine.connect() as conn:
            names = sorted(
                str(r[0]) for r in conn.exec_driver_sql("SHOW TABLES") if not str(r[0]).startswith("reconciler_")
            )
            text = "\n".join(
                re.sub(r" AUTO_INCREMENT=\d+", "", conn.exec_driver_sql(f"SHOW CREATE TABLE `{n}`").one()[1])
                for n in names
            )
        engine.dispose()
        return hashlib.sha256(text.encode()).hexdigest()
