"""OpenEMR's tables load on the test MariaDB and the fixture fills them as OpenEMR would.

These are the ground the openemr target's tests stand on: if OpenEMR's definitions
did not load under a strict session, or a helper left a NOT NULL column out, or the
zero date came back differently than assumed, every later test would be wrong.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from mariadb_server import MariaDbServer

from openemr import fixture as fx

STRICT = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"


@pytest.fixture
def engine(mariadb_server: MariaDbServer) -> Iterator[sa.Engine]:
    eng = sa.create_engine(mariadb_server.create_database())
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def loaded(engine: sa.Engine) -> sa.Engine:
    """OpenEMR's tables, created as OpenEMR's installer does (sql_mode '')."""
    with engine.begin() as conn:
        fx.create_tables(conn, sql_mode="")
    return engine


def _strict(conn: sa.Connection) -> sa.Connection:
    conn.execute(sa.text("SET SESSION sql_mode = :m"), {"m": STRICT})
    return conn


def _engines(conn: sa.Connection) -> dict[str, str]:
    rows = conn.execute(
        sa.text("SELECT table_name, engine FROM information_schema.tables WHERE table_schema = DATABASE()")
    )
    return {str(name): str(eng) for name, eng in rows}


@pytest.mark.parametrize("sql_mode", ["", STRICT])
def test_schema_loads_under_openemr_and_strict_modes_all_innodb(engine: sa.Engine, sql_mode: str) -> None:
    with engine.begin() as conn:
        fx.create_tables(conn, sql_mode=sql_mode)
        assert _engines(conn) == {name: "InnoDB" for name in fx.OPENEMR_TABLES}


def test_zero_date_defaults_are_openemrs_and_fail_under_no_zero_date(engine: sa.Engine) -> None:
    """MySQL 8's default NO_ZERO_DATE rejects OpenEMR's own '0000-00-00' defaults."""
    with engine.begin() as conn:
        conn.execute(sa.text("SET SESSION sql_mode = 'TRADITIONAL'"))
        with pytest.raises(sa.exc.OperationalError, match="pc_eventDate"):
            fx.create_tables(conn, sql_mode=None, tables=("openemr_postcalendar_events",))


def test_not_null_columns_without_default_are_kept(loaded: sa.Engine) -> None:
    """The columns a careless insert would miss exist as OpenEMR defines them."""
    with loaded.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND is_nullable = 'NO' AND column_default IS NULL "
                "AND extra NOT LIKE '%auto_increment%'"
            )
        ).all()
    found = {(str(t), str(c)) for t, c in rows}
    for expected in [
        ("openemr_postcalendar_events", "pc_multiple"),
        ("drug_sales", "sale_date"),
        ("ar_activity", "follow_up"),
        ("ar_activity", "account_code"),
        ("ar_session", "modified_time"),
        ("ar_session", "payment_method"),
        ("log_comment_encrypt", "log_id"),
    ]:
        assert expected in found


def test_rows_insert_under_a_strict_session(loaded: sa.Engine) -> None:
    """Strict mode refuses a missing NOT NULL column, so every helper's row is complete."""
    with loaded.begin() as conn:
        _strict(conn)
        alice = fx.insert_user(conn, "alice", "Alice", "Moreau")
        gone = fx.insert_user(conn, "bob", "Bob", "Lin", active=False)
        pid = fx.insert_patient(conn, "C-1042", "Dana", "Kim", provider_id=alice)
        pid2 = fx.insert_patient(conn, "C-1043", "Eli", "Ford", care_team_status="inactive", allow_patient_portal="NO")
        day = dt.date(2026, 12, 15)
        fx.insert_appointment(conn, pid, alice, day, dt.time(9, 0), 3000)
        fx.insert_appointment(conn, pid2, gone, day, dt.time(10, 0), 3600, apptstatus="x")
        fx.insert_series(conn, pid, alice, day, dt.time(11, 0), fx.REPEAT_EVERY, fx.every(2, fx.FREQ_WEEK))
        fx.insert_series(
            conn,
            pid,
            alice,
            day,
            dt.time(12, 0),
            fx.REPEAT_NTH_WEEKDAY,
            fx.nth_weekday(day),
            until=dt.date(2027, 6, 30),
        )
        fx.insert_series(
            conn,
            pid2,
            gone,
            day,
            dt.time(13, 0),
            fx.REPEAT_DAYS_OF_WEEK,
            fx.days_of_week((2, 5), exdates=(dt.date(2026, 12, 25),)),
        )
        fx.insert_encounter(conn, pid, 1, dt.datetime(2026, 11, 2, 9), alice)
        fx.insert_charge(conn, pid, 1, "150.00", provider_id=alice, user_id=alice)
        fx.insert_drug_sale(conn, pid, 1, "20.00", sale_date=dt.date(2026, 11, 2))
        fx.insert_payment(conn, pid, 1, user_id=alice, pay="100.00")
        fx.insert_log_like_openemr(
            conn,
            event="patient-record-update",
            category="Patient Demographics",
            user="alice",
            comments="providerID changed",
            patient_id=pid,
        )
        counts = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM `{t}`")).scalar_one() for t in fx.OPENEMR_TABLES}
    assert counts == {
        "users": 2,
        "patient_data": 2,
        "openemr_postcalendar_events": 5,
        "form_encounter": 1,
        "insurance_data": 0,
        "billing": 1,
        "drug_sales": 1,
        "ar_session": 1,
        "ar_activity": 1,
        "log": 1,
        "log_comment_encrypt": 1,
    }


