"""Files in the config directory are never skipped silently (issue 11, item 4): a
symlink loop, a dangling symlink, a FIFO, a symlink to a device, an unreadable
subdirectory are each a located error (the path), exit 1; an ESC or NUL byte is
reported at its real line and column, on one line."""

from __future__ import annotations

import os
import shutil
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


def _validate_as_nobody(cfg: Path) -> tuple[int, list[str]]:
    """``validate -c cfg`` in a forked child that has dropped root for ``nobody`` (after
    fork, so no interpreter file has to be readable by that user); as ourselves when we
    are not root (then the mode-000 directory is unreadable to us already)."""
    import json
    import pwd

    if os.geteuid() != 0:
        return _validate(cfg)
    _validate(cfg.parent)  # warm every lazy import while still root (nobody may not read them)
    nobody = pwd.getpwnam("nobody")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            res = CliRunner().invoke(main, ["validate", "-c", str(cfg)])
            os.write(w, json.dumps([res.exit_code, res.stderr]).encode())
        except BaseException as exc:  # noqa: BLE001 - anything reaches the parent's assert
            os.write(w, json.dumps([-1, f"child failed: {exc!r}"]).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        code, err = json.loads(pipe.read() or b'[-1, "no answer"]')
    os.waitpid(pid, 0)
    return int(code), str(err).splitlines()


def test_unreadable_subdirectory_as_another_user() -> None:
    """The real thing: a user who may not list a mode-000 subdirectory runs validate."""
    base = Path("/tmp") / f"reconciler-nobody-{os.getpid()}"
    base.mkdir(mode=0o755)
    try:
        base.chmod(0o755)  # whatever the umask
        cfg = base / "practice"
        cfg.mkdir(mode=0o755)
        cfg.chmod(0o755)
        (cfg / "a.yaml").write_text(GOOD)
        (cfg / "a.yaml").chmod(0o644)
        (cfg / "team").mkdir(mode=0o000)
        (cfg / "team").chmod(0o000)
        code, lines = _validate_as_nobody(cfg)
        assert code == 1, lines
        assert lines[0].startswith(f"Error: {cfg / 'team'}") or lines[0].startswith(str(cfg / "team")), lines
        assert "Permission denied" in "\n".join(lines), lines
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
