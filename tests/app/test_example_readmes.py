"""Each example's README runs as written: its ```sh blocks are executed, its ```text blocks are seen.

Every example directory has a README.md whose fenced ``sh`` blocks are the commands to run
it from a fresh clone after ``bash scripts/setup.sh``. Here they run in one bash session per
README, in a temporary copy of the examples (``.venv`` there is this test's environment),
with ``CI=true``. Each command must exit 0, or the code its trailing comment names
(``# exit 2: ...``). Every line of the README's ``text`` blocks (the output it shows,
``...`` marks an elision) must appear in what the commands printed, so plan ids and counts
in the docs cannot drift from what the commands do. The READMEs run in parallel.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("offboarding", "handover", "scheduled", "clients", "ownership", "gitops")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
EXPECTED_EXIT = re.compile(r"\s#\s*exit (\d+)\b")
FAILED = 100  # the script's own exit code when a command's exit code is not the documented one


@dataclass(frozen=True)
class Command:
    line: str
    expected: int


def blocks(readme: Path, lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(readme.read_text(encoding="utf-8")) if kind == lang]


def commands(readme: Path) -> list[Command]:
    out = []
    for body in blocks(readme, "sh"):
        text = re.sub(r"\\\n\s*", " ", body)  # join continued lines
        for line in text.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = EXPECTED_EXIT.search(line)
            out.append(Command(line.strip(), int(m.group(1)) if m else 0))
    return out


def shown_output(readme: Path) -> list[str]:
    return [
        line.strip()
        for body in blocks(readme, "text")
        for line in body.splitlines()
        if line.strip() and line.strip() != "..."
    ]


def script(cmds: list[Command]) -> str:
    lines = []
    for n, cmd in enumerate(cmds, 1):
        lines.append(cmd.line)
        lines.append(
            f'rc=$?; if [ "$rc" != {cmd.expected} ]; then '
            f'echo "README command {n} exited $rc, expected {cmd.expected}:" {shlex.quote(cmd.line)} >&2; '
            f"exit {FAILED}; fi"
        )
    return "\n".join(lines) + "\n"


def fresh_copy(tmp: Path) -> Path:
    """The parts of a clone the examples use, and a .venv that is this test's environment."""
    clone = tmp / "clone"
    clone.mkdir()
    for name in ("examples", "schemas"):
        shutil.copytree(ROOT / name, clone / name)
    venv = Path(sys.prefix)
    if (venv / "bin" / "activate").is_file():
        (clone / ".venv").symlink_to(venv, target_is_directory=True)
    else:  # not a venv: an activate script that puts this interpreter's scripts on PATH
        (clone / ".venv" / "bin").mkdir(parents=True)
        (clone / ".venv" / "bin" / "activate").write_text(
            f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"\n', encoding="utf-8"
        )
    return clone


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    bash = shutil.which("bash")
    assert bash
    procs = {}
    for example in EXAMPLES:
        readme = ROOT / "examples" / example / "README.md"
        if not readme.is_file():
            continue
        tmp = tmp_path_factory.mktemp(f"readme-{example}")
        clone = fresh_copy(tmp)
        (tmp / "t").mkdir()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("RECONCILER_") and k not in {"VIRTUAL_ENV", "PYTHONPATH"}
        }
        env.update(CI="true", TMPDIR=str(tmp / "t"), NO_COLOR="1", COLUMNS="200")
        procs[example] = subprocess.Popen(
            [bash, "--noprofile", "--norc", "-c", script(commands(readme))],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    results = {}
    for example, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        results[example] = subprocess.CompletedProcess(proc.args, proc.returncode, out, None)
    return results


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_has_a_readme_with_commands_and_output(example: str) -> None:
    readme = ROOT / "examples" / example / "README.md"
    assert readme.is_file(), f"examples/{example}/ needs a README.md"
    cmds = [c.line for c in commands(readme)]
    assert any(c.startswith("reconciler db init") for c in cmds)
    assert any(c.startswith("reconciler db load examples/practice.yaml") for c in cmds)
    assert any(c.startswith("reconciler validate") for c in cmds)
    assert any(c.startswith("reconciler plan") for c in cmds)
    assert any(c.startswith("reconciler apply") for c in cmds)
    assert shown_output(readme), "show what the commands print (ids only)"


@pytest.mark.slow  # ~40 s of CPU in all (about 30 reconciler processes), run 5 at a time
@pytest.mark.parametrize("example", EXAMPLES)
def test_the_readme_commands_run_as_written(example: str, runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs[example]
    assert result.returncode == 0, result.stdout[-4000:]
    missing = [line for line in shown_output(ROOT / "examples" / example / "README.md") if line not in result.stdout]
    assert not missing, (
        f"README shows lines the commands did not print: {missing}\n--- output ---\n{result.stdout[-4000:]}"
    )


def test_a_wrong_exit_code_fails_the_script(tmp_path: Path) -> None:
    cmds = [Command("true", 0), Command("false   # exit 1: documented", 1), Command("true   # exit 2", 2)]
    proc = subprocess.run(["bash", "-c", script(cmds)], capture_output=True, text=True, check=False)
    assert proc.returncode == FAILED
    assert "README command 3 exited 0, expected 2" in proc.stderr