def test_zero_date_round_trips_as_the_string_pymysql_returns(loaded: sa.Engine) -> None:
    """PyMySQL cannot make a date of '0000-00-00', so it hands back the string."""
    with loaded.begin() as conn:
        _strict(conn)
        uid = fx.insert_user(conn, "alice", "Alice", "Moreau")
        pid = fx.insert_patient(conn, "C-1", "Dana", "Kim", provider_id=uid)
        eid = fx.insert_appointment(conn, pid, uid, dt.date(2026, 12, 15), dt.time(9, 30), 2700)
    with loaded.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT pc_eventDate, pc_endDate, pc_startTime, pc_endTime, pc_duration, pc_recurrtype, "
                "pc_aid, pc_pid, pc_apptstatus FROM openemr_postcalendar_events WHERE pc_eid = :e"
            ),
            {"e": eid},
        ).one()
    with loaded.begin() as conn:
        # Writing back what was read, in a strict session, keeps the zero date.
        _strict(conn).execute(
            sa.text("UPDATE openemr_postcalendar_events SET pc_endDate = :v WHERE pc_eid = :e"),
            {"v": row.pc_endDate, "e": eid},
        )
        zero_in_sql = conn.execute(
            sa.text("SELECT COUNT(*) FROM openemr_postcalendar_events WHERE pc_endDate = '0000-00-00'")
        ).scalar_one()
    assert row.pc_eventDate == dt.date(2026, 12, 15)
    assert row.pc_endDate == "0000-00-00" and isinstance(row.pc_endDate, str)
    assert zero_in_sql == 1
    # PyMySQL returns TIME columns as timedelta since midnight.
    assert row.pc_startTime == dt.timedelta(hours=9, minutes=30)
    assert row.pc_endTime == dt.timedelta(hours=10, minutes=15)
    assert (row.pc_duration, row.pc_recurrtype, row.pc_apptstatus) == (2700, 0, "-")
    assert (row.pc_aid, row.pc_pid) == (str(uid), str(pid)), "pc_aid and pc_pid are varchar columns"


def test_recurrspec_is_php_serialized_like_openemr(loaded: sa.Engine) -> None:
    spec = fx.every(2, fx.FREQ_WEEK, exdates=(dt.date(2026, 12, 29),))
    assert spec.serialize() == (
        'a:6:{s:17:"event_repeat_freq";s:1:"2";s:22:"event_repeat_freq_type";s:1:"1";'
        's:19:"event_repeat_on_num";s:1:"1";s:19:"event_repeat_on_day";s:1:"0";'
        's:20:"event_repeat_on_freq";s:1:"0";s:6:"exdate";s:8:"20261229";}'
    )
    tuesday = dt.date(2026, 12, 15)  # the third Tuesday of December 2026
    with loaded.begin() as conn:
        uid = fx.insert_user(conn, "alice", "Alice", "Moreau")
        pid = fx.insert_patient(conn, "C-1", "Dana", "Kim", provider_id=uid)
        eid = fx.insert_series(conn, pid, uid, tuesday, dt.time(9, 0), fx.REPEAT_NTH_WEEKDAY, fx.nth_weekday(tuesday))
        raw = conn.execute(
            sa.text("SELECT pc_recurrspec FROM openemr_postcalendar_events WHERE pc_eid = :e"), {"e": eid}
        ).scalar_one()
    assert fx.parse_recurrspec(raw) == {
        "event_repeat_freq": "0",
        "event_repeat_freq_type": "0",
        "event_repeat_on_num": "3",
        "event_repeat_on_day": "2",
        "event_repeat_on_freq": "1",
        "exdate": "",
        "rt2_pf_flag": "1",
    }
    assert fx.parse_recurrspec(fx.days_of_week((5, 2)).serialize())["event_repeat_freq"] == "2,5"


