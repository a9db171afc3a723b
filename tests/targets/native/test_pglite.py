"""The light read path on PostgreSQL (``targets.native.pglite``): ``plan`` on a
``postgresql+psycopg://`` URL reads through psycopg alone, connecting with the arguments
the engine would use, with the same rows, plan, transaction modes and messages as the
SQLAlchemy engine, and without importing SQLAlchemy."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from constants import ROOT
from dbhelpers import PRACTICE_YAML, engine_error, fresh_db, light_error, plan_in_a_fresh_process
from hypothesis import given, settings
from hypothesis import strategies as st
from pgserver import PgServer

from reconciler.app.workflow import compute_plan
from reconciler.config.loader import load_config
from reconciler.errors import DatabaseError
from reconciler.planner.scope import read_scope
from reconciler.targets.native import pglite
from reconciler.targets.native.engine import make_engine
from reconciler.targets.native.target import NativeTarget, PgLiteSession, error_line

AT = "2026-11-24T15:00:00Z"
SCENARIOS = ["offboarding", "clients", "scheduled", "handover", "ownership"]


class _Called(Exception):
    pass


def _engine_kwargs(url: str) -> dict[str, Any] | None:
    """The keyword arguments ``make_engine``'s engine gives ``psycopg.connect`` for ``url``,
    but its ``context``: the dialect's copy of psycopg's adapters, which loads inet and
    cidr values as text (no column of the schema is either). None when the engine
    refuses the URL before connecting."""
    seen: list[dict[str, Any]] = []

    def record(*args: Any, **kwargs: Any) -> Any:
        assert not args or args == ("",)
        seen.append(kwargs)
        raise psycopg.OperationalError("recorded")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(psycopg, "connect", record)
        patch.setattr(psycopg.Connection, "connect", record)
        try:
            make_engine(url)
        except DatabaseError as exc:
            if not seen:
                assert "database URL" in str(exc)
                return None
            assert "recorded" in str(exc)
    assert len(seen) == 1
    assert isinstance(seen[0].pop("context"), psycopg.adapt.AdaptersMap)
    return seen[0]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://u@localhost/practice",
        "postgresql+psycopg://u:secret@db.example.org:5433/practice",
        "postgresql+psycopg://u:p%40ss%2Fw%3Ard@localhost/practice",  # escapes are unquoted
        "postgresql+psycopg://reconciler@/practice?host=/var/run/postgresql",
        "postgresql+psycopg:///practice?host=/tmp/sock&application_name=reconciler",
        "postgresql+psycopg://u@db/practice?sslmode=require&connect_timeout=3",
        "postgresql+psycopg://u@db/my%20practice",
        "postgresql+psycopg://u:@db/practice",  # an empty password is no password
        "postgresql+psycopg://@db/practice",
        "postgresql+psycopg://db:5432/practice?options=-c%20search_path%3Dclinic",
        "postgresql+psycopg://u@db:0/practice",  # port 0 is no port
    ],
)
def test_the_light_path_connects_as_the_engine_would(url: str) -> None:
    assert pglite.connect_kwargs(url) == _engine_kwargs(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@localhost/practice",  # SQLAlchemy's default driver: psycopg2
        "postgresql+psycopg2://u@localhost/practice",
        "postgresql+asyncpg://u@localhost/practice",
        "sqlite:///practice.db",
        "postgresql+psycopg://u@localhost",  # no database part
        "postgresql+psycopg://u@[::1]:5432/practice",  # an IPv6 literal
        "postgresql+psycopg://u@h1,h2/practice",
        "postgresql+psycopg://u@db/practice?host=h1,h2",  # a list of hosts: the dialect splits it
        "postgresql+psycopg://u@db/practice?host=h1:5433",
        "postgresql+psycopg://u@db/practice?host=/tmp",  # a host twice
        "postgresql+psycopg://u@/practice?host=/a&host=/b",
        "postgresql+psycopg://u@db/practice?sslmode=",
        "postgresql+psycopg://u@db/practice?client_encoding=utf8",  # not a libpq parameter passed through
        "postgresql+psycopg://u@db/practice?plugin=x",
        "postgresql+psycopg://u@/practice?host=/tmp&port=5433",  # the dialect reads a port list
        "postgresql+psycopg://u:p@ss@db/practice",
        "postgresql+psycopg://u@db/practice#fragment",
        "postgresql+psycopg://u@db/prac/tice",
        # SQLAlchemy's password runs to the last "@": this is user "reconciler@db.internal" on host "cron"
        "postgresql+psycopg://reconciler@db.internal:5432/practice?application_name=reconciler@cron",
        "postgresql+psycopg://u@db/practice?sslmode=require\n",  # its query stops at a newline
        "postgresql+psycopg://u\n@db/practice",
    ],
)
def test_anything_else_takes_the_engine_path(url: str) -> None:
    assert pglite.connect_kwargs(url) is None


_PART = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    user=_PART,
    password=st.none() | _PART,
    host=st.sampled_from(["", "localhost", "db.example.org", "10.0.0.7", "pg-1"]),
    port=st.none() | st.integers(1, 65535),
    dbname=_PART,
    query=st.dictionaries(
        st.sampled_from(sorted(pglite.PARAMETERS - {"host"})), st.text("abc=-_ /%:", min_size=1, max_size=6), max_size=3
    ),
)
def test_any_url_it_takes_connects_as_the_engine_would(
    user: str,
    password: str | None,
    host: str,
    port: int | None,
    dbname: str,
    query: dict[str, str],
) -> None:
    auth = quote(user, safe="") + ("" if password is None else ":" + quote(password, safe="")) + "@"
    url = f"postgresql+psycopg://{auth}{host}{'' if port is None else f':{port}'}/{quote(dbname, safe='')}"
    if query:
        url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    light = pglite.connect_kwargs(url)
    assert light is not None, url
    assert light == _engine_kwargs(url)


_RAW = st.text(st.sampled_from("@:/?#%+[]=&\n ,.-_0aZé"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    head=st.sampled_from(["postgresql+psycopg://", "postgresql+psycopg://u@db", "postgresql+psycopg:///"]), tail=_RAW
)
def test_any_url_reads_as_the_engine_reads_it_or_goes_to_the_engine(head: str, tail: str) -> None:
    """Raw text, escapes and separators anywhere: whatever the light path takes, it
    takes with the engine's arguments."""
    url = head + tail
    light = pglite.connect_kwargs(url)
    assert light is None or light == _engine_kwargs(url), url


