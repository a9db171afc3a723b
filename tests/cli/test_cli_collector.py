"""plan and apply run with the cyclic garbage collector off, and give it back."""

from __future__ import annotations

import gc
import inspect
from typing import Any

import pytest

from reconciler import cli


def test_the_collector_is_off_during_the_command_and_back_after_it_even_on_error() -> None:
    seen: list[bool] = []

    @cli._fewer_collections
    def command(fail: bool) -> int:
        seen.append(gc.isenabled())
        if fail:
            raise RuntimeError("boom")
        return 7

    assert gc.isenabled()
    assert command(False) == 7
    with pytest.raises(RuntimeError):
        command(True)
    assert seen == [False, False] and gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        cli._fewer_collections(lambda: None)()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("name", ["plan", "apply"])
def test_plan_and_apply_run_without_the_collector(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def fake(*args: Any, **kwargs: Any) -> int:
        seen.append(gc.isenabled())
        return 0

    monkeypatch.setattr(cli.commands, name, fake)
    callback = cli.main.commands[name].callback
    assert callback is not None
    callback(**{p: None for p in inspect.signature(callback).parameters})
    assert seen == [False] and gc.isenabled()
