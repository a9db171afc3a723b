"""Desired state from files: safe YAML with line marks, merging, built-in policies, the JSON Schema.

:func:`is_config_path` is the one answer to "is this a config file?", shared by the
loader and ``watch``.
"""

from __future__ import annotations

from pathlib import PurePath

CONFIG_SUFFIXES = (".yaml", ".yml")


def is_config_path(rel: PurePath) -> bool:
    """A file the loader reads, by its path relative to the config directory:
    ``*.yaml`` / ``*.yml`` in any letter case, no hidden component (``.git/``, an
    editor's ``.x.yaml.swp`` or ``.#x.yaml``)."""
    return rel.suffix.lower() in CONFIG_SUFFIXES and not any(part.startswith(".") for part in rel.parts)
