"""The PostgreSQL test server really runs (a skip here would hide missing coverage)."""

import sqlalchemy as sa


def test_both_backends_answer(db_url: str, backend: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        version = conn.execute(
            sa.text("select sqlite_version()" if backend == "sqlite" else "show server_version")
        ).scalar()
    engine.dispose()
    assert version
    if backend == "postgresql":
        assert str(version).startswith("15")
