"""Engine set-up, URL resolution, migrations and the schema check (SPEC §1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from dbhelpers import fresh_db
from sqlalchemy import inspect, text

from reconciler.cli import main
from reconciler.errors import DatabaseError
from reconciler.targets.native.engine import DEFAULT_URL, make_engine, require_schema, resolve_url, safe_url
from reconciler.targets.native.migrate import head_revision, init_db, upgrade_db
from reconciler.targets.native.schema import metadata


# ---------------------------------------------------------------- URL resolution
@pytest.mark.parametrize(
    "opt, env, want",
    [
        ("sqlite:///a.db", "sqlite:///b.db", "sqlite:///a.db"),
        (None, "sqlite:///b.db", "sqlite:///b.db"),
        (None, None, DEFAULT_URL),
        (None, "  ", DEFAULT_URL),
    ],
    ids=["flag-wins", "env-when-no-flag", "default", "blank-env-is-unset"],
)
def test_resolve_url_order(monkeypatch: pytest.MonkeyPatch, opt: str | None, env: str | None, want: str) -> None:
    if env is None:
        monkeypatch.delenv("RECONCILER_DB", raising=False)
    else:
        monkeypatch.setenv("RECONCILER_DB", env)
    assert resolve_url(opt) == want


def test_default_url_is_practice_db_in_current_directory() -> None:
    assert DEFAULT_URL == "sqlite:///practice.db"


@pytest.mark.parametrize(
    "url",
    ["not a url", "nosuchdb://x/y", "postgresql+psycopg://bob:s3cret@127.0.0.1:1/nowhere"],
    ids=["malformed", "unknown-backend", "unreachable-server"],
)
def test_bad_url_is_a_database_error_without_password(url: str) -> None:
    with pytest.raises(DatabaseError) as err:
        make_engine(url)
    assert "s3cret" not in str(err.value)
    assert ("database" in str(err.value)) and (safe_url(url).split("@")[-1] in str(err.value))


def test_safe_url_hides_password() -> None:
    assert safe_url("postgresql+psycopg://bob:s3cret@db/x") == "postgresql+psycopg://bob:***@db/x"


def test_sqlite_engine_enforces_foreign_keys_and_uses_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) > 0


def test_sqlite_transaction_starts_at_begin(tmp_path: Path) -> None:
    """Reads made before the first write belong to the transaction (not pysqlite's legacy mode)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
        assert conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]


# ---------------------------------------------------------------- migrations
def test_migrations_produce_exactly_the_schema_models(db_url: str) -> None:
    engine = fresh_db(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_init_records_head_revision(db_url: str) -> None:
    engine = fresh_db(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()


def test_init_twice_says_already_initialised(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = fresh_db(db_url)
    capsys.readouterr()
    init_db(engine)
    assert "already initialised" in capsys.readouterr().err


def test_upgrade_returns_head_and_is_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    assert upgrade_db(engine) == head_revision()
    assert upgrade_db(engine) == head_revision()


def test_init_refuses_unversioned_tables_of_the_same_name(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE staff (id VARCHAR(64) PRIMARY KEY)"))
    with pytest.raises(DatabaseError, match="no schema version"):
        init_db(engine)
    assert "alembic_version" not in inspect(engine).get_table_names()


# ---------------------------------------------------------------- require_schema
def test_require_schema_on_empty_database_says_run_init(db_url: str) -> None:
    with pytest.raises(DatabaseError, match=r"not initialised: run `reconciler db init`"):
        require_schema(make_engine(db_url))


def test_require_schema_passes_at_head(db_url: str) -> None:
    require_schema(fresh_db(db_url))


def test_require_schema_on_old_revision_says_run_upgrade(db_url: str) -> None:
    engine = fresh_db(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(DatabaseError, match=r"run `reconciler db upgrade`"):
        require_schema(engine)


def test_upgrade_from_the_first_revision_keeps_the_data_and_reaches_the_models(db_url: str) -> None:
    """A practice at revision 0001 (with data) upgrades in place to head."""
    from alembic import command
    from dbhelpers import PRACTICE_YAML

    from reconciler.targets.native.migrate import alembic_config
    from reconciler.targets.native.snapshot import dump_snapshot

    engine = fresh_db(db_url, PRACTICE_YAML)
    before = dump_snapshot(engine, "yaml")
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    with pytest.raises(DatabaseError, match=r"run `reconciler db upgrade`"):
        require_schema(engine)
    assert upgrade_db(engine) == head_revision()
    require_schema(engine)
    assert dump_snapshot(engine, "yaml") == before
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()


# ---------------------------------------------------------------- CLI
def test_cli_db_init_then_init_again(db_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["db", "init", "--db", db_url])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["db", "init", "--db", db_url])
    assert second.exit_code == 0
    assert "already initialised" in second.stderr


def test_cli_db_upgrade_prints_revision(db_url: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0
    assert f"revision {head_revision()}" in result.stdout


def test_cli_bad_url_exits_1_with_message_and_no_traceback() -> None:
    result = CliRunner().invoke(main, ["db", "init", "--db", "postgresql+psycopg://bob:s3cret@127.0.0.1:1/x"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot connect to database")
    assert "Traceback" not in result.output and "s3cret" not in result.output
