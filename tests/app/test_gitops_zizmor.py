"""Every GitHub Actions workflow we ship (our own CI and the examples) passes zizmor with no findings.

zizmor runs offline (`--offline`: no GitHub API, no network), on each workflow file named
explicitly: run on the repository root it would only collect `.github/workflows/` at the
top and miss `examples/gitops/.github/workflows/`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".venv-latest", "node_modules", "build", "reconciler-demo"}
FULL_SHA = re.compile(r"^\s*-?\s*uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s*v\d+\.\d+\.\d+\s*$")


def workflow_files() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*.y*ml")):
        rel = path.relative_to(ROOT)
        if SKIP_DIRS & set(rel.parts):
            continue
        if rel.parent.parts[-2:] == (".github", "workflows"):
            found.append(path)
    return found


def zizmor_exe() -> str:
    here = Path(sys.executable).parent / "zizmor"
    exe = str(here) if here.is_file() else shutil.which("zizmor")
    assert exe, "zizmor is a test dependency (requirements/test.lock); install it"
    return exe


def zizmor(*paths: Path) -> tuple[int, list[dict[str, Any]], str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"}}
    proc = subprocess.run(
        [zizmor_exe(), "--offline", "--no-config", "--format", "json", *map(str, paths)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    findings = json.loads(proc.stdout) if proc.stdout.strip() else []
    return proc.returncode, findings, proc.stderr


def summary(findings: list[dict[str, Any]]) -> list[str]:
    out = []
    for f in findings:
        loc = f["locations"][0]
        key = loc["symbolic"]["key"].get("Local", {}).get("verbatim_path", "?")
        row = loc["concrete"]["location"]["start_point"]["row"] + 1
        out.append(f"{key}:{row}: {f['ident']} ({f['determinations']['severity']})")
    return out


def test_the_workflows_we_ship_are_found() -> None:
    rel = {p.relative_to(ROOT).as_posix() for p in workflow_files()}
    assert {".github/workflows/latest.yml", "examples/gitops/.github/workflows/reconciler.yml"} <= rel


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_zizmor_reports_nothing(path: Path) -> None:
    code, findings, stderr = zizmor(path)
    assert findings == [], "\n".join(summary(findings))
    assert code == 0, stderr


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_action_is_pinned_to_a_commit_with_its_version_in_a_comment(path: Path) -> None:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if re.match(r"^\s*-?\s*uses:", line) and "uses: ./" not in line:
            assert FULL_SHA.match(line), f"{path.name}:{n}: pin to a full commit SHA with '# vX.Y.Z': {line.strip()}"


def test_the_check_can_fail(tmp_path: Path) -> None:
    """A copy of the example with a tag instead of a SHA and a checkout that keeps its token is reported."""
    source = ROOT / "examples" / "gitops" / ".github" / "workflows" / "reconciler.yml"
    text = source.read_text(encoding="utf-8")
    broken, n = re.subn(r"actions/checkout@[0-9a-f]{40}[^\n]*", "actions/checkout@v4", text, count=1)
    assert n == 1
    broken, n = re.subn(r"\n\s+with:\n\s+persist-credentials: false[^\n]*", "", broken, count=1)
    assert n == 1
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "reconciler.yml").write_text(broken, encoding="utf-8")
    code, findings, _ = zizmor(workflows / "reconciler.yml")
    assert code != 0
    assert {"unpinned-uses", "artipacked"} <= {f["ident"] for f in findings}, summary(findings)
