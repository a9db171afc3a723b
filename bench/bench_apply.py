"""Benchmark a whole `reconciler apply --auto-approve` of a 20-professional offboarding.

    python bench/bench_apply.py [--backend sqlite|postgresql|both] [--runs 3] [--workdir bench/out/apply]
                                [--source-db PATH_TO_A_GENERATED_SQLITE_DB]

The practice: 2,000 staff / 200,000 clients / 2,000,000 appointments from
``bench/generate.py`` (seed 1), with ``--leaving 20`` clinicians under the
``standard`` policy. The plan is saved once (``reconciler plan --out``); each run
applies it to a fresh copy of the database (SQLite: a file copy; PostgreSQL: a
``CREATE DATABASE ... TEMPLATE`` of a database generated once, on a throwaway
server from ``tests/pgserver.py``), so every run does the same work: lock,
fingerprint re-read, every writer, one audit event per action, commit.

Budget (SQLite): 5 s for the whole process, audit included. Prints the median and
minimum wall time per backend and the action count; exits 1 over budget.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
AT = "2026-11-24T15:00:00Z"
SIZE = ("2000", "200000", "2000000")
LEAVING = 20
BUDGET_S = 5.0


def reconciler(*args: str, db: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECONCILER_DB": db, "RECONCILER_ACTOR": "alee"}
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"reconciler {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def generate(*args: str) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            "--staff",
            SIZE[0],
            "--clients",
            SIZE[1],
            "--appointments",
            SIZE[2],
            "--seed",
            "1",
            *args,
        ],
        check=True,
    )


CPU: list[float] = []  # the apply processes' own CPU seconds (less sensitive to a busy machine)


def timed_apply(plan: Path, db: str, export_dir: Path) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = reconciler("apply", str(plan), "--auto-approve", "--export-dir", str(export_dir), db=db)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if not proc.stdout.startswith("Apply complete:"):
        raise SystemExit(f"unexpected apply output: {proc.stdout}")
    return elapsed


def bench_sqlite(work: Path, source: Path, config: Path, runs: int) -> tuple[list[float], int]:
    plan = work / "plan-sqlite.json"
    reconciler(
        "plan",
        "-c",
        str(config),
        "--at",
        AT,
        "--out",
        str(plan),
        "--format",
        "json",
        "--allow-mass-change",
        db=f"sqlite:///{source}",
    )
    times = []
    for i in range(runs):
        run_db = work / "run.db"
        for suffix in ("", "-wal", "-shm", ".apply-lock"):
            Path(str(run_db) + suffix).unlink(missing_ok=True)
        shutil.copyfile(source, run_db)
        shutil.rmtree(work / "exports", ignore_errors=True)
        times.append(timed_apply(plan, f"sqlite:///{run_db}", work / "exports"))
        if i == 0:  # convergence check once (not timed)
            left = reconciler(
                "plan",
                "-c",
                str(config),
                "--at",
                AT,
                "--format",
                "json",
                "--allow-mass-change",
                db=f"sqlite:///{run_db}",
            )
            assert json.loads(left.stdout)["actions"] == [], "apply did not converge"
    return times, len(json.loads(plan.read_text())["actions"])


def bench_postgresql(work: Path, config: Path, runs: int) -> tuple[list[float], int]:
    import psycopg
    from pgserver import PgServer

    server = PgServer().start()
    try:
        with psycopg.connect(host=str(server.sock), user=server.user, dbname="postgres", autocommit=True) as conn:
            conn.execute('CREATE DATABASE "base"')
        t0 = time.perf_counter()
        generate("--db", server.url("base"))
        print(f"  postgresql: generated the practice in {time.perf_counter() - t0:.0f} s", flush=True)
        with psycopg.connect(host=str(server.sock), user=server.user, dbname="base", autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        plan = work / "plan-pg.json"
        reconciler(
            "plan",
            "-c",
            str(config),
            "--at",
            AT,
            "--out",
            str(plan),
            "--format",
            "json",
            "--allow-mass-change",
            db=server.url("base"),
        )
        times = []
        for i in range(runs):
            name = f"run{i}"
            with psycopg.connect(host=str(server.sock), user=server.user, dbname="postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "base"')
            shutil.rmtree(work / "exports", ignore_errors=True)
            times.append(timed_apply(plan, server.url(name), work / "exports"))
        return times, len(json.loads(plan.read_text())["actions"])
    finally:
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "apply")
    ap.add_argument("--source-db", type=Path, help="An already generated SQLite practice (same sizes, seed 1).")
    args = ap.parse_args()
    work: Path = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    config = work / f"config-leave{LEAVING}"
    if not config.exists():
        generate("--config-out", str(config), "--leaving", str(LEAVING))
    over = False
    results: list[str] = []
    if args.backend in ("sqlite", "both"):
        source = args.source_db.resolve() if args.source_db else work / "big.db"
        if not source.exists():
            generate("--db", f"sqlite:///{source}")
        CPU.clear()
        times, n = bench_sqlite(work, source, config, args.runs)
        med = statistics.median(times)
        over = med > BUDGET_S
        results.append(
            f"sqlite      apply of {n} actions ({LEAVING} leaving): median {med:.2f} s, "
            f"min {min(times):.2f} s over {len(times)} runs (budget {BUDGET_S:.0f} s); "
            f"apply process CPU median {statistics.median(CPU):.2f} s" + ("  OVER BUDGET" if over else "")
        )
    if args.backend in ("postgresql", "both"):
        CPU.clear()
        times, n = bench_postgresql(work, config, args.runs)
        results.append(
            f"postgresql  apply of {n} actions ({LEAVING} leaving): median "
            f"{statistics.median(times):.2f} s, min {min(times):.2f} s over {len(times)} runs; "
            f"apply process CPU median {statistics.median(CPU):.2f} s (server time not included)"
        )
    print("\n".join(results))
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
