"""OpenEMR 7 tables and rows for the tests, filled the way OpenEMR itself fills them.

Why this exists: the ``openemr`` target (SPEC §6) must work on a real installation,
which has many more columns than the target reads and several NOT NULL columns
without defaults. OpenEMR runs with ``sql_mode = ''``, so where its PHP omits such a
column the server stores the type's zero value ('' / 0); the helpers here write
those values explicitly, so every row is complete and valid under a strict session
too. The column values follow OpenEMR 7's own code paths, named on each helper
(``interface/usergroup/usergroup_admin_add.php``, ``library/patient.inc.php``
``newPatientData``, ``library/encounter_events.inc.php`` ``InsertEvent``,
``interface/main/calendar/add_edit_event.php``, ``interface/billing/new_payment.php``
and ``library/payment.inc.php`` ``DistributionInsert``,
``src/Common/Logging/EventAuditLogger.php`` ``recordLogItem``).

All helpers take a SQLAlchemy ``Connection`` and leave committing to the caller.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import phpserialize
import sqlalchemy as sa

SCHEMA_PATH = Path(__file__).with_name("schema.sql")

# In schema.sql order: the tables the openemr target touches, then the ones balance reads.
OPENEMR_TABLES: tuple[str, ...] = (
    "users",
    "patient_data",
    "openemr_postcalendar_events",
    "form_encounter",
    "insurance_data",
    "billing",
    "drug_sales",
    "ar_session",
    "ar_activity",
    "log",
    "log_comment_encrypt",
)

# OpenEMR's fresh install has this facility (sql/database.sql inserts id 3).
DEFAULT_FACILITY_ID = 3
DEFAULT_FACILITY_NAME = "Your Clinic Name Here"
# openemr_postcalendar_categories 5 = "Office Visit" in a fresh install.
OFFICE_VISIT_CATID = 5

# pc_recurrtype values (SPEC §6).
REPEAT_EVERY = 1  # every N units of event_repeat_freq_type
REPEAT_NTH_WEEKDAY = 2  # the nth weekday of every N months
REPEAT_DAYS_OF_WEEK = 3  # given days of the week

# event_repeat_freq_type for pc_recurrtype 1.
FREQ_DAY, FREQ_WEEK, FREQ_MONTH, FREQ_YEAR, FREQ_WORKDAY = 0, 1, 2, 3, 4

# OpenEMR serializes this "useless garbage" (its words) into pc_location on every event.
_LOCATIONSPEC = {
    "event_location": "",
    "event_street1": "",
    "event_street2": "",
    "event_city": "",
    "event_state": "",
    "event_postal": "",
}


# ---------------------------------------------------------------- schema


def schema_statements() -> list[str]:
    """The CREATE TABLE statements of schema.sql, comments stripped."""
    text = "\n".join(line for line in SCHEMA_PATH.read_text().splitlines() if not line.startswith("--"))
    return [stmt.strip() for stmt in text.split(";") if stmt.strip()]


def create_tables(
    conn: sa.Connection, sql_mode: str | None = "", engine: str | None = None, tables: tuple[str, ...] | None = None
) -> None:
    """Create OpenEMR's tables in the connection's database.

    ``sql_mode`` is set for this session first ('' is OpenEMR's own; None keeps the
    server's default). ``engine`` replaces ``ENGINE=InnoDB`` (e.g. "MyISAM", to build
    the old installation the target must refuse); ``tables`` limits which are created.
    """
    if sql_mode is not None:
        conn.execute(sa.text("SET SESSION sql_mode = :m"), {"m": sql_mode})
    for stmt in schema_statements():
        name = re.match(r"CREATE TABLE `(\w+)`", stmt)
        assert name, stmt[:60]
        if tables is not None and name.group(1) not in tables:
            continue
        if engine is not None:
            stmt = stmt.replace("ENGINE=InnoDB", f"ENGINE={engine}")
        conn.exec_driver_sql(stmt)


def table_definitions(bind: sa.Engine | sa.Connection) -> dict[str, str]:
    """``SHOW CREATE TABLE`` for each OpenEMR table present, to compare before and after a run.

    The AUTO_INCREMENT counter is dropped: inserting rows (which the target may do) moves
    it without changing the definition. Everything else -- columns, types, defaults,
    keys, engine, charset -- must stay byte-identical.
    """

    def read(conn: sa.Connection) -> dict[str, str]:
        present = {row[0] for row in conn.exec_driver_sql("SHOW TABLES")}
        out: dict[str, str] = {}
        for name in OPENEMR_TABLES:
            if name in present:
                ddl = conn.exec_driver_sql(f"SHOW CREATE TABLE `{name}`").one()[1]
                out[name] = re.sub(r" AUTO_INCREMENT=\d+", "", ddl)
        return out

    if isinstance(bind, sa.Engine):
        with bind.connect() as conn:
            return read(conn)
    return read(bind)


# ---------------------------------------------------------------- calendar specs


@dataclass(frozen=True)
class RecurrSpec:
    """The array OpenEMR serializes into ``pc_recurrspec`` (add_edit_event.php).

    Values are strings in OpenEMR (it interpolates them: ``"$my_repeat_freq"``).
    ``exdate`` is a comma-separated list of ``YYYYMMDD`` dates skipped.
    ``rt2_pf_flag`` is set by OpenEMR on pc_recurrtype 2 rows.
    """

    event_repeat_freq: str = ""
    event_repeat_freq_type: str = ""
    event_repeat_on_num: str = "1"
    event_repeat_on_day: str = "0"
    event_repeat_on_freq: str = "0"
    exdate: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def serialize(self) -> str:
        data: dict[str, str] = {
            "event_repeat_freq": self.event_repeat_freq,
            "event_repeat_freq_type": self.event_repeat_freq_type,
            "event_repeat_on_num": self.event_repeat_on_num,
            "event_repeat_on_day": self.event_repeat_on_day,
            "event_repeat_on_freq": self.event_repeat_on_freq,
            "exdate": self.exdate,
            **self.extra,
        }
        return str(phpserialize.dumps(data).decode("utf-8"))


NO_RECURRENCE = RecurrSpec()  # what OpenEMR stores on single appointments ($noRecurrspec)


def every(n: int, freq_type: int, exdates: tuple[dt.date, ...] = ()) -> RecurrSpec:
    """pc_recurrtype 1: every ``n`` days/weeks/months/years/work days."""
    return RecurrSpec(str(n), str(freq_type), exdate=_exdate(exdates))


def nth_weekday(
    first: dt.date, every_months: int = 1, last: bool = False, exdates: tuple[dt.date, ...] = ()
) -> RecurrSpec:
    """pc_recurrtype 2, as add_edit_event.php derives it from the first date.

    on_num is which occurrence of the weekday in the month (1-4, 5 = last), on_day is
    PHP's ``date('w')`` (0 = Sunday), on_freq the month interval; freq and freq_type
    are set to 0 "for consistency with postcalendar".
    """
    on_num = 5 if last else (first.day - 1) // 7 + 1
    return RecurrSpec(
        "0",
        "0",
        str(on_num),
        str((first.weekday() + 1) % 7),
        str(every_months),
        exdate=_exdate(exdates),
        extra={"rt2_pf_flag": "1"},
    )


def days_of_week(days: tuple[int, ...], exdates: tuple[dt.date, ...] = ()) -> RecurrSpec:
    """pc_recurrtype 3: the form's day checkboxes day_1..day_7 (1 = Sunday), freq_type 6."""
    return RecurrSpec(",".join(str(d) for d in sorted(days)), "6", exdate=_exdate(exdates))