def test_balance_counts_active_charges_and_sales_less_unvoided_payments(loaded: sa.Engine) -> None:
    with loaded.begin() as conn:
        uid = fx.insert_user(conn, "alice", "Alice", "Moreau")
        pid = fx.insert_patient(conn, "C-1", "Dana", "Kim", provider_id=uid)
        other = fx.insert_patient(conn, "C-2", "Eli", "Ford", provider_id=uid)
        assert fx.openemr_patient_balance(conn, pid) == Decimal("0.00")
        fx.insert_encounter(conn, pid, 1, dt.datetime(2026, 11, 2, 9), uid)
        fx.insert_charge(conn, pid, 1, "150.00", provider_id=uid, user_id=uid)
        fx.insert_charge(conn, pid, 1, "150.00", provider_id=uid, user_id=uid, activity=0)
        fx.insert_drug_sale(conn, pid, 1, "20.00", sale_date=dt.date(2026, 11, 2))
        fx.insert_payment(conn, pid, 1, user_id=uid, pay="100.00")
        fx.insert_payment(conn, pid, 1, user_id=uid, pay="50.00", deleted=dt.datetime(2026, 11, 3))
        fx.insert_payment(conn, pid, 1, user_id=uid, adjust="10.00")
        fx.insert_charge(conn, pid, 99, "75.00", provider_id=uid, user_id=uid)  # no form_encounter row
        fx.insert_encounter(conn, other, 2, dt.datetime(2026, 11, 2, 10), uid)
        fx.insert_charge(conn, other, 2, "80.00", provider_id=uid, user_id=uid)
        seqs = (
            conn.execute(sa.text("SELECT sequence_no FROM ar_activity WHERE pid = :p ORDER BY 1"), {"p": pid})
            .scalars()
            .all()
        )
        assert fx.openemr_patient_balance(conn, pid) == Decimal("60.00")
        assert fx.openemr_patient_balance(conn, other) == Decimal("80.00")
    assert seqs == [1, 2, 3]


def test_log_row_is_written_with_its_checksum_row(loaded: sa.Engine) -> None:
    with loaded.begin() as conn:
        log_id = fx.insert_log_like_openemr(
            conn,
            event="scheduling-update",
            category="Scheduling",
            user="alice",
            comments="pc_eid 7 pc_aid 3",
            patient_id=5,
        )
        log = conn.execute(sa.text("SELECT * FROM log WHERE id = :i"), {"i": log_id}).mappings().one()
        extra = (
            conn.execute(sa.text("SELECT * FROM log_comment_encrypt WHERE log_id = :i"), {"i": log_id}).mappings().one()
        )
    assert base64.b64decode(log["comments"]).decode() == "pc_eid 7 pc_aid 3"
    assert (log["log_from"], log["success"], log["patient_id"]) == ("open-emr", 1, 5)
    assert (extra["encrypt"], extra["version"], len(extra["checksum"])) == ("No", 4, 128)


def test_myisam_variant_is_not_transactional(engine: sa.Engine) -> None:
    """The old installation the target must refuse: a rollback does not undo a MyISAM write."""
    with engine.begin() as conn:
        fx.create_tables(conn, engine="MyISAM", tables=("patient_data",))
        fx.create_tables(conn, tables=("users",))
        assert _engines(conn) == {"patient_data": "MyISAM", "users": "InnoDB"}
    with engine.connect() as conn:
        trans = conn.begin()
        fx.insert_patient(conn, "C-1", "Dana", "Kim")
        fx.insert_user(conn, "alice", "Alice", "Moreau")
        trans.rollback()
        kept = conn.execute(sa.text("SELECT COUNT(*) FROM patient_data")).scalar_one()
        undone = conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar_one()
    assert (kept, undone) == (1, 0)


def test_table_definitions_ignore_rows_but_see_any_alter(loaded: sa.Engine) -> None:
    before = fx.table_definitions(loaded)
    assert set(before) == set(fx.OPENEMR_TABLES)
    assert all("ENGINE=InnoDB" in ddl for ddl in before.values())
    with loaded.begin() as conn:
        uid = fx.insert_user(conn, "alice", "Alice", "Moreau")
        fx.insert_patient(conn, "C-1", "Dana", "Kim", provider_id=uid)
    assert fx.table_definitions(loaded) == before, "inserting rows is not a definition change"
    with loaded.begin() as conn:
        conn.execute(sa.text("ALTER TABLE patient_data MODIFY care_team_status varchar(20)"))
    after = fx.table_definitions(loaded)
    assert after["patient_data"] != before["patient_data"]
    assert {k: v for k, v in after.items() if k != "patient_data"} == {
        k: v for k, v in before.items() if k != "patient_data"
    }
