"""Shell completion for bash, zsh and fish through click's own mechanism
(``_RECONCILER_COMPLETE=<shell>_source reconciler``): the source scripts, command
names, and the choices of ``--format`` and ``--target``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main

SCRIPT = Path(sys.executable).parent / "reconciler"  # the installed console script


def complete(shell: str, words: str, cword: int | None = None) -> list[str]:
    """What click offers for ``words`` (the last word is the incomplete one), in the
    protocol each shell's source script speaks."""
    parts = words.split(" ")
    env = {"_RECONCILER_COMPLETE": f"{shell}_complete", "COMP_WORDS": words}
    # bash and zsh send the index of the word being completed; fish sends its text.
    env["COMP_CWORD"] = parts[-1] if shell == "fish" else str(len(parts) - 1 if cword is None else cword)
    result = CliRunner().invoke(main, [], prog_name="reconciler", env=env)
    assert result.exit_code == 0, result.output
    out = [line for line in result.output.splitlines() if line] if shell != "zsh" else result.output.splitlines()
    if shell == "bash":  # "type,value" per line
        return [line.split(",", 1)[1] for line in out]
    if shell == "zsh":  # type, value, help: three lines per item
        return [out[i + 1] for i in range(0, len(out) - 2, 3)]
    return [line.split(",", 1)[1].split("\t")[0] for line in out]  # fish: "type,value[\thelp]"


@pytest.mark.parametrize(
    "shell, marker",
    [
        ("bash", "complete -o nosort -F _reconciler_completion reconciler"),
        ("zsh", "#compdef reconciler"),
        ("fish", "complete --no-files --command reconciler"),
    ],
)
def test_each_shell_gets_a_source_script(shell: str, marker: str) -> None:
    result = CliRunner().invoke(main, [], prog_name="reconciler", env={"_RECONCILER_COMPLETE": f"{shell}_source"})
    assert result.exit_code == 0
    assert marker in result.output
    assert "_RECONCILER_COMPLETE" in result.output


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completing_pl_offers_plan(shell: str) -> None:
    assert complete(shell, "reconciler pl") == ["plan"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_format_and_target_choices_complete(shell: str) -> None:
    assert complete(shell, "reconciler plan --format ") == ["text", "json", "markdown", "html"]
    assert complete(shell, "reconciler plan --format m") == ["markdown"]
    assert complete(shell, "reconciler validate --format ") == ["text", "json"]
    assert complete(shell, "reconciler --target ") == ["native", "openemr"]
    assert complete(shell, "reconciler --target n") == ["native"]
    assert complete(shell, "reconciler --target x") == []


def test_subcommands_of_db_complete() -> None:
    assert complete("bash", "reconciler db ") == ["dump", "init", "load", "upgrade"]


@pytest.mark.skipif(not SCRIPT.exists() or shutil.which("bash") is None, reason="needs the console script and bash")
def test_bash_completes_pl_to_plan_with_the_installed_script() -> None:
    """End to end: real bash sources the generated script and calls its completion
    function, which runs the installed ``reconciler``."""
    script = (
        'eval "$(_RECONCILER_COMPLETE=bash_source reconciler)"\n'
        "COMP_WORDS=(reconciler pl); COMP_CWORD=1\n"
        "_reconciler_completion reconciler\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = dict(os.environ, PATH=f"{SCRIPT.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["plan"]
