"""Generate a large, realistic, fake practice for benchmarks.

    python bench/generate.py --staff 2000 --clients 200000 --appointments 2000000 --seed 1 \
        --db sqlite:///bench.db --snapshot bench.json --config-out bench-config --leaving 5

Deterministic for a given seed and sizes: the same rows, the same bytes. Writes the
practice straight into a database (``--db``: initialised here, must be empty; one
transaction of chunked Core executemany), and/or as a JSON snapshot
(``--snapshot``, the format ``reconciler db load`` reads and ``db dump`` writes),
and/or a config directory (``--config-out``) that declares every staff member as
they are, with ``--leaving N`` clinicians set to ``active: false``.

Shape: timezone America/New_York; an owner (alee), a clinical director (mkhan), a
practice manager (pmorgan) and a biller (rbill); the rest are clinicians with about
clients/clinicians clients each; every client has appointments/clients sessions
(weekly slot, weeks spread from 2026-09-01 to 2027-03-01: past ones completed or
no-show, future ones scheduled, a few cancelled); a fifth of active clients have a
weekly series; about one in ten owes a balance; a few are inactive or duplicates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from sqlalchemy import Table  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

from reconciler.targets.native.snapshot import (  # noqa: E402
    DocumentRows,
    appointments_t,
    clients_t,
    iter_json,
    practice_t,
    series_t,
    staff_t,
)

TZ_NAME = "America/New_York"
TZ = ZoneInfo(TZ_NAME)
UTC = dt.timezone.utc
FIRST_WEEK = dt.date(2026, 8, 31)  # the Monday of the week of 2026-09-01
WEEKS = 26  # to 2027-03-01
TODAY = dt.date(2026, 11, 24)
NOW = dt.datetime.combine(TODAY, dt.time(0, 0), tzinfo=TZ).astimezone(UTC).replace(tzinfo=None)
DAYS = ["MO", "TU", "WE", "TH", "FR"]
HOURS = list(range(8, 18))
CHUNK = 50_000

FIRST = [
    "Ana",
    "Ben",
    "Cara",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "Jo",
    "Kai",
    "Lia",
    "Max",
    "Nia",
    "Oto",
    "Pia",
    "Quin",
    "Rae",
    "Sol",
    "Tam",
    "Uma",
    "Vic",
    "Wes",
    "Xia",
    "Yan",
    "Zoe",
]
LAST = [
    "Abbot",
    "Brook",
    "Crane",
    "Dale",
    "Ember",
    "Frost",
    "Grove",
    "Hale",
    "Irons",
    "Jett",
    "Keel",
    "Lark",
    "Moss",
    "Nash",
    "Oak",
    "Pike",
    "Quay",
    "Reed",
    "Stone",
    "Thorn",
    "Umber",
    "Vale",
    "Wren",
    "Yew",
]


def fake_name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST) + "-" + str(rng.randrange(100, 1000))


class Practice:
    """The generated practice as row streams in id order (the order ``db dump`` sorts in)."""

    def __init__(self, staff: int, clients: int, appointments: int, seed: int) -> None:
        if staff < 5:
            raise SystemExit("--staff must be at least 5 (four office roles and a clinician)")
        self.n_staff, self.n_clients, self.n_appointments, self.seed = staff, clients, appointments, seed
        self.slot_utc: dict[tuple[int, int, int], dt.datetime] = {}
        rng = random.Random(f"{seed}:staff")
        self.clinicians = [f"c{i:05d}" for i in range(1, staff - 3)]
        office = [
            dict(
                id="alee", name="Ana Lee", role="owner", access="entire_practice", billing_role=None, max_caseload=None
            ),
            dict(
                id="mkhan",
                name="Mina Khan",
                role="clinical_director",
                access="entire_practice",
                billing_role="supervisor",
                max_caseload=None,
            ),
            dict(
                id="pmorgan",
                name="Pat Morgan",
                role="practice_manager",
                access="entire_practice",
                billing_role=None,
                max_caseload=None,
            ),
            dict(
                id="rbill",
                name="Rae Billings",
                role="biller",
                access="assigned_clients",
                billing_role="billing",
                max_caseload=None,
            ),
        ]
        clin = []
        for sid in self.clinicians:
            first, last = fake_name(rng)
            clin.append(
                dict(
                    id=sid,
                    name=f"{first} {last}",
                    role="clinician",
                    access="assigned_clients",
                    billing_role="rendering",
                    max_caseload=None,
                )
            )
        self.staff_rows = []
        for i, r in enumerate(sorted(office + clin, key=lambda r: str(r["id"]))):
            self.staff_rows.append(
                dict(
                    r,
                    active=True,
                    deactivate_on=None,
                    deactivated_at=None,
                    settings={"messaging_enabled": True} if i % 3 == 0 else None,
                )
            )

    def practice_row(self) -> dict[str, Any]:
        return dict(
            id=1,
            name="Benchmark Behavioral Health",
            timezone=TZ_NAME,
            owner_id="alee",
            clinical_director_id="mkhan",
            client_plan_limit=None,
            seat_price_cents=6000,
            billing_cycle_day=1,
        )

    def _start(self, week: int, day: int, hour: int) -> dt.datetime:
        key = (week, day, hour)
        got = self.slot_utc.get(key)
        if got is None:
            local = dt.datetime.combine(FIRST_WEEK + dt.timedelta(weeks=week, days=day), dt.time(hour), tzinfo=TZ)
            got = self.slot_utc[key] = local.astimezone(UTC).replace(tzinfo=None)
        return got

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(table, row) for clients, series and appointments, each table in id order.

        Yields clients first, then series, then appointments (three passes over the
        same seeded decisions), so that each table is written in id order.
        """
        for table in ("clients", "series", "appointments"):
            yield from ((table, r) for r in self._pass(table))

    def _pass(self, table: str) -> Iterator[dict[str, Any]]:
        rng = random.Random(f"{self.seed}:clients")
        n_clin = len(self.clinicians)
        per, extra = divmod(self.n_appointments, max(self.n_clients, 1))
        past_weeks = (TODAY - FIRST_WEEK).days // 7  # whole weeks before today
        a_id = s_id = 0
        for i in range(1, self.n_clients + 1):
            cid = f"C-{i}"
            primary = self.clinicians[(i - 1) * n_clin // self.n_clients]
            first, last = fake_name(rng)
            roll = rng.random()
            status = "inactive" if roll < 0.05 else "active"
            duplicate_of = f"C-{rng.randrange(1, i)}" if status == "inactive" and i > 1 and roll < 0.005 else None
            balance = rng.randrange(1, 500) * 100 if rng.random() < 0.1 else 0
            portal = rng.random() < 0.6
            has_series = status == "active" and rng.random() < 0.2
            day, hour = rng.randrange(5), rng.choice(HOURS)
            k = per + (1 if i <= extra else 0)
            weeks_pool = range(past_weeks) if status == "inactive" else range(WEEKS)
            weeks = sorted(rng.sample(weeks_pool, min(k, len(weeks_pool))))
            weeks += [weeks[-1] if weeks else 0] * (k - len(weeks))  # tiny pools: repeat the last week
            telehealth = rng.random() < 0.3
            if table == "clients":
                yield dict(
                    id=cid,
                    first_name=first,
                    last_name=last,
                    status=status,
                    primary_id=primary if status == "active" else None,
                    balance_cents=balance,
                    portal_access=portal and status == "active",
                    duplicate_of=duplicate_of,
                    deleted_at=None,
                )
            sid = None
            if has_series and weeks:
                s_id += 1
                sid = f"S-{s_id}"
                if table == "series":
                    yield dict(
                        id=sid,
                        client_id=cid,
                        staff_id=primary,
                        rrule=f"FREQ=WEEKLY;BYDAY={DAYS[day]}",
                        start_at=self._start(weeks[0], day, hour),
                        duration_minutes=50,
                        until=None,
                        active=True,
                    )
            for w in weeks:
                a_id += 1
                r = rng.random()  # drawn in every pass: the passes stay in step
                if table != "appointments":
                    continue
                start = self._start(w, day, hour)
                if start < NOW:
                    status_a, reason = (
                        ("no_show", None)
                        if r < 0.05
                        else ("cancelled", "Client cancelled")
                        if r < 0.08
                        else ("completed", None)
                    )
                else:
                    status_a, reason = ("cancelled", "Client cancelled") if r < 0.03 else ("scheduled", None)
                yield dict(
                    id=f"A-{a_id}",
                    client_id=cid,
                    staff_id=primary,
                    start_at=start,
                    end_at=start + dt.timedelta(minutes=50),
                    status=status_a,
                    series_id=sid,
                    cancel_reason=reason,
                    telehealth=telehealth,
                )


def chunked(rows: Iterable[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_db(url: str, practice: Practice) -> dict[str, int]:
    """Initialise ``url`` and insert the practice in one transaction."""
    from reconciler.targets.native.engine import make_engine
    from reconciler.targets.native.migrate import init_db

    engine = make_engine(url)
    init_db(engine)
    counts: dict[str, int] = {}
    tables: dict[str, Table] = {"clients": clients_t, "series": series_t, "appointments": appointments_t}
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # Generation only: a crash just means generating again.
            # (on the driver connection: a PRAGMA cannot run inside the transaction SQLAlchemy would begin)
            conn.connection.driver_connection.execute("PRAGMA synchronous=OFF")  # type: ignore[union-attr]
        with conn.begin():
            if conn.execute(practice_t.select().limit(1)).first() is not None:
                raise SystemExit(f"{url}: the database already holds a practice; use an empty one")
            conn.execute(practice_t.insert(), [practice.practice_row()])
            conn.execute(staff_t.insert(), practice.staff_rows)
            counts["staff"] = len(practice.staff_rows)
            _insert_streams(conn, tables, practice.rows(), counts)
    engine.dispose()
    return counts


def _insert_streams(
    conn: Connection, tables: dict[str, Table], rows: Iterator[tuple[str, dict[str, Any]]], counts: dict[str, int]
) -> None:
    buf: list[dict[str, Any]] = []
    current = ""
    for table, row in rows:
        if table != current or len(buf) >= CHUNK:
            if buf:
                conn.execute(tables[current].insert(), buf)
                counts[current] = counts.get(current, 0) + len(buf)
            buf, current = [], table
        buf.append(row)
    if buf:
        conn.execute(tables[current].insert(), buf)
        counts[current] = counts.get(current, 0) + len(buf)


def write_snapshot(path: Path, practice: Practice) -> None:
    """The practice as a JSON snapshot, byte-identical to what ``db dump --out x.json`` writes."""
    conv = DocumentRows(TZ_NAME)

    def section(name: str) -> Iterator[dict[str, Any]]:
        convert = getattr(conv, name)
        return (convert(r) for r in practice._pass(name))

    sections = {
        "staff": (conv.staff(r) for r in practice.staff_rows),
        "clients": section("clients"),
        "series": section("series"),
        "appointments": section("appointments"),
    }
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for piece in iter_json(conv.practice(practice.practice_row()), sections):
            fh.write(piece)
    tmp.replace(path)


def write_config(out: Path, practice: Practice, leaving: int, seed: int) -> list[str]:
    """A config directory declaring every staff member as they are; ``leaving``
    clinicians (chosen by the seed) get ``active: false`` with the standard policy."""
    if leaving > len(practice.clinicians):
        raise SystemExit(f"--leaving {leaving} exceeds the {len(practice.clinicians)} clinicians")
    gone = set(random.Random(f"{seed}:leaving").sample(practice.clinicians, leaving))
    out.mkdir(parents=True, exist_ok=True)
    head = {
        "version": 1,
        "practice": {"timezone": TZ_NAME, "owner": "alee", "clinical_director": "mkhan", "unmanaged_staff": "ignore"},
    }
    staff = []
    for r in practice.staff_rows:
        entry: dict[str, Any] = {"id": r["id"], "name": r["name"], "role": r["role"], "access": r["access"]}
        if r["id"] in gone:
            entry.update(active=False, offboarding="standard")
        staff.append(entry)
    files = {"practice.yaml": head, "staff.yaml": {"version": 1, "staff": staff}}
    for name, doc in files.items():
        (out / name).write_text(
            yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=1 << 30), encoding="utf-8"
        )
    return sorted(gone)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--staff", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=200_000)
    ap.add_argument("--appointments", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", help="SQLAlchemy URL of an empty database to fill (initialised here).")
    ap.add_argument("--snapshot", type=Path, help="Write a JSON snapshot here.")
    ap.add_argument("--config-out", type=Path, help="Write a config directory declaring all staff here.")
    ap.add_argument("--leaving", type=int, default=0, help="Clinicians marked active: false in --config-out.")
    args = ap.parse_args(argv)
    if not (args.db or args.snapshot or args.config_out):
        ap.error("give at least one of --db, --snapshot, --config-out")
    practice = Practice(args.staff, args.clients, args.appointments, args.seed)
    if args.snapshot:
        t0 = time.perf_counter()
        write_snapshot(args.snapshot, practice)
        print(f"wrote {args.snapshot} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    if args.db:
        t0 = time.perf_counter()
        counts = write_db(args.db, practice)
        print(
            f"filled database ({', '.join(f'{n} {k}' for k, n in counts.items())}) in {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )
    if args.config_out:
        gone = write_config(args.config_out, practice, args.leaving, args.seed)
        print(
            f"wrote config to {args.config_out}" + (f" (leaving: {', '.join(gone)})" if gone else ""), file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
