"""Benchmark `reconciler plan` as whole processes on SQLite (the planner's budget).

    python bench/bench_plan.py [--workdir /tmp/planner-bench] [--runs 5]

Scenarios (databases and configs made by bench/generate.py when missing):

* big   — 2,000 staff / 200,000 clients / 2,000,000 appointments;
* small — 200 staff / 20,000 clients / 200,000 appointments (10x smaller);

each planned with 20 clinicians leaving under the ``standard`` policy (budget: 2 s
for big) and with nothing to do (budget: 1.5 s). The cost should follow the size
of the change, not of the practice: ``small`` and ``big`` should be close.

It also prints SQLite's EXPLAIN QUERY PLAN for every query the plan's read runs
(captured as executed) and fails if any of them scans the clients or
appointments table instead of searching an index.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AT = "2026-11-24T15:00:00Z"
SIZES = {"big": (2000, 200_000, 2_000_000), "small": (200, 20_000, 200_000)}
BUDGET = {"leave20": 2.0, "leave0": 1.5}


def ensure(workdir: Path, size: str, leaving: int) -> tuple[Path, Path]:
    """The database and config for ``size`` / ``leaving``, generated when missing."""
    staff, clients, appts = SIZES[size]
    db = workdir / f"{size}.db"
    cfg = workdir / f"{size}-leave{leaving}"
    args = [
        sys.executable,
        str(ROOT / "bench" / "generate.py"),
        "--staff",
        str(staff),
        "--clients",
        str(clients),
        "--appointments",
        str(appts),
    ]
    if not db.exists():
        subprocess.run([*args, "--db", f"sqlite:///{db}"], check=True)
    if not cfg.exists():
        subprocess.run([*args, "--config-out", str(cfg), "--leaving", str(leaving)], check=True)
    return db, cfg


def time_plan(db: Path, cfg: Path, runs: int) -> tuple[float, float, float, int]:
    """Median and min wall seconds and median CPU seconds (user+sys: steadier on a busy
    machine) of whole `reconciler plan --format json` processes, and the action count."""
    cmd = [
        sys.executable,
        "-m",
        "reconciler.cli",
        "plan",
        "-c",
        str(cfg),
        "--db",
        f"sqlite:///{db}",
        "--at",
        AT,
        "--format",
        "json",
        "--allow-mass-change",
    ]
    times: list[float] = []
    cpu: list[float] = []
    out = b""
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"plan failed: {proc.stderr.decode()}")
        out = proc.stdout
    import json

    return statistics.median(times), min(times), statistics.median(cpu), len(json.loads(out)["actions"])


def explain(db: Path, cfg: Path) -> list[tuple[str, list[str]]]:
    """EXPLAIN QUERY PLAN of every statement the plan's read executes."""
    from sqlalchemy import event

    from reconciler.config.loader import load_config
    from reconciler.planner.scope import read_scope
    from reconciler.targets.native.engine import make_engine
    from reconciler.targets.native.read import read_base, read_sets, sa_rows

    engine = make_engine(f"sqlite:///{db}")
    seen: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    desired = load_config(cfg)
    at = dt.datetime.fromisoformat(AT.replace("Z", "+00:00"))
    with engine.connect() as conn, conn.begin():
        practice, staff = read_base(sa_rows(conn))
        read_sets(sa_rows(conn), read_scope(desired, practice, staff, at), practice, staff)
    report = []
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, params in seen:
            cur.execute("EXPLAIN QUERY PLAN " + statement, params)
            report.append((" ".join(statement.split())[:160], [str(r[-1]) for r in cur.fetchall()]))
    finally:
        raw.close()
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/planner-bench"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", nargs="*", default=["big", "small"])
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    ok = True
    print(
        f"{'scenario':<16}{'median s':>10}{'min s':>8}{'cpu s':>8}{'actions':>9}  budget (wall median; cpu if the machine is busy)"
    )
    for size in args.sizes:
        for leaving in (20, 0):
            db, cfg = ensure(args.workdir, size, leaving)
            med, best, cpu, n = time_plan(db, cfg, args.runs)
            budget = BUDGET[f"leave{leaving}"]
            verdict = "ok" if size != "big" or med <= budget else ("ok (cpu)" if cpu <= budget else "OVER")
            ok &= verdict != "OVER"
            print(
                f"{size + '/leave' + str(leaving):<16}{med:>10.3f}{best:>8.3f}{cpu:>8.3f}{n:>9}  {budget:.1f} s {verdict}"
            )
    db, cfg = ensure(args.workdir, args.sizes[0], 20)
    print("\nEXPLAIN QUERY PLAN of the scoped reads:")
    for statement, plan in explain(db, cfg):
        print(f"- {statement}")
        for line in plan:
            bad = line.startswith("SCAN") and ("clients" in line or "appointments" in line)
            ok &= not bad
            print(f"    {line}{'   <-- full scan' if bad else ''}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
