"""The one place for the constants tests share: the checkout root and the plan time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
#: Example directories that are operations material, not config directories.
NOT_CONFIG_EXAMPLES = frozenset({"monitoring", "systemd"})
#: Every example config directory (what validate, plan and the schema are tested on).
CONFIG_EXAMPLE_DIRS = tuple(
    sorted(p for p in EXAMPLES_DIR.iterdir() if p.is_dir() and p.name not in NOT_CONFIG_EXAMPLES)
)
AT = "2026-11-24T15:00:00Z"
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.timezone.utc)
