"""watch acts only on finished edits (issue 11, item 5): `watch --git` reconciles the
branch's newest commit, never the working tree; a plain directory is auto-applied only
after its files have settled; a pending client deletion does not block the rest."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Callable

import pytest
from dbhelpers import PRACTICE_YAML, fresh_db
from test_watch import NOW, OFFBOARDING, STEADY, audit_count, events, log_lines, write  # noqa: F401

from reconciler.app.gitsource import GitSource
from reconciler.app.watch import GitWatcher, WatchCycle
from reconciler.targets.native.target import NativeTarget

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def cycle_for(cfg: Path, engine: object, tmp_path: Path, **kw: object) -> WatchCycle:
    return WatchCycle(
        cfg,
        NativeTarget(engine),
        auto_apply=True,
        actor="alee",  # type: ignore[arg-type]
        export_dir=tmp_path / "exports",
        now=lambda: NOW,
        **kw,
    )  # type: ignore[arg-type]


def test_auto_apply_waits_until_the_directory_has_settled(
    tmp_path: Path,
    log_lines: Callable[[], list[dict[str, object]]],  # noqa: F811 - the fixture imported from test_watch
) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    cfg = tmp_path / "practice"
    write(cfg / "practice.yaml", OFFBOARDING)
    written = (cfg / "practice.yaml").stat().st_mtime
    clock = [written + 1.0]
    cycle = cycle_for(cfg, engine, tmp_path, settle=10.0, wallclock=lambda: clock[0])
    cycle("change")
    assert audit_count(engine) == 0, "a file written a second ago may be half-saved"
    (settling,) = events(log_lines(), "config.settling")
    assert settling["wait_seconds"] == 9.0 and cycle.retry_after == pytest.approx(9.0)
    clock[0] = written + 10.5
    cycle("change")
    assert audit_count(engine) > 0 and len(cycle.applied) == 1
    engine.dispose()


def test_a_skipped_cycle_runs_again_once_settled() -> None:
    """The Watcher re-runs a cycle that asked for it (retry_after), on its injected clock."""
    from reconciler.app.watch import Watcher

    now = [100.0]
    calls: list[str] = []

    class Cycle:
        retry_after: float | None = None

        def __call__(self, reason: str) -> None:
            calls.append(reason)
            self.retry_after = 5.0 if len(calls) == 1 else None

    w = Watcher(Path("."), 3600, Cycle(), threading.Event(), clock=lambda: now[0])
    w._run_cycle("start")
    assert w._take_due_change(now[0] + 4.9) is None
    assert w._take_due_change(now[0] + 5.0) == []


def test_a_pending_deletion_does_not_block_the_other_changes(
    tmp_path: Path,
    log_lines: Callable[[], list[dict[str, object]]],  # noqa: F811 - the fixture imported from test_watch
) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    cfg = tmp_path / "practice"
    write(
        cfg / "practice.yaml",
        OFFBOARDING + "clients:\n  - {id: C-1030, status: deleted}\n",
    )
    cycle = cycle_for(cfg, engine, tmp_path, settle=0)
    cycle("start")
    assert len(cycle.applied) == 1, "the offboarding was applied without the deletion"
    from reconciler.app.audit import read_audit

    types = {e.get("action_type", e.get("type")) for e in read_audit(NativeTarget(engine))}  # type: ignore[arg-type]
    assert "staff.deactivate" in types and "client.delete" not in types
    (pending,) = events(log_lines(), "deletions.pending")
    assert pending["clients"] == ["C-1030"] and "Patel" not in str(pending)
    cycle("interval")
    assert len(events(log_lines(), "deletions.pending")) == 2, "reported every cycle"
    assert len(cycle.applied) == 1
    engine.dispose()


def test_watch_git_reconciles_commits_never_the_working_tree(
    tmp_path: Path,
    log_lines: Callable[[], list[dict[str, object]]],  # noqa: F811 - the fixture imported from test_watch
) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'p.db'}", PRACTICE_YAML)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo / "practice" / "practice.yaml", STEADY)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "steady")
    source = GitSource(repo, "practice", "main")
    try:
        clock = [0.0]
        cycle = cycle_for(repo / "practice", engine, tmp_path, git=source, settle=10.0)
        watcher = GitWatcher(source, 3600, cycle, threading.Event(), clock=lambda: clock[0], poll=1)
        assert watcher.step() == "start"
        assert audit_count(engine) == 0
        # A half-written edit in the working tree is never seen ...
        (repo / "practice" / "practice.yaml").write_text(OFFBOARDING[: len(OFFBOARDING) // 2])
        clock[0] = 10
        assert watcher.step() is None
        # ... the commit is, at the next poll (and needs no settling).
        write(repo / "practice" / "practice.yaml", OFFBOARDING)
        git(repo, "commit", "-qam", "bsmith leaves")
        assert watcher.step() == "change"
        assert audit_count(engine) > 0 and len(cycle.applied) == 1
        assert watcher.step() is None
        # An invalid commit is reported at <commit>:<path>:<line>, nothing applied.
        write(
            repo / "practice" / "practice.yaml",
            OFFBOARDING.replace("role: clinician\n    active: false", "role: surgeon\n    active: false"),
        )
        git(repo, "commit", "-qam", "typo")
        assert watcher.step() == "change"
        (err,) = events(log_lines(), "config.invalid")
        head = git(repo, "rev-parse", "HEAD").strip()
        assert err["file"] == f"{head[:12]}:practice/practice.yaml" and err["line"] == 19, err
    finally:
        source.close()
        engine.dispose()


def test_watch_git_refuses_a_symlink_in_the_commit(tmp_path: Path) -> None:
    from reconciler.errors import ConfigError

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo / "practice" / "practice.yaml", STEADY)
    (repo / "practice" / "x.yaml").symlink_to("/etc/passwd")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "link")
    source = GitSource(repo, "practice")
    try:
        with pytest.raises(ConfigError, match="symlink"):
            source.checkout(source.head())
    finally:
        source.close()