def _exdate(dates: tuple[dt.date, ...]) -> str:
    return ",".join(d.strftime("%Y%m%d") for d in dates)


def parse_recurrspec(raw: str | bytes) -> dict[str, str]:
    """Read a pc_recurrspec back (phpserialize, never by hand), as str -> str."""
    data = phpserialize.loads(raw.encode("utf-8") if isinstance(raw, str) else raw)
    return {_s(k): _s(v) for k, v in data.items()}


def _s(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


# ---------------------------------------------------------------- rows


def _insert(conn: sa.Connection, table: str, row: Mapping[str, Any]) -> int:
    cols = ", ".join(f"`{c}`" for c in row)
    params = ", ".join(f":{c}" for c in row)
    result = conn.execute(sa.text(f"INSERT INTO `{table}` ({cols}) VALUES ({params})"), dict(row))
    return int(result.lastrowid or 0)


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def insert_user(
    conn: sa.Connection,
    username: str,
    fname: str,
    lname: str,
    *,
    active: bool = True,
    authorized: bool = True,
    calendar: bool = True,
) -> int:
    """A staff login as usergroup_admin_add.php creates it; returns ``users.id``.

    The password lives in users_secure since OpenEMR 5; users.password keeps the
    placeholder OpenEMR writes there.
    """
    return _insert(
        conn,
        "users",
        {
            "uuid": uuid.uuid4().bytes,
            "username": username,
            "password": "NoLongerUsed",
            "authorized": int(authorized),
            "info": "",
            "source": None,
            "fname": fname,
            "mname": "",
            "lname": lname,
            "suffix": "",
            "federaltaxid": "",
            "federaldrugid": "",
            "upin": "",
            "npi": "",
            "facility": DEFAULT_FACILITY_NAME,
            "facility_id": DEFAULT_FACILITY_ID,
            "see_auth": 1,
            "active": int(active),
            "title": "",
            "specialty": "",
            "billname": "",
            "email": "",
            "email_direct": "",
            "url": "",
            "assistant": "",
            "organization": "",
            "valedictory": "",
            "notes": "",
            "cal_ui": 3,
            "taxonomy": "207Q00000X",
            "calendar": int(calendar),
            "abook_type": "",
            "default_warehouse": "",
            "irnpool": "",
            "state_license_number": "",
            "physician_type": "",
            "main_menu_role": "standard",
            "patient_menu_role": "standard",
            "portal_user": 0,
            "supervisor_id": 0,
            "billing_facility": DEFAULT_FACILITY_NAME,
            "billing_facility_id": DEFAULT_FACILITY_ID,
        },
    )


def insert_patient(
    conn: sa.Connection,
    pubpid: str,
    fname: str,
    lname: str,
    *,
    provider_id: int = 0,
    care_team_status: str = "active",
    allow_patient_portal: str = "YES",
    pid: int | None = None,
    dob: dt.date = dt.date(1985, 4, 12),
    sex: str = "Female",
) -> int:
    """A chart as newPatientData writes it: pid = MAX(pid)+1 unless given; returns pid.

    ``provider_id`` is a users.id (0 = none, SPEC §6 "unassigned").
    """
    if pid is None:
        pid = int(conn.execute(sa.text("SELECT COALESCE(MAX(pid), 0) + 1 FROM patient_data")).scalar_one())
    now = _now()
    _insert(
        conn,
        "patient_data",
        {
            "uuid": uuid.uuid4().bytes,
            "title": "",
            "language": "english",
            "financial": "",
            "fname": fname,
            "lname": lname,
            "mname": "",
            "DOB": dob,
            "street": "",
            "postal_code": "",
            "city": "",
            "state": "",
            "country_code": "",
            "drivers_license": "",
            "ss": "",
            "occupation": "",
            "phone_home": "",
            "phone_biz": "",
            "phone_contact": "",
            "phone_cell": "",
            "pharmacy_id": 0,
            "status": "",
            "contact_relationship": "",
            "date": now,
            "sex": sex,
            "referrer": "",
            "referrerID": "",
            "providerID": provider_id,
            "ref_providerID": 0,
            "email": "",
            "email_direct": "",
            "ethnoracial": "",
            "race": "",
            "ethnicity": "",
            "religion": "",
            "interpretter": "",
            "migrantseasonal": "",
            "family_size": "",
            "monthly_income": "",
            "billing_note": "",
            "homeless": "",
            "financial_review": None,
            "pubpid": pubpid,
            "pid": pid,
            "hipaa_mail": "",
            "hipaa_voice": "",
            "hipaa_notice": "",
            "hipaa_message": "",
            "hipaa_allowsms": "NO",
            "hipaa_allowemail": "NO",
            "regdate": now,
            "allow_patient_portal": allow_patient_portal,
            "care_team_provider": str(provider_id) if provider_id else "",
            "care_team_facility": str(DEFAULT_FACILITY_ID),
            "care_team_status": care_team_status,
            "created_by": None,
            "updated_by": None,
        },
    )
    return pid


def _event_row(
    pid: int | None,
    aid: int,
    event_date: dt.date,
    end_date: str | dt.date,
    start: dt.time,
    duration_s: int,
    recurrtype: int,
    spec: RecurrSpec,
    apptstatus: str,
    catid: int,
    title: str,
) -> dict[str, Any]:
    end = (dt.datetime.combine(event_date, start) + dt.timedelta(seconds=duration_s)).time()
    return {
        "pc_catid": catid,
        "pc_multiple": 0,
        "pc_aid": str(aid),
        "pc_pid": "" if pid is None else str(pid),
        "pc_gid": 0,
        "pc_title": title,
        "pc_time": _now(),
        "pc_hometext": "",
        "pc_informant": "1",
        "pc_eventDate": event_date,
        "pc_endDate": end_date,
        "pc_duration": duration_s,
        "pc_recurrtype": recurrtype,
        "pc_recurrspec": spec.serialize(),
        "pc_recurrfreq": 0,
        "pc_startTime": start,
        "pc_endTime": end,
        "pc_alldayevent": 0,
        "pc_location": str(phpserialize.dumps(_LOCATIONSPEC).decode("utf-8")),
        "pc_apptstatus": apptstatus,
        "pc_prefcatid": 0,
        "pc_eventstatus": 1,
        "pc_sharing": 1,
        "pc_facility": DEFAULT_FACILITY_ID,
        "pc_billing_location": DEFAULT_FACILITY_ID,
        "pc_room": "",
        "uuid": uuid.uuid4().bytes,
    }


def insert_appointment(
    conn: sa.Connection,
    pid: int,
    aid: int,
    event_date: dt.date,
    start: dt.time,
    duration_s: int = 3600,
    *,
    apptstatus: str = "-",
    catid: int = OFFICE_VISIT_CATID,
    title: str = "Office Visit",
) -> int:
    """A single appointment as InsertEvent writes it; returns pc_eid.

    pc_recurrtype 0, the "no recurrence" spec serialized, pc_endDate the zero date
    (OpenEMR's fixDate('') of an empty end date), pc_multiple 0 (OpenEMR binds ''
    which sql_mode '' stores as 0), pc_duration in seconds.
    """
    return _insert(
        conn,
        "openemr_postcalendar_events",
        _event_row(pid, aid, event_date, "0000-00-00", start, duration_s, 0, NO_RECURRENCE, apptstatus, catid, title),
    )


def insert_series(
    conn: sa.Connection,
    pid: int,
    aid: int,
    first: dt.date,
    start: dt.time,
    recurrtype: int,
    spec: RecurrSpec,
    *,
    until: dt.date | None = None,
    duration_s: int = 3600,
    apptstatus: str = "-",
    catid: int = OFFICE_VISIT_CATID,
    title: str = "Office Visit",
) -> int:
    """A recurring appointment row (pc_recurrtype 1/2/3); returns pc_eid.

    Without ``until`` OpenEMR stores the zero end date (repeats with no end).
    """
    assert recurrtype in (REPEAT_EVERY, REPEAT_NTH_WEEKDAY, REPEAT_DAYS_OF_WEEK)
    return _insert(
        conn,
        "openemr_postcalendar_events",
        _event_row(
            pid, aid, first, until or "0000-00-00", start, duration_s, recurrtype, spec, apptstatus, catid, title
        ),
    )


def insert_encounter(conn: sa.Connection, pid: int, encounter: int, when: dt.datetime, provider_id: int) -> int:
    """A form_encounter row (a visit); get_patient_balance sums per encounter listed here."""
    return _insert(
        conn,
        "form_encounter",
        {
            "uuid": uuid.uuid4().bytes,
            "date": when,
            "reason": "",
            "facility": DEFAULT_FACILITY_NAME,
            "facility_id": DEFAULT_FACILITY_ID,
            "pid": pid,
            "encounter": encounter,
            "onset_date": when,
            "sensitivity": "normal",
            "billing_note": "",
            "pc_catid": OFFICE_VISIT_CATID,
            "provider_id": provider_id,
            "supervisor_id": 0,
            "billing_facility": DEFAULT_FACILITY_ID,
            "pos_code": 11,
            "class_code": "AMB",
            "referring_provider_id": 0,
        },
    )


def insert_charge(
    conn: sa.Connection,
    pid: int,
    encounter: int,
    fee: Decimal | str,
    *,
    provider_id: int,
    user_id: int,
    code: str = "90837",
    activity: int = 1,
    when: dt.datetime | None = None,
) -> int:
    """A fee-sheet line in ``billing``; activity 0 is a deleted line, which balance ignores."""
    return _insert(
        conn,
        "billing",
        {
            "date": when or _now(),
            "code_type": "CPT4",
            "code": code,
            "pid": pid,
            "provider_id": provider_id,
            "user": user_id,
            "groupname": "Default",
            "authorized": 1,
            "encounter": encounter,
            "code_text": "Psychotherapy, 60 minutes",
            "billed": 0,
            "activity": activity,
            "payer_id": None,
            "bill_process": 0,
            "modifier": "",
            "units": 1,
            "fee": Decimal(fee),
            "justify": "",
            "target": None,
            "x12_partner_id": None,
            "ndc_info": "",
            "notecodes": "",
            "pricelevel": "standard",
            "revenue_code": "",
            "chargecat": "",
        },
    )


def insert_drug_sale(
    conn: sa.Connection,
    pid: int,
    encounter: int,
    fee: Decimal | str,
    *,
    sale_date: dt.date,
    drug_id: int = 1,
    inventory_id: int = 1,
    user: str = "admin",
) -> int:
    """A product sale posted to an encounter (drug_sales counts toward the balance)."""
    return _insert(
        conn,
        "drug_sales",
        {
            "drug_id": drug_id,
            "inventory_id": inventory_id,
            "prescription_id": 0,
            "pid": pid,
            "encounter": encounter,
            "user": user,
            "sale_date": sale_date,
            "quantity": 1,
            "fee": Decimal(fee),
            "billed": 0,
            "xfer_inventory_id": 0,
            "distributor_id": 0,
            "notes": "",
            "pricelevel": "standard",
            "selector": "",
            "trans_type": 1,
            "chargecat": "",
        },
    )


def insert_payment(
    conn: sa.Connection,
    pid: int,
    encounter: int,
    *,
    user_id: int,
    pay: Decimal | str = "0",
    adjust: Decimal | str = "0",
    deleted: dt.datetime | None = None,
    code: str = "90837",
) -> int:
    """A patient payment or adjustment: an ar_session plus its ar_activity line.

    As new_payment.php / DistributionInsert post them: sequence_no = MAX+1 per
    (pid, encounter), payer_type 0 (patient), account_code PP (payment) or PA
    (adjustment); follow_up, which OpenEMR leaves out, is stored '' as sql_mode ''
    would. ``deleted`` set means voided -- balance ignores it. Returns the session id.
    """
    now = _now()
    pay_d, adj_d = Decimal(pay), Decimal(adjust)
    session_id = _insert(
        conn,
        "ar_session",
        {
            "payer_id": 0,
            "user_id": user_id,
            "closed": 0,
            "reference": "",
            "check_date": now.date(),
            "deposit_date": now.date(),
            "pay_total": pay_d,
            "created_time": now,
            "modified_time": now,
            "global_amount": Decimal(0),
            "payment_type": "patient",
            "description": "",
            "adjustment_code": "patient_payment" if pay_d else "adjustment",
            "post_to_date": now.date(),
            "patient_id": pid,
            "payment_method": "cash",
        },
    )
    seq = int(
        conn.execute(
            sa.text("SELECT IFNULL(MAX(sequence_no), 0) + 1 FROM ar_activity WHERE pid = :p AND encounter = :e"),
            {"p": pid, "e": encounter},
        ).scalar_one()
    )
    _insert(
        conn,
        "ar_activity",
        {
            "pid": pid,
            "encounter": encounter,
            "sequence_no": seq,
            "code_type": "CPT4",
            "code": code,
            "modifier": "",
            "payer_type": 0,
            "post_time": now,
            "post_user": user_id,
            "session_id": session_id,
            "memo": "" if pay_d else "Pt adjust",
            "pay_amount": pay_d,
            "adj_amount": adj_d,
            "modified_time": now,
            "follow_up": "",
            "follow_up_note": "",
            "account_code": "PP" if pay_d else "PA",
            "reason_code": None,
            "deleted": deleted,
            "post_date": now.date(),
            "payer_claim_number": None,
        },
    )
    return session_id


def openemr_patient_balance(conn: sa.Connection, pid: int) -> Decimal:
    """get_patient_balance($pid) for a patient without insurance, in SQL.

    Per encounter in form_encounter: billing fees with activity = 1, plus drug_sales,
    less ar_activity payments and adjustments not deleted. (With insurance on file and
    the claim not closed, OpenEMR shows only unpaid copays instead -- see README.)
    """
    value = conn.execute(
        sa.text("""
        SELECT COALESCE(SUM(
            COALESCE((SELECT SUM(b.fee) FROM billing b
                      WHERE b.pid = fe.pid AND b.encounter = fe.encounter AND b.activity = 1), 0)
          + COALESCE((SELECT SUM(s.fee) FROM drug_sales s
                      WHERE s.pid = fe.pid AND s.encounter = fe.encounter), 0)
          - COALESCE((SELECT SUM(a.pay_amount) + SUM(a.adj_amount) FROM ar_activity a
                      WHERE a.deleted IS NULL AND a.pid = fe.pid AND a.encounter = fe.encounter), 0)
        ), 0)
        FROM form_encounter fe WHERE fe.pid = :pid"""),
        {"pid": pid},
    ).scalar_one()
    return Decimal(value).quantize(Decimal("0.01"))


def insert_log_like_openemr(
    conn: sa.Connection,
    *,
    event: str,
    category: str,
    user: str,
    comments: str,
    patient_id: int | None = None,
    success: int = 1,
    log_from: str = "open-emr",
) -> int:
    """A ``log`` row plus its ``log_comment_encrypt`` row, as EventAuditLogger::recordLogItem writes them.

    Unencrypted comments are stored base64-encoded; the checksum is SHA3-512 of the
    log entry's values concatenated (PHP implode, NULL as ''); version '4'. Returns log.id.
    """
    now = _now().strftime("%Y-%m-%d %H:%M:%S")
    encoded = base64.b64encode(comments.encode("utf-8")).decode("ascii")
    entry: list[Any] = [
        now,
        event,
        category,
        user,
        "Default",
        encoded,
        "",
        patient_id,
        success,
        "",
        log_from,
        None,
        None,
    ]
    log_id = _insert(
        conn,
        "log",
        {
            "date": now,
            "event": event,
            "category": category,
            "user": user,
            "groupname": "Default",
            "comments": encoded,
            "user_notes": "",
            "patient_id": patient_id,
            "success": success,
            "crt_user": "",
            "log_from": log_from,
            "menu_item_id": None,
            "ccda_doc_id": None,
        },
    )
    checksum = hashlib.sha3_512("".join("" if v is None else str(v) for v in entry).encode("utf-8")).hexdigest()
    _insert(
        conn,
        "log_comment_encrypt",
        {"log_id": log_id, "encrypt": "No", "checksum": checksum, "checksum_api": "", "version": 4},
    )
    return log_id
