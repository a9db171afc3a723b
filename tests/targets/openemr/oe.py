"""Rows the way OpenEMR inserts them, for the openemr target tests: a thin layer over
tests/openemr/fixture.py (every NOT NULL column filled as OpenEMR's own code paths
fill it), each insert committed at once, ids returned."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from openemr import fixture as fx


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _t(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


class OE:
    """Insert and query through one autocommitting connection with OpenEMR's sql_mode ''."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.c = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.c.execute(sa.text("SET SESSION sql_mode = ''"))
        self._enc = 0

    def close(self) -> None:
        self.c.close()

    def q(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Raw SQL (``%s`` placeholders, as the driver takes them)."""
        res = self.c.exec_driver_sql(sql) if args is None else self.c.exec_driver_sql(sql, args)
        return [tuple(r) for r in res.fetchall()] if res.returns_rows else []

    def user(self, username: str, fname: str, lname: str, active: int = 1) -> int:
        return fx.insert_user(self.c, username, fname, lname, active=bool(active))

    def addressbook(self, org: str) -> int:
        """An address-book entry (a lab): a users row without a username, never staff."""
        return int(
            self.c.execute(
                sa.text(
                    "INSERT INTO users (username, password, fname, lname, organization, active, abook_type, authorized) "
                    "VALUES ('', '', '', '', :o, 1, 'ord_lab', 0)"
                ),
                {"o": org},
            ).lastrowid
        )

    def patient(
        self,
        pubpid: str,
        fname: str,
        lname: str,
        provider: int | None,
        status: str | None = "active",
        portal: str = "YES",
    ) -> int:
        pid = fx.insert_patient(
            self.c,
            pubpid,
            fname,
            lname,
            provider_id=provider or 0,
            care_team_status=status or "",
            allow_patient_portal=portal,
        )
        if provider is None or status is None:  # what older OpenEMR rows hold
            self.c.execute(
                sa.text("UPDATE patient_data SET providerID = :p, care_team_status = :s WHERE pid = :pid"),
                {"p": provider, "s": status, "pid": pid},
            )
        return pid

    def encounter(self, pid: int) -> int:
        self._enc += 1
        fx.insert_encounter(self.c, pid, self._enc, dt.datetime(2026, 11, 1, 10, 0), provider_id=0)
        return self._enc

    def charge(self, pid: int, enc: int, fee: str, activity: int = 1) -> None:
        fx.insert_charge(self.c, pid, enc, fee, provider_id=0, user_id=1, activity=activity)

    def sale(self, pid: int, enc: int, fee: str) -> None:
        fx.insert_drug_sale(self.c, pid, enc, fee, sale_date=dt.date(2026, 11, 1))

    def payment(self, pid: int, enc: int, pay: str = "0", adj: str = "0", deleted: bool = False) -> None:
        fx.insert_payment(
            self.c,
            pid,
            enc,
            user_id=1,
            pay=pay,
            adjust=adj,
            deleted=dt.datetime(2026, 11, 5, 12, 0) if deleted else None,
        )

    def appt(self, aid: int, pid: int, day: str, time_: str = "10:00:00", minutes: int = 50, status: str = "-") -> int:
        return fx.insert_appointment(self.c, pid, aid, _d(day), _t(time_), minutes * 60, apptstatus=status)

    def series(
        self,
        aid: int,
        pid: int,
        first: str,
        end: str = "2027-06-30",
        time_: str = "09:00:00",
        minutes: int = 50,
        freq: int = 1,
        unit: int = fx.FREQ_WEEK,
        exdates: tuple[dt.date, ...] = (),
    ) -> int:
        eid = fx.insert_series(
            self.c,
            pid,
            aid,
            _d(first),
            _t(time_),
            fx.REPEAT_EVERY,
            fx.every(freq, unit, exdates),
            until=None if end == "0000-00-00" else _d(end),
            duration_s=minutes * 60,
        )
        return eid

    def balance(self, pid: int) -> Decimal:
        return fx.openemr_patient_balance(self.c, pid)
