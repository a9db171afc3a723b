"""Benchmark the ``openemr`` target at the small size (issue 9): whole processes of
``reconciler --target openemr plan`` / ``apply`` against OpenEMR 7's own tables on a
throwaway MariaDB (``tests/mariadb_server.py``).

    python bench/bench_openemr.py [--runs 5] [--workdir /tmp/openemr-bench] [--keep] [--serve]

``--keep`` keeps the server's data directory under the workdir (``mariadb/``) after the
run and reuses the seeded database the next time (seeding takes 60-95 s);
``--serve`` (implies ``--keep``) seeds or reuses it, prints the URL and the ``clone``
command, and keeps the server up until interrupted, for profiling by hand.

The practice: ``bench/generate.py`` at 200 staff / 20,000 clients / 200,000
appointments (seed 1), as a JSON snapshot, seeded into an empty OpenEMR database with
``reconciler.targets.openemr.seed`` (rows as OpenEMR writes them, tables from
``tests/openemr/schema.sql``). OpenEMR keeps a recurring appointment as one row, so the
generator's series occurrences are not separate rows: the calendar holds the single
appointments plus one recurring row per series.

Scenarios and budgets (whole processes, wall median): plan with 20 clinicians leaving
under ``standard`` (2 s), the no-op plan of a config matching the database (1.5 s),
apply of the saved 20-leaver plan to a fresh copy of the database each run (5 s).
Exits 1 when a median is over budget.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
AT = "2026-11-24T15:00:00Z"
SIZE = ("200", "20000", "200000")
BUDGET = {"plan/leave20": 2.0, "plan/leave0": 1.5, "apply/leave20": 5.0}


def generate(workdir: Path) -> tuple[Path, Path, Path]:
    """The snapshot and the two configs (20 leaving, none), generated when missing."""
    snap, leave20, leave0 = workdir / "small.json", workdir / "leave20", workdir / "leave0"
    base = [sys.executable, str(ROOT / "bench" / "generate.py"), "--staff", SIZE[0], "--clients", SIZE[1]]
    base += ["--appointments", SIZE[2], "--seed", "1"]
    if not snap.exists():
        subprocess.run([*base, "--snapshot", str(snap)], check=True)
    if not leave20.exists():
        subprocess.run([*base, "--config-out", str(leave20), "--leaving", "20"], check=True)
    if not leave0.exists():
        subprocess.run([*base, "--config-out", str(leave0), "--leaving", "0"], check=True)
    return snap, leave20, leave0


def reconciler(url: str, *args: str) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run ``reconciler --target openemr ARGS`` as a whole process: (wall s, cpu s, result)."""
    env = {**os.environ, "RECONCILER_DB": url, "RECONCILER_ACTOR": "alee", "RECONCILER_TARGET": "openemr"}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"reconciler {' '.join(args)} failed:\n{proc.stderr}")
    return wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, proc


def clone(server: object, src: str, name: str) -> str:
    """A copy of database ``src`` (every table, rows included) as ``name``; its URL."""
    url: str = server.create_database(name)  # type: ignore[attr-defined]
    with server.root_connection() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(f"SHOW TABLES FROM `{src}`")
        for (table,) in cur.fetchall():
            cur.execute(f"CREATE TABLE `{name}`.`{table}` LIKE `{src}`.`{table}`")
            cur.execute(f"INSERT INTO `{name}`.`{table}` SELECT * FROM `{src}`.`{table}`")
        conn.commit()
    return url