# ---------------------------------------------------------------- against a server


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    return pg_server.create_database()


def test_the_light_path_plans_exactly_what_the_engine_plans(pg_url: str) -> None:
    import datetime as dt

    engine = fresh_db(pg_url, PRACTICE_YAML)
    light = NativeTarget.open(pg_url)
    assert "engine" not in light.__dict__ and light.backend == "postgresql"
    now = dt.datetime(2026, 11, 24, 18, 30, tzinfo=dt.timezone.utc)
    for scenario in SCENARIOS:
        desired = load_config(ROOT / "examples" / scenario)
        by_engine = compute_plan(NativeTarget(engine), desired, at_text=AT, now=now, allow_mass_change=True)
        by_light = compute_plan(light, desired, at_text=AT, now=now, allow_mass_change=True)
        assert by_light.dumps() == by_engine.dumps(), scenario
        assert by_light.extra.get("db_id")  # read from reconciler_meta without SQLAlchemy
    assert "engine" not in light.__dict__  # planning needed no SQLAlchemy
    with light.reading(consistent=True) as light_session, NativeTarget(engine).reading() as engine_session:
        practice, staff = light_session.read_base()
        assert (practice, staff) == engine_session.read_base()
        scope = read_scope(desired, practice, staff, dt.datetime.fromisoformat(AT.replace("Z", "+00:00")))
        assert light_session.read_scoped(scope) == engine_session.read_scoped(scope)
    engine.dispose()


