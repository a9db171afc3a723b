"""Benchmark `reconciler audit verify` over a million audit events (SPEC §7.1).

    python bench/bench_audit_verify.py [--events 1000000] [--workdir /tmp/audit-bench] [--memory-only]

Two measurements, each failing (exit 1) when the chain does not verify:

* **in memory** — :func:`reconciler.security.chain.verify` over a generated stream of
  chained events (what the former opt-in unit test checked): time, and peak memory
  (the verifier keeps 8 bytes per event, never the events);
* **through the native target** — the same number of chained events written into a
  fresh SQLite database (``reconciler db init``, then one executemany transaction),
  then ``reconciler audit verify --db ...`` run as a whole process: wall time and the
  child's peak RSS (events are read in keyset-paginated batches, so memory stays flat).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = dt.datetime(2026, 12, 2, 15, 30, 0, tzinfo=dt.UTC)


def fields(i: int) -> dict[str, Any]:
    return {
        "time": T0 + dt.timedelta(seconds=i),
        "actor": "alee",
        "signer": None,
        "plan_id": f"plan-{i // 25:012x}",
        "action_type": "client.reassign",
        "target": f"C-{1000 + i}",
        "before": {"primary": "jdoe"},
        "after": {"primary": "egarcia"},
    }


def stream(n: int) -> Iterator[Any]:
    from reconciler.security.chain import ChainEvent, Linker

    linker = Linker()
    for i in range(n):
        f = fields(i)
        prev, h = linker.link(**f)
        yield ChainEvent(id=i + 1, prev_hash=prev, hash=h, **f)


def bench_memory(n: int) -> bool:
    from reconciler.security.chain import verify

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    result = verify(stream(n))
    took = time.perf_counter() - t
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(
        f"in memory: {result.count} events verified={result.ok} in {took:.1f} s "
        f"(generating and linking included), peak RSS grew {grew:.0f} MB"
    )
    return result.ok and result.count == n


def bench_database(n: int, workdir: Path) -> bool:
    from sqlalchemy import insert

    from reconciler.targets.native.engine import make_engine
    from reconciler.targets.native.migrate import init_db
    from reconciler.targets.native.schema import audit_t

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "audit.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    engine = make_engine(url, must_exist=False)
    init_db(engine)
    t = time.perf_counter()
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for i, e in enumerate(stream(n)):
            batch.append(
                {
                    "at": e.time.replace(tzinfo=None),
                    "actor": e.actor,
                    "signer": None,
                    "plan_id": e.plan_id,
                    "action_id": i % 25 + 1,
                    "action_type": e.action_type,
                    "target": e.target,
                    "staff_id": None,
                    "before": e.before,
                    "after": e.after,
                    "reason": "",
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
            )
            if len(batch) == 10_000:
                conn.execute(insert(audit_t), batch)
                batch = []
        if batch:
            conn.execute(insert(audit_t), batch)
    engine.dispose()
    print(f"wrote {n} chained events to {db} in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "audit", "verify", "--db", url],
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"reconciler audit verify: exit {res.returncode} in {took:.1f} s, peak RSS {rss:.0f} MB")
    print("  " + (res.stdout or res.stderr).strip())
    return res.returncode == 0 and f"{n} events" in res.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/audit-bench"))
    ap.add_argument("--memory-only", action="store_true", help="Skip the database measurement.")
    args = ap.parse_args()
    ok = bench_memory(args.events)
    if not args.memory_only:
        ok = bench_database(args.events, args.workdir) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