def settle(server: object, timeout: float = 120.0) -> None:
    """Let the server write back what the copy left in its buffer pool (and the kernel its
    dirty pages) before a timed run: that write-back belongs to the copy, and running
    alongside the apply it was timed with it."""
    with server.root_connection() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
        (before,) = cur.fetchone()
        cur.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
                if int(cur.fetchone()[1]) == 0:
                    break
                time.sleep(0.2)
        finally:
            cur.execute(f"SET GLOBAL innodb_max_dirty_pages_pct = {float(before)}")
    os.sync()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/openemr-bench"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded server under the workdir")
    ap.add_argument("--serve", action="store_true", help="keep the seeded server up for profiling; implies --keep")
    ap.add_argument("--clone", metavar="NAME", help="copy the served database to NAME (fresh), print its URL, exit")
    args = ap.parse_args(argv)
    args.keep |= args.serve
    args.workdir.mkdir(parents=True, exist_ok=True)
    snap, leave20, leave0 = generate(args.workdir)

    import sqlalchemy as sa
    from mariadb_server import MariaDbServer
    from openemr import fixture as fx
    from sqlalchemy.pool import NullPool

    from reconciler.targets.openemr.target import OpenEMRTarget

    class BenchServer(MariaDbServer):
        """The tests' throwaway server with InnoDB's buffer pool at 256 MB (the tests use 32 MB;
        MariaDB's default is 128 MB and an OpenEMR host typically gives it more): the
        calendar table alone is ~100 MB at this size."""

        def _server_args(self) -> list[str]:
            return [*super()._server_args(), "--innodb-buffer-pool-size=256M"]

    class KeptServer(BenchServer):
        """The same server with its root under the workdir, kept after ``stop`` so that the
        next ``--keep`` run starts it on the seeded datadir instead of seeding again."""

        def __init__(self, root: Path) -> None:
            super().__init__()
            os.rmdir(self.root)  # the temp dir the base made; ours is under the workdir
            self.root, self.data = root, root / "data"
            self.sock, self.pid_file, self.log_file = root / "mysqld.sock", root / "mysqld.pid", root / "server.log"
            self.seeded = root / "seeded"

        def start(self, timeout: float = 60.0) -> BenchServer:
            if not self.seeded.exists():
                shutil.rmtree(self.root, ignore_errors=True)
                self.root.mkdir(parents=True)
                return super().start(timeout)
            self.install_bin = Path("/bin/true")  # the datadir is installed already
            return super().start(timeout)

        def stop(self) -> None:
            rmtree, shutil.rmtree = shutil.rmtree, lambda *a, **k: None  # type: ignore[assignment]
            try:
                super().stop()
            finally:
                shutil.rmtree = rmtree  # type: ignore[assignment]

    if args.clone:  # against a --serve run's server: a fresh copy to apply to
        kept = KeptServer(args.workdir / "mariadb")
        with kept.root_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{args.clone}`")
            cur.execute("DROP USER IF EXISTS %s@'localhost'", (args.clone,))
        print(clone(kept, "oe_template", args.clone))
        return 0
    server = KeptServer(args.workdir / "mariadb") if args.keep else BenchServer()
    reuse = args.keep and server.seeded.exists()  # type: ignore[attr-defined]
    server.start()
    ok = True
    try:
        if reuse:
            url = server.url("oe_template")
            with server.root_connection() as conn, conn.cursor() as cur:
                cur.execute("SHOW DATABASES LIKE 'oe\\_apply\\_%'")
                for (name,) in cur.fetchall():
                    cur.execute(f"DROP DATABASE `{name}`")
                    cur.execute("DROP USER IF EXISTS %s@'localhost'", (name,))
            engine = sa.create_engine(url, poolclass=NullPool)
            print(f"reusing the seeded database in {server.root}")
        else:
            url = server.create_database("oe_template")
            engine = sa.create_engine(url, poolclass=NullPool)
            with engine.begin() as conn:
                fx.create_tables(conn)
            target = OpenEMRTarget(engine)
            target.init_schema()
            t0 = time.perf_counter()
            counts = target.seed_snapshot(snap)
            print(f"seeded OpenEMR in {time.perf_counter() - t0:.1f} s: {counts}")
            if args.keep:
                server.seeded.touch()  # type: ignore[attr-defined]
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT pc_recurrtype > 0, COUNT(*) FROM openemr_postcalendar_events GROUP BY 1")
            )
            print("calendar rows (recurring?, count):", [tuple(r) for r in rows])
        engine.dispose()
        if args.serve:
            print(f"RECONCILER_DB='{url}'")
            print(f"copies: python {Path(__file__).name} --workdir {args.workdir} --clone NAME (while serving)")
            print("serving; interrupt (or SIGTERM) to stop", flush=True)
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return 0

        # Bytecode for the package, as ``pip install`` writes it for a deployed reconciler: with
        # PYTHONDONTWRITEBYTECODE set (this machine's environment sets it) an editable
        # checkout has none, and every timed process compiled ~50 modules (~0.3 s cpu).
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "reconciler")], check=True)
        results: dict[str, tuple[float, float, float, int]] = {}
        for name, cfg in (("plan/leave20", leave20), ("plan/leave0", leave0)):
            walls, cpus, n = [], [], 0
            for _ in range(args.runs):
                wall, cpu, proc = reconciler(
                    url, "plan", "-c", str(cfg), "--at", AT, "--format", "json", "--allow-mass-change"
                )
                walls.append(wall)
                cpus.append(cpu)
                n = len(json.loads(proc.stdout)["actions"])
            results[name] = (statistics.median(walls), min(walls), statistics.median(cpus), n)

        plan_file = args.workdir / "leave20.plan.json"
        reconciler(url, "plan", "-c", str(leave20), "--at", AT, "--allow-mass-change", "--out", str(plan_file))
        n_actions = len(json.loads(plan_file.read_text())["actions"])
        walls, cpus = [], []
        for i in range(args.runs):
            copy = clone(server, "oe_template", f"oe_apply_{i}")
            settle(server)
            wall, cpu, _ = reconciler(
                copy,
                "apply",
                str(plan_file),
                "-c",
                str(leave20),
                "--at",
                AT,
                "--allow-time-travel",
                "--auto-approve",
                "--export-dir",
                str(args.workdir / f"exports-{i}"),
            )
            walls.append(wall)
            cpus.append(cpu)
            _, _, again = reconciler(copy, "plan", "-c", str(leave20), "--at", AT, "--format", "json")
            if json.loads(again.stdout)["actions"]:
                raise SystemExit("the plan after apply is not empty")
        results["apply/leave20"] = (statistics.median(walls), min(walls), statistics.median(cpus), n_actions)
    finally:
        server.stop()

    print(f"\n{'scenario':<16}{'median s':>10}{'min s':>8}{'cpu s':>8}{'actions':>9}  budget")
    for name, (med, best, cpu, n) in results.items():
        budget = BUDGET[name]
        verdict = "ok" if med <= budget else "OVER"
        ok &= verdict == "ok"
        print(f"{name:<16}{med:>10.3f}{best:>8.3f}{cpu:>8.3f}{n:>9}  {budget:.1f} s {verdict}")
    print(f"load average: {os.getloadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
