"""Installed means working: the wheel, installed into a clean venv outside the
checkout, runs demo, validate, plan (built-in policy), import and status from an
unrelated directory. Built-in policies, the schema and the examples come from the
wheel's ``reconciler/_data`` (see reconciler/resources.py), not from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from constants import AT, ROOT


def _clean_env() -> dict[str, str]:
    """The environment without anything that points Python at the checkout or a venv."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "PYTHON", "VIRTUAL_ENV"))}


def _run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env if env is not None else _clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the checkout with the locked dependencies and the built wheel; its bin/."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    built = _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], cwd=base)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("reconciler-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check"]
    deps = _run([*pip, "--require-hashes", "-r", str(ROOT / "requirements" / "app.lock")], cwd=base)
    assert deps.returncode == 0, deps.stderr[-3000:]
    inst = _run([*pip, "--no-deps", str(wheel)], cwd=base)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return env_dir / "bin"


@pytest.fixture()
def cli(installed: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = _clean_env()
    env["PATH"] = f"{installed}{os.pathsep}{env.get('PATH', '')}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _run([str(installed / "reconciler"), *args], cwd=work, env=env)

    run.work = work  # type: ignore[attr-defined]
    return run


def test_installed_package_is_not_the_checkout(installed: Path) -> None:
    out = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import reconciler, reconciler.resources as r; print(reconciler.__file__); print(r.data_root())",
        ],
        cwd=installed,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert not out[0].startswith(str(ROOT)), out
    assert out[1].endswith(os.path.join("reconciler", "_data")), out


def test_version_and_python_m(installed: Path, cli) -> None:  # type: ignore[no-untyped-def]
    version = cli("--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout, version
    as_module = _run([str(installed / "python"), "-m", "reconciler", "--help"], cwd=cli.work)
    assert as_module.returncode == 0 and "plan" in as_module.stdout, as_module


def test_demo_validate_plan_import_status_from_anywhere(cli) -> None:  # type: ignore[no-untyped-def]
    work: Path = cli.work
    demo = cli("demo", "--dir", "demo")
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "staff.deactivate" in demo.stdout and "bsmith" in demo.stdout

    # The example config names the built-in 'standard' policy without defining it.
    config = work / "practice"
    config.mkdir()
    text = (ROOT / "examples" / "offboarding" / "practice.yaml").read_text(encoding="utf-8")
    (config / "practice.yaml").write_text(text.replace("../../schemas/", "schemas/"), encoding="utf-8")
    db = f"sqlite:///{work / 'practice.db'}"
    assert cli("db", "init", "--db", db).returncode == 0
    load = cli("db", "load", str(ROOT / "examples" / "practice.yaml"), "--db", db)
    assert load.returncode == 0, load.stderr

    valid = cli("validate", "-c", str(config))
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.strip() == f"{config}: valid"

    plan = cli("plan", "-c", str(config), "--db", db, "--at", AT, "--format", "json")
    assert plan.returncode == 0, plan.stderr
    assert '"staff.deactivate"' in plan.stdout
    assert "policy standard" in plan.stdout
    golden = (ROOT / "tests" / "golden" / "offboarding.txt").read_text(encoding="utf-8")
    text_plan = cli("plan", "-c", str(config), "--db", db, "--at", AT)
    assert text_plan.returncode == 0, text_plan.stderr
    assert text_plan.stdout.splitlines()[3:] == golden.splitlines()[3:]

    imported = cli("import", "--db", db, "--out", "imported")
    assert imported.returncode == 0, imported.stderr
    assert (work / "imported").is_dir() and "wrote" in imported.stdout
    schema_line = next((work / "imported").glob("*.yaml")).read_text(encoding="utf-8").splitlines()[0]
    assert "_data/schemas/config.schema.json" in schema_line

    status = cli("status", "--db", db, "--at", AT)
    assert status.returncode == 0, status.stderr
    assert "bsmith" in status.stdout or "seat" in status.stdout.lower()
