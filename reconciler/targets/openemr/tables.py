"""Table definitions for the ``openemr`` target (SQLAlchemy Core, no ORM).

Two metadata objects, never mixed:

``openemr``
    The OpenEMR 7 columns this target reads or writes, as OpenEMR's own
    ``sql/database.sql`` defines them (a subset of each table: a real installation
    has many more columns, which the target never names). Nothing here is ever
    created, altered or reflected: ``openemr.create_all`` is never called, and the
    reconciler emits no DDL for these tables.

``ours``
    The reconciler's own tables, all named ``reconciler_*``, created only by the
    migrations in ``reconciler/targets/openemr/migrations`` (version table
    ``reconciler_alembic_version``): the facts OpenEMR has no column for.

Indexes the target's reads rely on, and which OpenEMR 7 lacks (the target says so
in :data:`MISSING_INDEXES`; it never creates them): a staff member's future
sessions are found through ``pc_eventDate`` (OpenEMR's ``basic_event`` key starts
with ``pc_catid``, so ``pc_aid`` alone cannot use it) and a staff member's clients
through a scan of ``patient_data.providerID``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
)
from sqlalchemy.dialects.mysql import BINARY, LONGTEXT, TINYINT

# ---------------------------------------------------------------- OpenEMR's tables (never DDL)
openemr = MetaData()

users = Table(
    "users",
    openemr,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("username", String(255)),
    Column("fname", String(255)),
    Column("lname", String(255)),
    Column("active", TINYINT(1), nullable=False),
    Column("authorized", TINYINT),
    Column("calendar", TINYINT(1), nullable=False),
)

patient_data = Table(
    "patient_data",
    openemr,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("pid", BigInteger, nullable=False),
    Column("pubpid", String(255), nullable=False),
    Column("fname", String(255), nullable=False),  # PHI: read for exports only
    Column("lname", String(255), nullable=False),  # PHI: read for exports only
    Column("DOB", Date),  # PHI: read for exports only
    Column("sex", String(255), nullable=False),  # exports only
    Column("providerID", Integer),
    Column("care_team_status", Text),
    Column("allow_patient_portal", String(31), nullable=False),
)

postcalendar_events = Table(
    "openemr_postcalendar_events",
    openemr,
    Column("pc_eid", Integer, primary_key=True, autoincrement=True),
    Column("pc_catid", Integer, nullable=False),
    Column("pc_multiple", Integer, nullable=False),
    Column("pc_aid", String(30)),
    Column("pc_pid", String(11)),
    Column("pc_gid", Integer),
    Column("pc_title", String(150)),
    Column("pc_time", DateTime),
    Column("pc_hometext", Text),
    Column("pc_comments", Integer),
    Column("pc_counter", Integer),
    Column("pc_topic", Integer, nullable=False),
    Column("pc_informant", String(20)),
    Column("pc_eventDate", Date, nullable=False),
    Column("pc_endDate", Date, nullable=False),
    Column("pc_duration", BigInteger, nullable=False),
    Column("pc_recurrtype", Integer, nullable=False),
    Column("pc_recurrspec", Text),
    Column("pc_recurrfreq", Integer, nullable=False),
    Column("pc_startTime", Time),
    Column("pc_endTime", Time),
    Column("pc_alldayevent", Integer, nullable=False),
    Column("pc_location", Text),
    Column("pc_conttel", String(50)),
    Column("pc_contname", String(50)),
    Column("pc_contemail", String(255)),
    Column("pc_website", String(255)),
    Column("pc_fee", String(50)),
    Column("pc_eventstatus", Integer, nullable=False),
    Column("pc_sharing", Integer, nullable=False),
    Column("pc_language", String(30)),
    Column("pc_apptstatus", String(15), nullable=False),
    Column("pc_prefcatid", Integer, nullable=False),
    Column("pc_facility", SmallInteger, nullable=False),
    Column("pc_sendalertsms", String(3), nullable=False),
    Column("pc_sendalertemail", String(3), nullable=False),
    Column("pc_billing_location", SmallInteger, nullable=False),
    Column("pc_room", String(20), nullable=False),
    Column("uuid", BINARY(16)),
)

billing = Table(
    "billing",
    openemr,
    Column("id", Integer, primary_key=True),
    Column("pid", Integer),
    Column("encounter", Integer),
    Column("activity", TINYINT(1)),
    Column("fee", Numeric(12, 2)),
)

drug_sales = Table(
    "drug_sales",
    openemr,
    Column("sale_id", Integer, primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("encounter", Integer, nullable=False),
    Column("fee", Numeric(12, 2), nullable=False),
)

ar_activity = Table(
    "ar_activity",
    openemr,
    Column("pid", Integer, primary_key=True),
    Column("encounter", Integer, primary_key=True),
    Column("sequence_no", Integer, primary_key=True),
    Column("pay_amount", Numeric(12, 2), nullable=False),
    Column("adj_amount", Numeric(12, 2), nullable=False),
    Column("deleted", DateTime),
)

form_encounter = Table(
    "form_encounter",
    openemr,
    Column("id", BigInteger, primary_key=True),
    Column("pid", BigInteger),
    Column("encounter", BigInteger),
)

log = Table(
    "log",
    openemr,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("date", DateTime),
    Column("event", String(255)),
    Column("category", String(255)),
    Column("user", String(255)),
    Column("groupname", String(255)),
    Column("comments", LONGTEXT),
    Column("user_notes", LONGTEXT),
    Column("patient_id", BigInteger),
    Column("success", TINYINT(1)),
    Column("checksum", LONGTEXT),
    Column("crt_user", String(255)),
    Column("log_from", String(20)),
    Column("menu_item_id", Integer),
    Column("ccda_doc_id", Integer),
)

log_comment_encrypt = Table(
    "log_comment_encrypt",
    openemr,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("log_id", Integer, nullable=False),
    Column("encrypt", String(3), nullable=False),
    Column("checksum", LONGTEXT),
    Column("checksum_api", LONGTEXT),
    Column("version", TINYINT, nullable=False),
)

#: OpenEMR's tables an apply writes (each must be InnoDB: SPEC §6).
WRITTEN_OPENEMR_TABLES = ("users", "patient_data", "openemr_postcalendar_events", "log", "log_comment_encrypt")

#: Indexes the target's reads would use and OpenEMR 7 does not define. Reported, never created.
MISSING_INDEXES = (
    (
        "openemr_postcalendar_events(pc_aid, pc_eventDate): a professional's sessions are found through "
        "the pc_eventDate key and filtered by pc_aid"
    ),
    "patient_data(providerID): a professional's clients are found by scanning patient_data",
    "patient_data(pubpid): clients named in the config are found by scanning patient_data",
    "drug_sales(pid, encounter): the balance's drug sales are summed by scanning drug_sales",
)

# ---------------------------------------------------------------- the reconciler's own tables
ours = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

practice = Table(
    "reconciler_practice",
    ours,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("owner_id", String(255)),
    Column("clinical_director_id", String(255)),
    Column("client_plan_limit", Integer),
    Column("seat_price_cents", Integer),
    Column("billing_cycle_day", Integer, nullable=False, default=1),
    mysql_engine="InnoDB",
)

staff_facts = Table(
    "reconciler_staff",
    ours,
    Column("username", String(255), primary_key=True),
    Column("role", String(32), nullable=False),
    Column("access", String(32), nullable=False),
    Column("billing_role", String(64)),
    Column("max_caseload", Integer),
    Column("settings", JSON),
    Column("deactivate_on", Date),
    Column("deactivated_at", DateTime),
    mysql_engine="InnoDB",
)

seat_events = Table(
    "reconciler_seat_events",
    ours,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("staff_id", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("plan_id", String(64)),
    Column("credit_cents", Integer),
    Index("ix_reconciler_seat_events_staff_id", "staff_id"),
    mysql_engine="InnoDB",
)

audit_events = Table(
    "reconciler_audit_events",
    ours,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("signer", String(255)),
    Column("plan_id", String(64), nullable=False),
    Column("action_id", Integer, nullable=False),
    Column("action_type", String(64), nullable=False),
    Column("target", String(255), nullable=False),
    Column("staff_id", String(255)),
    Column("before", JSON),
    Column("after", JSON),
    Column("reason", Text),
    Column("prev_hash", String(71), nullable=False),
    Column("hash", String(71), nullable=False),
    # Migration 0002: the client an event concerns (not hashed) and the audit-query indexes.
    Column("client_id", String(255)),
    Index("ix_reconciler_audit_events_plan_id", "plan_id"),
    Index("ix_reconciler_audit_events_at", "at"),
    Index("ix_reconciler_audit_events_staff_id_at", "staff_id", "at"),
    Index("ix_reconciler_audit_events_client_id_at", "client_id", "at"),
    Index("ix_reconciler_audit_events_actor_at", "actor", "at"),
    Index("ix_reconciler_audit_events_action_type_at", "action_type", "at"),
    mysql_engine="InnoDB",
)

client_links = Table(
    "reconciler_client_links",
    ours,
    Column("pubpid", String(255), primary_key=True),
    Column("duplicate_of", String(255), nullable=False),
    Index("ix_reconciler_client_links_duplicate_of", "duplicate_of"),
    mysql_engine="InnoDB",
)

#: Facts about the database itself: ``db_id``, a random identity written once by the
#: migration that creates the table (``db init``); a saved plan carries it.
meta = Table(
    "reconciler_meta",
    ours,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    mysql_engine="InnoDB",
)

#: The reconciler's tables an apply writes (``reconciler_meta`` is written once, at ``db init``).
WRITTEN_OWN_TABLES = tuple(sorted(t for t in ours.tables if t != meta.name))
VERSION_TABLE = "reconciler_alembic_version"
HEAD_REVISION = "0003"
