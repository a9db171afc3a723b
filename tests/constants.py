"""The one place for the constants tests share: the checkout root and the plan time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
AT = "2026-11-24T15:00:00Z"
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.timezone.utc)
