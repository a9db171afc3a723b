"""What the database columns store, as bounds for the models that feed them.

Every integer a config or snapshot file may hold ends up in an ``INTEGER`` (32-bit on
PostgreSQL) or ``BIGINT`` column; a larger value would pass validation and then fail
at apply or load time with an overflow (SQLite even keeps it as an inexact REAL).
The models (``reconciler.model.schema``) bound each integer by its column, so a
too-large number is a located validation error like any other bad value. Constants
only: reading them never imports pydantic.
"""

from __future__ import annotations

INT32_MAX = 2**31 - 1  # INTEGER
INT64_MAX = 2**63 - 1  # BIGINT
