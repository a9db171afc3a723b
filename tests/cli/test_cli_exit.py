"""The ``reconciler`` process ends without the interpreter's teardown (``cli.run``), with
the exit status, messages, exit handlers and output a normal exit would give."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ENTRY = Path(__file__).resolve().parents[2] / "reconciler" / "cli.py"


def run_script(body: str, tmp_path: Path, *, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter with ``cli`` imported."""
    script = tmp_path / "script.py"
    script.write_text("import sys\nfrom reconciler import cli\n" + textwrap.dedent(body), encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [("None", 0, ""), ("0", 0, ""), ("2", 2, ""), ("130", 130, ""), ("-1", 255, ""), ("'bad thing'", 1, "bad thing\n")],
)
def test_the_exit_status_is_sys_exits(tmp_path: Path, code: str, status: int, stderr: str) -> None:
    done = run_script(f"cli._exit_at_once({code})\n", tmp_path)
    assert (done.returncode, done.stderr) == (status, stderr)


def test_exit_handlers_run_and_buffered_output_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    body = """
        import atexit
        atexit.register(lambda: print("handler ran", file=sys.stderr))
        sys.stdout.write("x" * 3_000_000)  # more than any buffer: partly still buffered
        sys.stdout.write("\\nend\\n")
        cli._exit_at_once(3)
    """
    with out.open("w", encoding="utf-8") as f:
        done = run_script(body, tmp_path, stdout=f.fileno())
    assert done.returncode == 3
    assert done.stderr == "handler ran\n"
    assert out.read_text(encoding="utf-8") == "x" * 3_000_000 + "\nend\n"


def test_a_running_thread_is_waited_for(tmp_path: Path) -> None:
    """Another (non-daemon) thread still running: the normal exit, which waits for it."""
    body = """
        import threading, time
        def late():
            time.sleep(0.5)
            print("thread finished", flush=True)
        threading.Thread(target=late).start()
        sys.argv = ["reconciler", "--version"]
        cli.run()
    """
    done = run_script(body, tmp_path)
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["reconciler, version 0.1.0", "thread finished"]


@pytest.mark.parametrize(
    ("args", "status", "stdout", "stderr"),
    [
        (["--version"], 0, "version 0.1.0", ""),
        (["plan", "--no-such-option"], 1, "", "No such option '--no-such-option'"),
        (["validate", "-c", "/nonexistent/config"], 1, "", "config directory /nonexistent/config does not exist"),
    ],
)
def test_the_command_exits_as_before(tmp_path: Path, args: list[str], status: int, stdout: str, stderr: str) -> None:
    for argv in ([sys.executable, "-m", "reconciler", *args], [sys.executable, str(ENTRY), *args]):
        done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert done.returncode == status, (argv, done.stderr)
        assert stdout in done.stdout and stderr in done.stderr


def test_a_profiler_still_gets_its_report(tmp_path: Path) -> None:
    """``python -m cProfile -m reconciler ...``: the profiler writes its file after the
    command returns, so the process exits the normal way when one is attached."""
    out = tmp_path / "run.prof"
    argv = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "reconciler", "--version"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
