"""What the database columns store, as bounds for the models that feed them.

Every integer a config or snapshot file may hold ends up in an ``INTEGER`` (32-bit on
PostgreSQL) or ``BIGINT`` column; a larger value would pass validation and then fail
at apply or load time with an overflow (SQLite even keeps it as an inexact REAL).
The models bound each integer by its column, so a too-large number is a located
validation error like any other bad value.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

INT32_MAX = 2**31 - 1  # INTEGER
INT64_MAX = 2**63 - 1  # BIGINT

#: A count or amount stored in an INTEGER column (``max_caseload``, ``client_plan_limit``...).
Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
#: The same, strict (no "3" or 3.0): snapshot files.
StrictInt32 = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]
#: Money in cents stored in a BIGINT column (``balance_cents``).
StrictInt64 = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]
