"""Fuzzed inputs (issue 11, item 8): structure-aware hypothesis strategies for config
files, snapshots and saved plans, run through the real commands. Whatever the input:
never a traceback, exit 0 or 1, an error is a message naming the file, and no client
name (the database is seeded with recognisable names) ever appears in the output.
Bounded: few examples each, no shrinking phase."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from dbhelpers import MATCHING_CONFIG, PRACTICE_YAML, fresh_db
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_executor_support import AT, CLIENT_NAMES, names_in, practice_db

from reconciler.cli import main

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

# Values a field may get: right and wrong types, edges, huge numbers, control characters.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "2026-12-31",
            "0001-01-01",
            "9999-12-31T23:59:59Z",
            "bsmith",
            "C-1001",
            "ghost",
            "inactive",
            "deleted",
            "standard",
            "\x1b",
            "\x00",
            "America/New_York",
            "Mars/Base",
            "1e32",
            "-1",
            "yes",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=6), inner, max_size=3),
    ),
    max_leaves=6,
)


def mutate(draw: st.DrawFn, doc: Any, depth: int = 0) -> Any:
    """Replace, drop or add a few keys/items of a valid document."""
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            choice = draw(st.integers(0, 9))
            if choice == 0:
                continue  # drop the key
            out[k] = draw(values) if choice == 1 else mutate(draw, v, depth + 1)
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.sampled_from(["colour", "id", "version", "status", "primary", "max_caseload"]))] = draw(values)
        return out
    if isinstance(doc, list):
        items = [mutate(draw, x, depth + 1) for x in doc[: draw(st.integers(0, len(doc)))]]
        if items and draw(st.booleans()):
            items.append(items[0])  # a duplicate id
        return items
    return draw(values) if draw(st.integers(0, 5)) == 0 else doc


CONFIG = yaml.safe_load(
    MATCHING_CONFIG + "clients:\n  - {id: C-1001, primary: jdoe}\n  - {id: C-1002, status: inactive}\n"
    "policies:\n  - {name: gentle, future_sessions: transfer, export: csv}\n"
)
SNAPSHOT = yaml.safe_load(PRACTICE_YAML.read_text())
SNAPSHOT_SMALL = {
    **SNAPSHOT,
    "clients": SNAPSHOT["clients"][:4],
    "series": SNAPSHOT["series"][:2],
    "appointments": SNAPSHOT["appointments"][:3],
}


@st.composite
def documents(draw: st.DrawFn, base: Any) -> str:
    doc = mutate(draw, base)
    text = draw(st.sampled_from(["yaml", "json"])) == "json"
    try:
        out = json.dumps(doc, default=str) if text else yaml.safe_dump(doc, allow_unicode=True)
    except (ValueError, TypeError):
        out = str(doc)
    if draw(st.integers(0, 7)) == 0:  # a byte-level cut or splice
        cut = draw(st.integers(0, len(out)))
        out = out[:cut] + draw(st.sampled_from(["", "\x1b", "\x00", ": [", "*a", "&a x", "!!python/object:os.system"]))
    return out


def check(result: Any, where: str) -> None:
    out = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1), (result.exit_code, out)
    assert "Traceback" not in out and "this is a bug" not in out, out
    assert names_in(out) == [], out
    if result.exit_code == 1:
        assert result.stderr.strip(), "an error says something"
        assert where in result.stderr, result.stderr


def test_fuzzed_config_files() -> None:
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'p.db'}"
    practice_db(url).dispose()

    @FUZZ
    @given(text=documents(CONFIG))
    def run(text: str) -> None:
        cfg = tmp / "practice"
        shutil.rmtree(cfg, ignore_errors=True)
        cfg.mkdir()
        (cfg / "practice.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        runner = CliRunner(env={"RECONCILER_DB": None})
        check(runner.invoke(main, ["validate", "-c", str(cfg)]), "practice.yaml")
        result = runner.invoke(main, ["plan", "-c", str(cfg), "--db", url, "--at", AT])
        assert result.exit_code in (0, 1) and "Traceback" not in result.output and names_in(result.output) == []

    try:
        run()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_fuzzed_snapshots() -> None:
    tmp = Path(tempfile.mkdtemp())
    empty = tmp / "empty.db"
    fresh_db(f"sqlite:///{empty}").dispose()

    @FUZZ
    @given(text=documents(SNAPSHOT_SMALL), suffix=st.sampled_from([".yaml", ".json"]))
    def run(text: str, suffix: str) -> None:
        snap = tmp / f"snap{suffix}"
        snap.write_text(text, encoding="utf-8", errors="surrogatepass")
        shutil.copyfile(empty, tmp / "p.db")
        result = CliRunner().invoke(main, ["db", "load", str(snap), "--db", f"sqlite:///{tmp / 'p.db'}"])
        check(result, str(snap))

    try:
        run()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_fuzzed_saved_plans() -> None:
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'base.db'}"
    engine = practice_db(url)
    cfg = tmp / "practice"
    cfg.mkdir()
    (cfg / "p.yaml").write_text(
        MATCHING_CONFIG.replace(
            "{id: bsmith, name: Beth Smith, role: clinician}",
            "{id: bsmith, name: Beth Smith, role: clinician, active: false, successor: jdoe}",
        )
    )
    runner = CliRunner(env={"RECONCILER_ACTOR": "alee"})
    assert (
        runner.invoke(
            main,
            [
                "plan",
                "-c",
                str(cfg),
                "--db",
                url,
                "--at",
                AT,
                "--out",
                str(tmp / "plan.json"),
            ],
        ).exit_code
        == 0
    )
    base = json.loads((tmp / "plan.json").read_text())
    engine.dispose()

    @FUZZ
    @given(text=documents(base))
    def run(text: str) -> None:
        plan = tmp / "fuzzed.json"
        plan.write_text(text, encoding="utf-8", errors="surrogatepass")
        shutil.copyfile(tmp / "base.db", tmp / "p.db")
        result = runner.invoke(
            main,
            [
                "apply",
                str(plan),
                "--db",
                f"sqlite:///{tmp / 'p.db'}",
                "--auto-approve",
                "--export-dir",
                str(tmp / "exports"),
            ],
        )
        shutil.rmtree(tmp / "exports", ignore_errors=True)
        check(result, "")

    try:
        run()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_names_are_recognisable() -> None:
    assert "Patel" in CLIENT_NAMES or CLIENT_NAMES  # the seeded names the checks look for
