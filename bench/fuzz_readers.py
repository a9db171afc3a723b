"""Byte-level fuzzing of the readers: the config loader, the snapshot reader and the
saved-plan reader get arbitrary bytes for a bounded time.

    .venv/bin/python bench/fuzz_readers.py --seconds 60            # all three readers
    .venv/bin/python bench/fuzz_readers.py --seconds 60 --target plan

With atheris installed (``requirements/fuzz.lock``: the test set plus atheris)
this is a coverage-guided libFuzzer run, seeded with the examples; without it,
hypothesis's byte strategies drive the same target for the same time. Either way the
property is: a reader returns a value or raises :class:`ReconcilerError` (the CLI turns
that into one located line, exit 1) whose message names the file and holds no client
name of the seed practice. Anything else is a crash: its input is written to
``bench/out/fuzz-crash-<target>-<n>`` and the script exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from reconciler.errors import ReconcilerError  # noqa: E402

SEED_SNAPSHOT = ROOT / "examples" / "practice.yaml"
NAMES = sorted(
    {c[k] for c in yaml.safe_load(SEED_SNAPSHOT.read_text())["clients"] for k in ("first_name", "last_name")}
)
WORK = Path(tempfile.mkdtemp(prefix="reconciler-fuzz-"))


def _config(data: bytes) -> None:
    from reconciler.config.loader import load_config

    cfg = WORK / "practice"
    cfg.mkdir(exist_ok=True)
    (cfg / "practice.yaml").write_bytes(data)
    _expect(lambda: load_config(cfg), str(cfg / "practice.yaml"))


def _snapshot(data: bytes) -> None:
    from reconciler.targets.native.snapshot import parse_snapshot

    for suffix in (".yaml", ".json"):
        path = WORK / f"snap{suffix}"
        path.write_bytes(data)
        _expect(lambda: parse_snapshot(path), str(path))


def _plan(data: bytes) -> None:
    from reconciler.app.workflow import load_plan

    path = WORK / "plan.json"
    path.write_bytes(data)
    _expect(lambda: load_plan(path), str(path))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "config": _config,
    "snapshot": _snapshot,
    "plan": _plan,
}


class Crash(Exception):
    pass


def _expect(call: Callable[[], object], file: str) -> None:
    try:
        call()
    except ReconcilerError as exc:
        message = str(exc)
        if file not in message and not any(file in str(p.location.file or "") for p in exc.problems):
            raise Crash(f"error does not name {file}: {message[:200]}") from None
        # The readers never echo a value holding a client name of the document they read.
        leaked = [n for n in NAMES if n in message]
        if leaked:
            raise Crash(f"client name(s) {leaked} in the message") from None
    except RecursionError:
        raise Crash("RecursionError") from None


def seeds(target: str) -> list[bytes]:
    if target == "config":
        return [p.read_bytes() for p in sorted((ROOT / "examples").glob("*/*.yaml"))]
    if target == "snapshot":
        return [SEED_SNAPSHOT.read_bytes()]
    return [
        b'{"format_version": 1, "as_of": "2026-11-24T15:00:00Z", "db_fingerprint": "sha256:0", '
        b'"config_digest": "sha256:0", "actions": [{"id": 1, "type": "staff.reactivate", "target": "x"}]}'
    ]


def _save(target: str, data: bytes, why: BaseException) -> Path:
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    n = len(list(out.glob(f"fuzz-crash-{target}-*")))
    path = out / f"fuzz-crash-{target}-{n}"
    path.write_bytes(data)
    print(
        f"CRASH in {target}: {type(why).__name__}: {why} (input saved to {path})",
        file=sys.stderr,
    )
    return path


def run_atheris(target: str, seconds: float) -> int:
    import atheris  # type: ignore[import-not-found]

    fn = TARGETS[target]
    corpus = WORK / f"corpus-{target}"
    corpus.mkdir()
    for i, seed in enumerate(seeds(target)):
        (corpus / f"seed{i}").write_bytes(seed)

    def one(data: bytes) -> None:
        try:
            fn(data)
        except Exception as exc:
            _save(target, data, exc)
            raise

    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={int(seconds)}",
            "-max_len=65536",
            "-rss_limit_mb=2048",
            str(corpus),
        ],
        one,
    )
    atheris.Fuzz()  # exits the process when the time is up (0) or on a crash (non-zero)
    return 0


def run_hypothesis(target: str, seconds: float) -> int:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    fn = TARGETS[target]
    base = seeds(target)
    deadline = time.monotonic() + seconds
    crashes: list[bytes] = []
    mutated = st.builds(
        lambda s, cut, junk: s[:cut] + junk + s[cut:],
        st.sampled_from(base),
        st.integers(0, max(len(b) for b in base)),
        st.binary(max_size=64),
    )

    @settings(
        max_examples=10**9,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )
    @given(data=st.one_of(st.binary(max_size=4096), mutated))
    def one(data: bytes) -> None:
        if time.monotonic() > deadline:
            raise _TimeUp
        try:
            fn(data)
        except Exception as exc:
            crashes.append(data)
            _save(target, data, exc)

    from hypothesis.reporting import with_reporter

    try:
        # The time limit ends the run by raising; hypothesis would report that as a
        # failure to reproduce. Crashes are reported by _save above.
        with with_reporter(lambda _message: None):
            one()
    except _TimeUp:
        pass
    return 1 if crashes else 0


class _TimeUp(BaseException):
    pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="time per target")
    ap.add_argument("--target", choices=sorted(TARGETS), action="append", help="default: all")
    ap.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    args = ap.parse_args()
    targets = args.target or sorted(TARGETS)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # type: ignore[import-not-found]  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    if engine == "atheris" and len(targets) > 1:
        # libFuzzer runs one target per process: run each in a child.
        import subprocess

        rc = 0
        for t in targets:
            rc |= subprocess.call(
                [
                    sys.executable,
                    __file__,
                    "--seconds",
                    str(args.seconds),
                    "--target",
                    t,
                    "--engine",
                    "atheris",
                ]
            )
        return rc
    rc = 0
    for t in targets:
        print(f"fuzzing {t} for {args.seconds:g} s with {engine}", file=sys.stderr)
        rc |= run_atheris(t, args.seconds) if engine == "atheris" else run_hypothesis(t, args.seconds)
    return rc


if __name__ == "__main__":
    os.environ.setdefault("RECONCILER_DB", "")
    sys.exit(main())
