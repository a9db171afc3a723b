"""Time a whole-process ``reconciler db load`` of a large JSON snapshot.

    python bench/bench_load.py [--snapshot FILE] [--staff 2000 --clients 200000 --appointments 2000000]
                               [--backend sqlite --backend postgresql]

Generates the snapshot with ``bench/generate.py`` if FILE does not exist (seed 1),
then for each backend: a fresh database, ``reconciler db init``, and a timed
``reconciler db load FILE`` in its own process (what a user waits for). PostgreSQL
runs on a throwaway server started with ``tests/pgserver.py``. Prints seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
RECONCILER = [sys.executable, "-m", "reconciler.cli"]


def run(args: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(RECONCILER + args, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"reconciler {' '.join(args)} failed:\n{proc.stderr}")
    return elapsed


def bench(url: str, snapshot: Path, label: str) -> None:
    run(["db", "init", "--db", url])
    seconds = run(["db", "load", str(snapshot), "--db", url])
    print(f"{label:<12} db load {snapshot.name}: {seconds:7.1f} s", flush=True)


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
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), "--seed", "1",
                        "--staff", str(args.staff), "--clients", str(args.clients),
                        "--appointments", str(args.appointments), "--snapshot", str(args.snapshot)], check=True)
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
