"""Where the data that ships with reconciler lives: ``policies/``, ``schemas/``, ``examples/``.

The top-level folders of the repository are the source of truth (SPEC §2). A wheel
carries copies of them in ``reconciler/_data/`` (``setup.py`` copies them at build
time), read here through :mod:`importlib.resources`. A source checkout or an editable
install has no ``_data/`` and falls back to the repository's top level. This is the
only module that knows either location.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DATA_DIRS = ("policies", "schemas", "examples")


def checkout_root() -> Path | None:
    """The repository top level when running from a source checkout, else None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "policies").is_dir() and (root / "pyproject.toml").is_file() else None


def data_root() -> Path:
    """The directory holding ``policies/``, ``schemas/`` and ``examples/``."""
    packaged = files("reconciler").joinpath("_data")
    if packaged.is_dir():
        return Path(str(packaged))
    root = checkout_root()
    if root is None:  # pragma: no cover - a broken install
        raise FileNotFoundError("reconciler's data files (policies/, schemas/, examples/) are not installed")
    return root


def data_path(*parts: str) -> Path:
    """A file or folder below the data root, e.g. ``data_path("policies")``."""
    return data_root().joinpath(*parts)
