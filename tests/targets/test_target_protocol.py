"""The storage seam: every target implements targets.base.Target; --target picks one."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import targets
from reconciler.cli import main
from reconciler.model.actions import ActionType
from reconciler.targets.base import ReadSession, Target, WriteSession
from reconciler.targets.native.target import NativeSession, NativeTarget
from reconciler.targets.openemr.target import OpenEMRTarget
from reconciler.targets.openemr.target import ReadSession as OpenEMRReadSession
from reconciler.targets.openemr.target import WriteSession as OpenEMRWriteSession


def _members(protocol: type) -> set[str]:
    return {
        n
        for n, v in vars(protocol).items()
        if not n.startswith("_") and (inspect.isfunction(v) or isinstance(v, property))
    }


@pytest.mark.parametrize(
    "protocol, impl",
    [
        (Target, NativeTarget),
        (ReadSession, NativeSession),
        (WriteSession, NativeSession),
        (Target, OpenEMRTarget),
        (ReadSession, OpenEMRReadSession),
        (WriteSession, OpenEMRWriteSession),
    ],
    ids=["target", "read", "write", "openemr-target", "openemr-read", "openemr-write"],
)
def test_every_target_implements_every_method_of_the_protocol(protocol: type, impl: type) -> None:
    missing = {m for m in _members(protocol) if not hasattr(impl, m)}
    assert not missing, f"{impl.__name__} lacks {sorted(missing)}"


def test_native_can_apply_every_action_type() -> None:
    assert NativeTarget.capabilities == frozenset(ActionType)


def test_openemr_refuses_what_it_cannot_do() -> None:
    assert OpenEMRTarget.capabilities == frozenset(ActionType) - {
        ActionType.STAFF_CREATE,
        ActionType.CLIENT_DELETE,
        ActionType.CLIENT_PURGE,
    }


def test_the_registry_knows_native_and_openemr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILER_TARGET", raising=False)
    assert targets.resolve_name(None) == "native"
    assert targets.get("native") == NativeTarget.open
    assert targets.get("openemr") == OpenEMRTarget.open
    monkeypatch.setenv("RECONCILER_TARGET", "openemr")
    assert targets.resolve_name(None) == "openemr"


@pytest.mark.parametrize(
    "args, env", [(["--target", "epic"], {}), ([], {"RECONCILER_TARGET": "nope"})], ids=["option", "environment"]
)
def test_an_unknown_target_is_one_clear_error(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    res = CliRunner().invoke(main, [*args, "status", "--db", f"sqlite:///{tmp_path / 'p.db'}"], env=env)
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1].startswith("Error: unknown target")
    assert "(known: native, openemr)" in res.output
    assert not (tmp_path / "p.db").exists()
