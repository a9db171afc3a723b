"""Reads of the openemr target for the commands around planning: ``import`` (the
config that describes OpenEMR as it is), ``status``, the deletion actor's access and
validation's database facts. Ids and flags only: no client name is selected here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from reconciler.model.actual import Client

from .read import client_active_cond, read_base, unassigned_cond
from .tables import audit_events, client_links, meta, users
from .tables import patient_data as pd


def read_import(conn: Connection) -> tuple[Any, tuple[Any, ...], tuple[Client, ...], tuple[str, ...]]:
    """(practice, staff, non-default clients, orphaned ids): what ``import`` writes.

    A non-default client is an inactive one (or one linked as a duplicate); active
    clients are governed by the policies. Orphaned: active clients whose primary is
    missing or inactive (the importer lists them for attention).
    """
    practice, staff_by_id = read_base(conn)
    owner = users.alias("owner")
    rows = conn.execute(
        select(pd.c.pubpid, pd.c.care_team_status, owner.c.username, client_links.c.duplicate_of)
        .select_from(
            pd.outerjoin(owner, and_(owner.c.id == pd.c.providerID, owner.c.username != "")).outerjoin(
                client_links, client_links.c.pubpid == pd.c.pubpid
            )
        )
        .where(pd.c.pubpid != "", or_(pd.c.care_team_status == "inactive", client_links.c.duplicate_of.is_not(None)))
        .order_by(pd.c.pubpid)
    ).all()
    clients = tuple(
        Client(
            id=r.pubpid,
            status="inactive" if (r.care_team_status or "") == "inactive" else "active",
            primary=r.username,
            duplicate_of=r.duplicate_of,
        )
        for r in rows
    )
    active_ids = select(users.c.id).where(users.c.active == 1, users.c.username != "")
    orphans = (
        conn.execute(
            select(pd.c.pubpid)
            .where(client_active_cond(), pd.c.pubpid != "", or_(unassigned_cond(), pd.c.providerID.not_in(active_ids)))
            .order_by(pd.c.pubpid)
        )
        .scalars()
        .all()
    )
    return practice, tuple(staff_by_id[k] for k in sorted(staff_by_id)), clients, tuple(dict.fromkeys(orphans))


def read_status(conn: Connection) -> dict[str, Any]:
    """The rows behind ``reconciler status`` (the fields of ``model.records.StatusFacts``)."""
    practice, staff = read_base(conn)
    owner = users.alias("owner")
    caseload: dict[str, int] = {
        str(k): int(v)
        for k, v in conn.execute(
            select(owner.c.username, func.count())
            .select_from(pd.join(owner, owner.c.id == pd.c.providerID))
            .where(client_active_cond(), pd.c.pubpid != "", owner.c.username != "")
            .group_by(owner.c.username)
            .order_by(owner.c.username)
        )
    }
    active = [s for s in staff.values() if s.active]
    unassigned = (
        conn.execute(
            select(pd.c.pubpid).where(client_active_cond(), unassigned_cond(), pd.c.pubpid != "").order_by(pd.c.pubpid)
        )
        .scalars()
        .all()
    )
    inactive_ids = select(users.c.id).where(users.c.active == 0, users.c.username != "")
    orphaned = conn.execute(
        select(pd.c.pubpid, owner.c.username)
        .select_from(pd.join(owner, owner.c.id == pd.c.providerID))
        .where(client_active_cond(), pd.c.providerID.in_(inactive_ids), pd.c.pubpid != "")
        .order_by(pd.c.pubpid)
    ).all()
    n_active = conn.execute(
        select(func.count()).select_from(pd).where(client_active_cond(), pd.c.pubpid != "")
    ).scalar_one()
    n_inactive = conn.execute(
        select(func.count()).select_from(pd).where(pd.c.care_team_status == "inactive", pd.c.pubpid != "")
    ).scalar_one()
    last = (
        conn.execute(
            select(audit_events.c.plan_id, audit_events.c.at, audit_events.c.actor)
            .order_by(audit_events.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    last_apply = None
    if last is not None:
        n = conn.execute(
            select(func.count()).select_from(audit_events).where(audit_events.c.plan_id == last["plan_id"])
        ).scalar_one()
        last_apply = {"plan_id": last["plan_id"], "at": last["at"], "actor": last["actor"], "actions": int(n)}
    return {
        "practice": {}
        if practice is None
        else {
            "name": practice.name,
            "timezone": practice.timezone,
            "owner_id": practice.owner,
            "clinical_director_id": practice.clinical_director,
            "client_plan_limit": practice.client_plan_limit,
            "seat_price_cents": practice.seat_price_cents,
        },
        "staff": [
            {
                "id": s.id,
                "role": s.role,
                "access": s.access,
                "max_caseload": s.max_caseload,
                "deactivate_on": s.deactivate_on,
                "caseload": int(caseload.get(s.id, 0)),
            }
            for s in sorted(active, key=lambda s: s.id)
        ],
        "inactive_staff": sum(1 for s in staff.values() if not s.active),
        "unassigned": list(unassigned),
        "orphaned": [{"id": r[0], "primary_id": r[1]} for r in orphaned],
        "by_status": {"active": int(n_active), "inactive": int(n_inactive)},
        "deleted": [],
        "last_apply": last_apply,
    }


def staff_access(conn: Connection, staff_id: str) -> tuple[str, str, str, bool] | None:
    """(id, role, access, active) of one staff member, or None."""
    _practice, staff = read_base(conn)
    s = staff.get(staff_id)
    return None if s is None else (s.id, s.role, s.access, s.active)


def read_db_facts(conn: Connection, client_ids: list[str]) -> tuple[str | None, dict[str, bool], frozenset[str]]:
    """(timezone, staff id -> active, the given client ids that exist)."""
    practice, staff = read_base(conn)
    found: set[str] = set()
    for i in range(0, len(client_ids), 500):
        found.update(
            conn.execute(
                select(pd.c.pubpid).where(pd.c.pubpid.in_(client_ids[i : i + 500])).order_by(pd.c.pubpid)
            ).scalars()
        )
    return (practice.timezone if practice else None), {k: v.active for k, v in staff.items()}, frozenset(found)


def database_id(conn: Connection) -> str | None:
    """The database's random identity (``reconciler_meta.db_id``, written at ``db init``)."""
    value = conn.execute(select(meta.c.value).where(meta.c.key == "db_id")).scalar()
    return str(value) if value is not None else None
