"""`reconciler show staff ID` / `show client ID` (SPEC §8.4) on SQLite and PostgreSQL:
ids and times only, never a client's name; the config's view with -c."""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine
from test_executor_support import EXAMPLES, invoke, names_in

AT = "2026-11-24T15:00:00Z"


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_show_staff_lists_clients_sessions_series_and_the_config_view(engine: Engine) -> None:
    r = invoke(_url(engine), "show", "staff", "egarcia", "--at", AT, "-c", str(EXAMPLES / "scheduled"))
    assert r.exit_code == 0, r.output
    assert "Active clients (6): C-1021, C-1022, C-1023, C-1024, C-1025, C-1026" in r.output
    assert "caseload: 6 of 40" in r.output
    assert "successor cdavis" in r.output and "deactivate_on 2026-12-31" in r.output
    assert "A-185      Mon 2026-11-30 13:00 EST  client C-1021 (telehealth)  series S-11" in r.output
    assert "S-11       FREQ=WEEKLY;BYDAY=MO  first Mon 2026-11-02 13:00 EST" in r.output
    assert not names_in(r.output)


def test_show_staff_json(engine: Engine) -> None:
    r = invoke(_url(engine), "show", "staff", "bsmith", "--at", AT, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["staff"]["id"] == "bsmith" and doc["staff"]["max_caseload"] == 40
    assert doc["clients"] == sorted(doc["clients"]) and "C-1001" in doc["clients"]
    assert all(s["start"] >= "2026-11-24" for s in doc["sessions"])
    assert {s["id"] for s in doc["series"]} and "config" not in doc
    assert not names_in(r.output)


def test_show_client_text_and_json(engine: Engine) -> None:
    r = invoke(_url(engine), "show", "client", "C-1021", "--at", AT, "-c", str(EXAMPLES / "clients"))
    assert r.exit_code == 0, r.output
    assert r.output.startswith("Client C-1021: active, primary egarcia")
    assert "Future sessions (5):" in r.output and "Active series (1):" in r.output
    r = invoke(_url(engine), "show", "client", "C-1002", "--at", AT, "--format", "json")
    doc = json.loads(r.output)
    assert doc["client"]["balance_cents"] == 12500 and doc["client"]["primary"] == "bsmith"
    assert not names_in(r.output)


def test_show_unknown_ids_are_one_clear_error(engine: Engine) -> None:
    for kind, ident in (("staff", "nobody"), ("client", "C-0")):
        r = invoke(_url(engine), "show", kind, ident)
        assert r.exit_code == 1
        assert f"{kind} {ident} is not in the database" in r.output
