"""Generate ``schemas/config.schema.json`` from :class:`reconciler.model.schema.ConfigFile`.

The pydantic models are the single source; this file is generated and a test
(``tests/config/test_schema_sync.py``) fails when it is stale. Regenerate with::

    python -m reconciler.config.schema_gen

Editors pick the schema up through a modeline at the top of a config file::

    # yaml-language-server: $schema=../schemas/config.schema.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.model.schema import ConfigFile
from reconciler.resources import data_path

SCHEMA_PATH = data_path("schemas", "config.schema.json")
SCHEMA_ID = "urn:reconciler:schema:config:v1"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one config file."""
    schema = ConfigFile.model_json_schema(mode="validation")
    schema["$schema"] = DRAFT
    schema["$id"] = SCHEMA_ID
    schema["title"] = "reconciler config file"
    schema["description"] = (
        "One YAML file of a reconciler config directory: the desired roster of a practice. "
        "Files are merged; each holds `version: 1` and some of practice, staff, clients, policies."
    )
    return schema


def render_schema() -> str:
    """The schema file's exact text: sorted keys, 2-space indent, final newline."""
    return json.dumps(config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(path: Path = SCHEMA_PATH) -> None:
    """Write the schema file (only when its content changed)."""
    text = render_schema()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        print(f"{path} is up to date")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
