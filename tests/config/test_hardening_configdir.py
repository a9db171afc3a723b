"""Files in the config directory are never skipped silently (issue 11, item 4): a
symlink loop, a dangling symlink, a FIFO, a symlink to a device, an unreadable
subdirectory are each a located error (the path), exit 1; an ESC or NUL byte is
reported at its real line and column, on one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main

GOOD = "version: 1\nstaff:\n  - {id: alee, name: Ana Lee, role: owner}\n"


def _cfg(tmp_path: Path) -> Path:
    cfg = tmp_path / "practice"
    cfg.mkdir()
    (cfg / "a.yaml").write_text(GOOD)
    return cfg


def _validate(cfg: Path, *cmd: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, [*(cmd or ("validate",)), "-c", str(cfg)])
    return result.exit_code, result.stderr.splitlines()


def _make_loop(cfg: Path) -> Path:
    (cfg / "loop.yaml").symlink_to("loop.yaml")
    return cfg / "loop.yaml"


def _make_dangling(cfg: Path) -> Path:
    (cfg / "staff.yaml").symlink_to("gone/staff.yaml")
    return cfg / "staff.yaml"


def _make_fifo(cfg: Path) -> Path:
    os.mkfifo(cfg / "pipe.yaml")
    return cfg / "pipe.yaml"


def _make_devzero(cfg: Path) -> Path:
    (cfg / "zero.yaml").symlink_to("/dev/zero")
    return cfg / "zero.yaml"


def _make_dir_loop(cfg: Path) -> Path:
    (cfg / "sub").mkdir()
    (cfg / "sub" / "again").symlink_to("..")
    return cfg / "sub" / "again"


CASES = {
    "symlink-loop": (_make_loop, "symlink loop"),
    "dangling-symlink": (_make_dangling, "dangling symlink"),
    "fifo": (_make_fifo, "not a regular file"),
    "symlink-to-dev-zero": (_make_devzero, "not a regular file"),
    "directory-symlink-loop": (_make_dir_loop, "symlink loop"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("cmd", ["validate", "plan"])
def test_unusable_entry_is_a_located_error(tmp_path: Path, case: str, cmd: str) -> None:
    cfg = _cfg(tmp_path)
    make, words = CASES[case]
    bad = make(cfg)
    code, lines = _validate(cfg, cmd)
    assert code == 1, lines
    assert any(line.startswith(f"Error: {bad}") or line.startswith(str(bad)) for line in lines), lines
    assert any(words in line for line in lines), lines
    assert not any("Traceback" in line or "unexpected" in line for line in lines)


def test_unreadable_subdirectory_is_a_located_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root can read any directory, so the refusal is injected at the OS boundary."""
    cfg = _cfg(tmp_path)
    (cfg / "team").mkdir()
    (cfg / "team" / "b.yaml").write_text("version: 1\n")
    real = os.scandir

    def scandir(path: object = ".") -> object:
        if Path(str(path)) == cfg / "team":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    code, lines = _validate(cfg)
    assert code == 1
    assert any(str(cfg / "team") in line and "Permission denied" in line for line in lines), lines


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None,
    reason="needs root and runuser",
)
def test_unreadable_subdirectory_as_another_user(tmp_path: Path) -> None:
    """The real thing: `nobody` runs validate on a directory with a mode-000 subdirectory."""
    base = Path("/tmp") / f"reconciler-nobody-{os.getpid()}"
    base.mkdir(mode=0o755)
    try:
        cfg = base / "practice"
        cfg.mkdir(mode=0o755)
        (cfg / "a.yaml").write_text(GOOD)
        (cfg / "a.yaml").chmod(0o644)
        (cfg / "team").mkdir(mode=0o000)
        (cfg / "team").chmod(0o000)
        probe = subprocess.run(
            [
                "runuser",
                "-u",
                "nobody",
                "--",
                sys.executable,
                "-c",
                "import reconciler.cli",
            ],
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            pytest.skip(f"nobody cannot run this interpreter: {probe.stderr.strip()[-200:]}")
        proc = subprocess.run(
            [
                "runuser",
                "-u",
                "nobody",
                "--",
                sys.executable,
                "-m",
                "reconciler.cli",
                "validate",
                "-c",
                str(cfg),
            ],
            capture_output=True,
            text=True,
            cwd=base,
        )
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip().splitlines()[0].startswith(f"Error: {cfg / 'team'}"), proc.stderr
        assert "Permission denied" in proc.stderr
    finally:
        (base / "practice" / "team").chmod(0o755) if (base / "practice" / "team").exists() else None
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("char, name", [("\x1b", "#x001b"), ("\x00", "#x0000")], ids=["ESC", "NUL"])
def test_control_character_is_reported_at_its_line_and_column(tmp_path: Path, char: str, name: str) -> None:
    cfg = tmp_path / "practice"
    cfg.mkdir()
    (cfg / "s.yaml").write_text(f"version: 1\nstaff:\n  - id: alee\n  - id: b{char}smith\n")
    code, lines = _validate(cfg)
    assert code == 1
    # One line for the problem (then the count every config error ends with).
    assert lines[0].startswith(f"{cfg / 's.yaml'}:4: invalid YAML: unacceptable character"), lines
    assert "column 10" in lines[0] and name in lines[0], lines
    assert lines[1:] == ["1 error, 0 warnings"], lines
