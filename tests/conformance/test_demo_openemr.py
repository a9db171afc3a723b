"""`reconciler demo --target openemr --db URL` against an OpenEMR database the tests
create (issue 9, item 6): the sample practice is seeded into OpenEMR's own tables
through the target and the five steps complete; no client name is printed; OpenEMR's
table definitions are unchanged; a database that already holds a practice is refused."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner
from openemr import fixture as fx
from sqlalchemy.pool import NullPool

from reconciler.cli import main

from .harnesses import OpenEMRHarness

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _client_names() -> set[str]:
    import yaml

    data = yaml.safe_load((EXAMPLES / "practice.yaml").read_text())
    return {c["first_name"] for c in data["clients"]} | {c["last_name"] for c in data["clients"]}


def _openemr_db(server) -> str:  # type: ignore[no-untyped-def]
    url = server.create_database()
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        fx.create_tables(conn)
    engine.dispose()
    return url


def test_demo_runs_on_an_openemr_database(mariadb_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = _openemr_db(mariadb_server)
    harness = OpenEMRHarness(lambda: url)
    before = harness.schema_fingerprint(url)
    res = CliRunner(env={"RECONCILER_TARGET": None, "RECONCILER_DB": None}).invoke(
        main, ["--target", "openemr", "demo", "--db", url, "--dir", str(tmp_path / "demo")], catch_exceptions=False
    )
    out = res.stdout + res.stderr
    assert res.exit_code == 0, out
    for step in range(1, 6):
        assert f"Step {step}/5" in out
    assert "staff.deactivate" in out and "bsmith" in out
    assert "No changes. The practice matches the configuration." in out  # step 4: converged
    assert "the openemr database" in out and "--target openemr" in out
    assert "password" not in out and url not in out  # the URL's password is never printed
    assert not {n for n in _client_names() if n in out}
    facts = harness.facts(url)
    assert facts.staff["bsmith"] is False and len(facts.clients) == 30
    assert harness.schema_fingerprint(url) == before
    # Run again: the database now holds a practice, which the demo never seeds into.
    again = CliRunner().invoke(
        main, ["--target", "openemr", "demo", "--db", url, "--dir", str(tmp_path / "demo")], catch_exceptions=False
    )
    assert again.exit_code == 1 and "already holds" in again.stderr and "Traceback" not in again.stderr
    assert harness.facts(url) == facts


def test_demo_on_openemr_needs_a_database(tmp_path: Path) -> None:
    res = CliRunner(env={"RECONCILER_DB": None}).invoke(
        main, ["--target", "openemr", "demo", "--dir", str(tmp_path / "d")]
    )
    assert res.exit_code == 1 and "needs --db" in res.stderr
    assert not (tmp_path / "d").exists()
