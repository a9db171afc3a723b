"""The README's walkthrough, typed exactly into a fresh shell (issue 12): run its shell
blocks with bash in a scratch directory (``.venv`` and ``examples`` linked in; the
install and demo lines skipped: the suite already runs inside the venv and tests the
demo). It must change something, show it in the audit, and revert cleanly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from constants import ROOT

SKIP = ("bash scripts/setup.sh", ".venv/bin/reconciler demo")


def _blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Walkthrough") : text.index("### What the config can say")]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_readme_walkthrough_changes_something_and_audits_it(tmp_path: Path) -> None:
    blocks = _blocks()
    assert len(blocks) == 2, "the walkthrough and the revert block"
    venv_bin = Path(sys.executable).parent
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(venv_bin)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    script = "\n".join(line for line in "\n".join(blocks).splitlines() if not line.startswith(SKIP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env["RECONCILER_ACTOR"] = "readme"
    r = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    out = r.stdout
    assert out.count("No changes. The practice matches the configuration.") >= 3  # import, apply, revert
    assert "staff.deactivate cdavis" in out and "pmorgan" in out  # the audit shows the change and who
    assert "Staff jdoe: clinician" in out
    assert "Apply complete" in out
    assert list((tmp_path / "exports").glob("cdavis-*.fhir.json"))
