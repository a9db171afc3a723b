"""Refusals before anything changes: every table an apply writes must be InnoDB
(old OpenEMR installations have MyISAM tables, whose writes no rollback undoes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection

from reconciler.errors import PlanRefused
from reconciler.model.actions import ActionType as T

from .tables import client_links, log_comment_encrypt, practice, seat_events, staff_facts

_ENTITY_TABLES = {
    "practice": (practice.name,),
    "staff": ("users", staff_facts.name, seat_events.name),
    "appointment": ("openemr_postcalendar_events",),
    "series": ("openemr_postcalendar_events",),
    "client": ("patient_data", client_links.name),
    "export": (),
}
ALWAYS_WRITTEN = ("log", "reconciler_audit_events")


def tables_written_by_types(kinds: Iterable[T], with_checksums: bool, *, audit: bool = True) -> list[str]:
    """Every table an apply of these action types writes (OpenEMR's and the reconciler's);
    with ``audit``, the audit sink's tables too."""
    names: set[str] = set()
    if audit:
        names.update(ALWAYS_WRITTEN)
        if with_checksums:
            names.add(log_comment_encrypt.name)
    for kind in kinds:
        names.update(_ENTITY_TABLES[kind.entity])
    return sorted(names)


def check_transactional(conn: Connection, tables: Sequence[str]) -> None:
    """Refuse (PlanRefused, naming the table) when a table to be written is not InnoDB."""
    rows = conn.execute(
        text(
            "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME"
        )
    ).all()
    engines = {name: eng for name, eng in rows}
    missing = [t for t in tables if t not in engines]
    if missing:
        raise PlanRefused(
            f"table {missing[0]} does not exist in this database "
            "(run `reconciler --target openemr db init` on an OpenEMR database); nothing was changed"
        )
    bad = [(t, engines[t]) for t in tables if (engines[t] or "").lower() != "innodb"]
    if bad:
        t, eng = bad[0]
        raise PlanRefused(
            f"table {t} uses the {eng} storage engine, which is not transactional: the apply "
            f"could not be all or nothing, so it is refused; convert it (ALTER TABLE {t} ENGINE=InnoDB, "
            "after a backup) and apply again; nothing was changed"
        )


def has_checksum_table(conn: Connection) -> bool:
    """OpenEMR 6+ writes a ``log_comment_encrypt`` row per ``log`` row."""
    return bool(
        conn.execute(
            text(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = 'log_comment_encrypt'"
            )
        ).scalar()
    )
