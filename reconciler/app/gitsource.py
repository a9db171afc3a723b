"""``watch --git``: the config of the newest commit of a branch, never the working tree.

Like Argo CD and Flux following a revision: the watcher polls the branch head
(``git rev-parse``), and for each new commit materialises the config subdirectory
*from the commit* (``git ls-tree`` + ``git cat-file``) into a private temporary
directory, which the loader then reads. A half-saved file in the working tree is
never seen: only what was committed is reconciled. Only regular files are taken
from the commit; a symlink or submodule in the config subdirectory is an error at
its path (a link could point anywhere on the server).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from reconciler.errors import ConfigError, Location, Problem


class GitSource:
    """The config subdirectory ``subdir`` of branch ``branch`` (default: ``HEAD``) of
    the git checkout that contains ``repo``."""

    def __init__(self, repo: Path, subdir: str, branch: str | None = None, *, fetch: bool = False) -> None:
        self.repo = Path(repo)
        top = self._git("rev-parse", "--show-toplevel", cwd=self.repo).strip()
        self.top = Path(top)
        self.subdir = PurePosixPath(subdir.strip("/") or ".")
        self.branch = branch
        self.fetch = fetch
        self._tmp = Path(tempfile.mkdtemp(prefix="reconciler-git-"))

    def _git(self, *args: str, cwd: Path | None = None, binary: bool = False) -> str:
        try:
            proc = subprocess.run(["git", *args], cwd=cwd or self.top, capture_output=True, check=False)
        except OSError as exc:
            raise ConfigError(f"cannot run git: {exc.strerror or exc}") from None
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ConfigError(f"git {args[0]} failed in {cwd or self.top}: {detail[-1] if detail else proc.returncode}")
        return proc.stdout.decode("latin-1") if binary else proc.stdout.decode("utf-8", "replace")

    @property
    def ref(self) -> str:
        return self.branch or "HEAD"

    def head(self) -> str:
        """The commit the branch points at now (fetched first with ``fetch``)."""
        if self.fetch and self.branch:
            self._git("fetch", "--quiet", "origin", self.branch)
            return self._git("rev-parse", "--verify", f"origin/{self.branch}^{{commit}}").strip()
        return self._git("rev-parse", "--verify", f"{self.ref}^{{commit}}").strip()

    def checkout(self, commit: str) -> Path:
        """Write the config subdirectory of ``commit`` into a fresh private directory
        and return it (the previous one is removed)."""
        dest = self._tmp / commit[:12]
        if dest.exists():
            return dest
        for old in self._tmp.iterdir():
            shutil.rmtree(old, ignore_errors=True)
        listing = self._git("ls-tree", "-r", "-z", "--full-tree", commit, "--", str(self.subdir))
        problems: list[Problem] = []
        files = 0
        dest.mkdir(mode=0o700)
        for entry in filter(None, listing.split("\0")):
            meta, path = entry.split("\t", 1)
            mode, kind, obj = meta.split()
            rel = PurePosixPath(path).relative_to(self.subdir) if str(self.subdir) != "." else PurePosixPath(path)
            shown = f"{commit[:12]}:{path}"
            if kind != "blob" or mode not in ("100644", "100755"):
                what = "a symlink" if mode == "120000" else f"a {kind}"
                problems.append(
                    Problem(
                        Location(shown, None, ""),
                        f"{what} in the commit; config files must be regular files",
                        "io",
                    )
                )
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            data = subprocess.run(
                ["git", "cat-file", "blob", obj],
                cwd=self.top,
                capture_output=True,
                check=True,
            ).stdout
            target.write_bytes(data)
            files += 1
        if problems:
            raise ConfigError(
                problems[0].message if len(problems) == 1 else "the commit's config is unusable",
                problems,
            )
        if files == 0:
            raise ConfigError(f"commit {commit[:12]} has no {self.subdir}/ directory with files")
        return dest

    def shown_as(self, commit: str) -> str:
        """How files of ``commit`` are named in messages: ``<commit>:<subdir>``."""
        return f"{commit[:12]}:{self.subdir}"

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


__all__ = ["GitSource"]