def _elsewhere(url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Another client runs ``sql`` on ``url`` (autocommit)."""
    kwargs = pglite.connect_kwargs(url)
    assert kwargs is not None
    with psycopg.connect(**kwargs, autocommit=True) as other:
        other.execute(sql, params)


def _bump(url: str) -> None:
    """Another client commits a change to jdoe's row."""
    _elsewhere(url, "UPDATE staff SET max_caseload = coalesce(max_caseload, 0) + 1 WHERE id = 'jdoe'")


@pytest.mark.parametrize("consistent", [True, False])
def test_a_read_session_reads_as_the_engines_do(pg_url: str, consistent: bool) -> None:
    """Consistent: REPEATABLE READ, every read sees the first one's snapshot; else the
    server's READ COMMITTED, each statement sees what is committed. The same for both paths."""
    fresh_db(pg_url, PRACTICE_YAML).dispose()
    seen = {}
    for target in (NativeTarget.open(pg_url), NativeTarget(make_engine(pg_url))):
        with target.reading(consistent=consistent) as session:
            before = session.read_base()[1]["jdoe"]
            _bump(pg_url)
            seen[type(session).__name__] = session.read_base()[1]["jdoe"] == before
        target.dispose()
    assert seen == {"PgLiteSession": consistent, "NativeSession": consistent}


def test_a_light_session_lends_its_transaction_to_sqlalchemy_reads(pg_url: str) -> None:
    """Reads the planner does not make (an export, the deletion actor) run on a
    SQLAlchemy connection over the same psycopg connection: the same snapshot, even
    when SQLAlchemy's first use of it comes before any read."""
    fresh_db(pg_url, PRACTICE_YAML).dispose()
    target = NativeTarget.open(pg_url)
    with target.reading(consistent=True) as session:
        assert isinstance(session, PgLiteSession)
        before = session.staff_access("jdoe")
        assert before is not None
        _bump(pg_url)
        _elsewhere(pg_url, "UPDATE staff SET active = false WHERE id = 'jdoe'")
        assert session.staff_access("jdoe") == before  # still the session's snapshot
        assert session.read_base()[1]["jdoe"].active
        assert session.export_data("bsmith", client=False).clients
        assert not session.audit_has_plan("plan-none")
    with target.reading() as session:
        after = session.staff_access("jdoe")
        assert after is not None and not after.active
    assert "engine" not in target.__dict__
    target.dispose()


def test_the_light_path_says_what_the_engine_says(pg_server: PgServer, tmp_path: Path) -> None:
    """Each way a database can be unusable, in the engine's exact words."""
    empty = pg_server.create_database()
    old = pg_server.create_database()
    fresh_db(old).dispose()
    _elsewhere(old, "UPDATE alembic_version SET version_num = '0003'")
    secret = f"postgresql+psycopg://postgres:hunter2@/t_missing_db?host={pg_server.sock}"
    expected = {
        f"postgresql+psycopg://postgres@/postgres?host={tmp_path}": "cannot connect to database",
        secret: 'database "t_missing_db" does not exist',
        empty: "not initialised: run `reconciler db init` (missing tables: ",
        old: "schema is at revision 0003, this version needs",
    }
    for url, words in expected.items():
        light = light_error(url)
        assert light == engine_error(url)
        assert words in light
    assert "hunter2" not in light_error(secret) and "***" in light_error(secret)


def test_a_dropped_connection_ends_the_session_with_the_servers_words(pg_url: str) -> None:
    """The server ends the session's backend: the read fails with what the server said,
    not with the error of rolling back a connection that is gone."""
    fresh_db(pg_url, PRACTICE_YAML).dispose()
    target = NativeTarget.open(pg_url)
    with pytest.raises(psycopg.OperationalError) as info, target.reading(consistent=True) as session:
        assert isinstance(session, PgLiteSession)
        session.read_base()
        _elsewhere(pg_url, "SELECT pg_terminate_backend(%s)", (session.raw.info.backend_pid,))
        session.read_base()
    assert "terminating connection" in str(info.value) or "server closed the connection" in str(info.value)
    assert "the connection is closed" not in str(info.value)


def test_a_psycopg_error_is_one_line() -> None:
    assert error_line(psycopg.OperationalError("server closed the connection\nDETAIL: x")) == (
        "server closed the connection"
    )


def test_plan_on_postgresql_never_imports_sqlalchemy(pg_url: str) -> None:
    fresh_db(pg_url, PRACTICE_YAML).dispose()
    out, loaded = plan_in_a_fresh_process(pg_url, AT)
    assert "staff.deactivate" in out  # the plan was made and printed
    assert loaded == []
