"""Time a whole-process ``reconciler db load`` of a large JSON snapshot.

    python bench/bench_load.py [--snapshot FILE] [--staff 2000 --clients 200000 --appointments 2000000]
                               [--backend sqlite --backend postgresql]

Generates the snapshot with ``bench/generate.py`` if FILE does not exist (seed 1),
then for each backend: a fresh database, ``reconciler db init``, and a timed
``reconciler db load FILE`` in its own process (what a user waits for). PostgreSQL
runs on a throwaway server started with ``tests/pgserver.py``. Prints wall-clock
seconds, the load process's CPU seconds and peak memory (max RSS), and the
machine's load average before and after (other work on the machine slows the
wall clock, not the CPU time). A large snapshot is inserted by a child process of
the load (``snapshot_stream._ChildLoader``): the CPU seconds are both processes'
(``wait4`` counts the reaped child), the peak memory is the larger of the two.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
RECONCILER = [sys.executable, "-m", "reconciler.cli"]


def run(args: list[str]) -> tuple[float, float, float]:
    """Run ``reconciler ARGS``: wall seconds, CPU seconds and peak RSS (MB) of that process."""
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(RECONCILER + args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True)
        # wait4 gives this child's own resource usage (RUSAGE_CHILDREN would mix in
        # earlier children: its max RSS is the largest of all of them).
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"reconciler {' '.join(args)} failed:\n{err.read()}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench(url: str, snapshot: Path, label: str) -> None:
    run(["db", "init", "--db", url])
    load_before = loadavg()
    seconds, cpu, rss = run(["db", "load", str(snapshot), "--db", url])
    print(
        f"{label:<12} db load {snapshot.name}: {seconds:7.1f} s wall, {cpu:6.1f} s CPU (both processes), "
        f"peak {rss:6.0f} MB (load average {load_before} -> {loadavg()})",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshot", type=Path, default=ROOT / "bench" / "out" / "practice-2m.json")
    ap.add_argument("--staff", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=200_000)
    ap.add_argument("--appointments", type=int, default=2_000_000)
    ap.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    if not args.snapshot.exists():
        args.snapshot.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "generate.py"),
                "--seed",
                "1",
                "--staff",
                str(args.staff),
                "--clients",
                str(args.clients),
                "--appointments",
                str(args.appointments),
                "--snapshot",
                str(args.snapshot),
            ],
            check=True,
        )
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        if "sqlite" in backends:
            bench(f"sqlite:///{Path(tmp) / 'bench.db'}", args.snapshot, "sqlite")
        if "postgresql" in backends:
            from pgserver import PgServer

            server = PgServer().start()
            try:
                bench(server.create_database(), args.snapshot, "postgresql")
            finally:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
