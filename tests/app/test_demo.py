"""`reconciler demo`: a clean directory, five narrated steps, exit 0, no client names."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from constants import ROOT

from reconciler.app.demo import MARKER, run_demo
from reconciler.errors import ReconcilerError

RECONCILER = Path(sys.executable).parent / "reconciler"
STEPS = ["Step 1/5: validate", "Step 2/5: plan", "Step 3/5: apply", "Step 4/5: plan again", "Step 5/5: audit"]


def client_names() -> set[str]:
    doc = yaml.safe_load((ROOT / "examples" / "practice.yaml").read_text(encoding="utf-8"))
    return {c[k] for c in doc["clients"] for k in ("first_name", "last_name")}


def run_cli(workdir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RECONCILER_DB", "RECONCILER_ACTOR")}
    return subprocess.run(
        [str(RECONCILER), "demo", "--dir", str(workdir)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_demo_runs_end_to_end_in_a_clean_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    workdir = tmp_path / "demo"
    proc = run_cli(workdir, cwd=elsewhere)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    positions = [out.find(step) for step in STEPS]
    assert all(p >= 0 for p in positions), out
    assert positions == sorted(positions), "the steps come in order"
    assert "Apply complete:" in out and "No changes" in out
    leaked = sorted(n for n in client_names() if n in out + proc.stderr)
    assert leaked == []
    assert (workdir / "practice.db").is_file() and (workdir / "practice" / "practice.yaml").is_file()
    assert sorted(p.name for p in elsewhere.iterdir()) == [], "nothing is written outside --dir"


def test_demo_can_be_run_again_in_its_own_directory(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    now = lambda: dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.timezone.utc)  # noqa: E731
    assert run_demo(workdir, out=io.StringIO(), now=now) == 0
    out = io.StringIO()
    assert run_demo(workdir, out=out, now=now) == 0
    assert "Apply complete:" in out.getvalue()


@pytest.mark.parametrize(
    "when",
    [dt.datetime(2026, 11, 24, 15, 0), dt.datetime(2027, 1, 10, 12, 0), dt.datetime(2028, 6, 1, 9, 0)],
    ids=["during-the-season", "near-its-end", "long-after-the-sample-sessions"],
)
def test_demo_completes_whatever_the_date(tmp_path: Path, when: dt.datetime) -> None:
    out = io.StringIO()
    assert run_demo(tmp_path / "demo", out=out, now=lambda: when.replace(tzinfo=dt.timezone.utc)) == 0
    text = out.getvalue()
    assert all(step in text for step in STEPS)
    assert "staff.deactivate" in text or "bsmith" in text


def test_the_copied_config_points_at_the_project_schema(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    run_demo(workdir, out=io.StringIO(), now=lambda: dt.datetime(2026, 11, 24, 15, tzinfo=dt.timezone.utc))
    first = (workdir / "practice" / "practice.yaml").read_text(encoding="utf-8").splitlines()[0]
    ref = first.split("$schema=", 1)[1]
    assert (workdir / "practice" / ref).resolve() == (ROOT / "schemas" / "config.schema.json").resolve()


@pytest.mark.parametrize("with_marker", [False, True], ids=["foreign-dir", "demo-dir-with-foreign-file"])
def test_demo_refuses_a_directory_it_did_not_create(tmp_path: Path, with_marker: bool) -> None:
    workdir = tmp_path / "mine"
    workdir.mkdir()
    (workdir / "thesis.txt").write_text("precious")
    if with_marker:
        (workdir / MARKER).write_text("")
    with pytest.raises(ReconcilerError, match="choose another --dir"):
        run_demo(workdir, out=io.StringIO())
    assert (workdir / "thesis.txt").read_text() == "precious"


def test_the_cli_reports_a_refused_directory_without_a_traceback(tmp_path: Path) -> None:
    workdir = tmp_path / "mine"
    workdir.mkdir()
    (workdir / "thesis.txt").write_text("precious")
    proc = run_cli(workdir, cwd=tmp_path)
    assert proc.returncode == 1
    assert "choose another --dir" in proc.stderr and "Traceback" not in proc.stderr
