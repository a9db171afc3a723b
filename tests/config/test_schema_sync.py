"""schemas/config.schema.json is generated from the pydantic models and kept in sync."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from constants import CONFIG_EXAMPLE_DIRS, ROOT

from reconciler.config.loader import config_files, safe_load_marked
from reconciler.config.schema_gen import SCHEMA_PATH, config_schema, main, render_schema

# The files the loader reads from each example config directory (hidden CI files are not config).
EXAMPLE_FILES = sorted(path for d in CONFIG_EXAMPLE_DIRS for _, path in config_files(d))


def plain(value: Any) -> Any:
    """YAML data as JSON would hold it: dates (YAML loads them unquoted) become strings."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "schemas/config.schema.json is stale: run `python -m reconciler.config.schema_gen`"
    )


def test_schema_is_a_valid_draft_2020_12_schema_for_editors() -> None:
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] and schema["description"]
    assert schema["required"] == ["version"] and schema["additionalProperties"] is False


def test_main_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "schemas" / "config.schema.json"
    main(target)
    text = target.read_text(encoding="utf-8")
    assert text == render_schema() and text.endswith("}\n")
    assert list(json.loads(text)) == sorted(json.loads(text))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.relative_to(ROOT).as_posix() for p in EXAMPLE_FILES])
def test_example_files_match_the_schema(path: Path) -> None:
    data = plain(safe_load_marked(path.read_text(encoding="utf-8"), str(path)))
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))).validate(data)


@pytest.mark.parametrize(
    "data",
    [
        {"staff": []},
        {"version": 1, "staff": [{"id": "bsmith", "role": "clinican"}]},
        {"version": 1, "clients": [{"id": "C-1", "first_name": "Tom"}]},
        {"version": 1, "policies": [{"name": "p", "export": "pdf"}]},
    ],
    ids=["version missing", "unknown role", "client names are not allowed in git", "unknown export format"],
)
def test_schema_rejects_what_the_loader_rejects(data: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(config_schema())
    assert not validator.is_valid(data)
