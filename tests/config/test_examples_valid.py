"""Every example config directory validates with no errors (what CI runs on a pull request)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from constants import CONFIG_EXAMPLE_DIRS, EXAMPLES_DIR

from reconciler.cli import main

EXAMPLES = EXAMPLES_DIR
EXAMPLE_DIRS = list(CONFIG_EXAMPLE_DIRS)


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLE_DIRS} >= {"offboarding", "handover", "scheduled", "clients"}


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=[p.name for p in EXAMPLE_DIRS])
def test_example_validates(example: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "-c", str(example), "--at", "2026-11-24"])
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    assert result.stdout == f"{example}: valid\n"
