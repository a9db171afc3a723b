"""Load the config directory into a located :class:`DesiredState` (the edge: files -> value).

What this module guarantees:

* **Safe YAML only.** Documents are composed with PyYAML's C parser when available
  (``yaml.CSafeLoader``; the pure-Python ``SafeLoader`` otherwise) and values are
  constructed here from its events, so every mapping key and sequence item keeps its line.
  Only the YAML 1.1 core tags are accepted (null, bool, int, float, str, timestamp,
  map, seq, and ``<<`` merge keys); any other tag such as ``!!python/object`` is a
  :class:`ConfigError` at ``file:line``.
* **Bounded aliases.** Anchors and aliases work (an alias shares the anchored
  value), but values are built from the parser's event stream, and each alias adds
  the node count of what it names to a running total: past
  :data:`ALIAS_EXPANSION_BUDGET` added nodes the document is rejected, so a
  "billion laughs" file fails after reading a few lines. Recursive aliases and
  nesting deeper than :data:`MAX_DEPTH` are rejected too (PyYAML's C composer would
  recurse, and can crash, on absurd nesting: we never call it).
* **Located errors.** Schema errors from :class:`reconciler.model.schema.ConfigFile` are
  mapped back to ``file:line`` and a field path such as ``staff[1].role``. Duplicate
  keys in one mapping are errors too (PyYAML would silently keep the last one).
* **Merging.** Files (``*.yaml`` and ``*.yml``, recursively, sorted by relative path;
  paths with a component starting with ``.`` such as ``.git/`` are skipped) are merged:
  ``staff``, ``clients`` and ``policies`` lists are concatenated in file order. An id
  (staff id, client id, policy name) declared twice is an error naming both places.
  ``practice:`` may appear in one file only; a second ``practice:`` is an error naming
  both places (we chose this over a key-wise merge: one place to read the practice
  settings, no precedence rules to learn).
* **Built-in policies** come from the project's top-level ``policies/`` folder; a
  config policy of the same name replaces the built-in one.
* All problems of all files are collected and raised together as one ConfigError.

``config_digest`` is ``sha256:`` + the SHA-256 over, for every file in sorted order,
``<relative posix path> NUL <byte length> NUL <bytes>``: it changes when any file's
name or content changes and does not depend on where the directory lives.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from reconciler.config import entries, is_config_path
from reconciler.errors import ConfigError, Location, Problem
from reconciler.model.desired import (
    ClientSpec,
    DesiredState,
    FileValues,
    PolicySpec,
    PracticeSpec,
    StaffSpec,
)
from reconciler.safeyaml import (  # noqa: F401 - re-exported
    ALIAS_EXPANSION_BUDGET,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MarkedMap,
    MarkedSeq,
    field_path,
    line_of,
    safe_load_marked,
)

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import ValidationError

_E = TypeVar("_E", StaffSpec, ClientSpec, PolicySpec)
_V = TypeVar("_V")


# --------------------------------------------------------------------------- the directory
def config_files(directory: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, path)`` of every config file, sorted by relative path.

    Raises ConfigError when the directory is missing, holds no YAML file, or holds an
    entry that cannot be read (see :func:`walk_config_dir`).
    """
    found, problems = walk_config_dir(directory)
    if problems:
        n = len(problems)
        raise ConfigError(
            problems[0].message if n == 1 else f"the config is invalid ({n} problems)",
            problems,
        )
    return found


def walk_config_dir(directory: Path) -> tuple[list[tuple[str, Path]], list[Problem]]:
    """Every config file under ``directory`` and every entry that cannot be used.

    Nothing is skipped silently: a config-named entry (``*.yaml``) that is a dangling
    symlink, a symlink loop, or not a regular file (a FIFO, a device such as
    ``/dev/zero``, a socket) is a problem located at its path, and so is a
    subdirectory that cannot be listed. Symlinked directories are followed, once: a
    directory reached again through a link is a symlink loop. Files are never opened
    here (opening a FIFO would block). Raises ConfigError for a missing directory or
    one without any YAML file.
    """
    import errno
    import os
    import stat

    if not directory.exists():
        raise ConfigError(
            f"config directory {directory} does not exist",
            location=Location(str(directory), None, ""),
        )
    if not directory.is_dir():
        raise ConfigError(
            f"{directory} is not a directory",
            location=Location(str(directory), None, ""),
        )
    found: list[tuple[str, Path]] = []
    problems: list[Problem] = []

    def problem(path: Path, message: str) -> None:
        problems.append(Problem(Location(path.as_posix(), None, ""), message, "io"))

    def walk(path: Path, rel: PurePosixPath, seen: frozenset[tuple[int, int]]) -> None:
        try:
            st = os.stat(path)
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            problem(path, f"cannot read directory: {exc.strerror or exc}")
            return
        seen = seen | {(st.st_dev, st.st_ino)}
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden paths (.git, .github workflows...) are not part of the config
            child, child_rel = Path(entry.path), rel / entry.name
            try:
                target = os.stat(child)
            except OSError as exc:
                if not is_config_path(child_rel) and not entry.is_symlink():
                    continue
                if exc.errno == errno.ELOOP:
                    problem(child, "symlink loop (the link leads back to itself)")
                elif exc.errno == errno.ENOENT and entry.is_symlink():
                    problem(
                        child,
                        f"dangling symlink (to {os.readlink(child)}, which does not exist)",
                    )
                else:
                    problem(child, f"cannot read: {exc.strerror or exc}")
                continue
            if stat.S_ISDIR(target.st_mode):
                if (target.st_dev, target.st_ino) in seen:
                    problem(
                        child,
                        "symlink loop (the link leads back to a directory that contains it)",
                    )
                else:
                    walk(child, child_rel, seen)
            elif is_config_path(child_rel):
                if stat.S_ISREG(target.st_mode):
                    found.append((child_rel.as_posix(), child))
                else:
                    kind = (
                        "a FIFO"
                        if stat.S_ISFIFO(target.st_mode)
                        else ("a device" if stat.S_ISCHR(target.st_mode) or stat.S_ISBLK(target.st_mode) else "special")
                    )
                    problem(
                        child,
                        f"not a regular file ({kind}); config files must be regular files",
                    )

    walk(directory, PurePosixPath(), frozenset())
    if not found and not problems:
        raise ConfigError(
            f"no *.yaml files in config directory {directory}",
            location=Location(str(directory), None, ""),
        )
    found.sort(key=lambda item: item[0])
    return found, problems


def _display_name(directory: Path, rel: str) -> str:
    """How a file is named in messages: the directory as the user gave it, plus the file."""
    return (directory / rel).as_posix()


def _pydantic_problems(
    exc: "ValidationError", data: Any, filename: str, prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        problems.append(
            Problem(
                Location(filename, line_of(data, loc), field_path(loc) or ""),
                err["msg"],
                "schema",
            )
        )
    return problems


def _by_schema(decide: Callable[[ModuleType], _V], data: Any, filename: str, problems: list[Problem]) -> _V | None:
    """What ``reconciler.config.entries`` could not vouch for, decided by the pydantic
    schema (``decide(reconciler.model.schema)`` validates and converts ``data``); None,
    with every problem appended located, when the schema refuses it."""
    from pydantic import ValidationError

    from reconciler.model import schema

    try:
        return decide(schema)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, data, filename))
        return None


class _Merger:
    """Accumulates validated files into one desired state, recording where things are."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.practice: PracticeSpec | None = None
        self.staff: list[StaffSpec] = []
        self.clients: list[ClientSpec] = []
        self.policies: list[PolicySpec] = []
        self.locations: dict[str, Location] = {}

    def _declare(
        self,
        kind: str,
        ident: str,
        where: Location,
        data: Any,
        section: str,
        index: int,
    ) -> bool:
        key = f"{kind}:{ident}"
        first = self.locations.get(key)
        if first is not None:
            self.problems.append(
                Problem(
                    where,
                    f"{kind} {ident!r} is declared twice: {first.file}:{first.line} and {where.file}:{where.line}",
                    "duplicate",
                )
            )
            return False
        self.locations[key] = where
        item = data[section][index]
        if isinstance(item, MarkedMap):
            for field, line in item.key_lines.items():
                self.locations[f"{key}.{field}"] = Location(where.file, line, f"{section}[{index}].{field}")
        return True

    def add_file(self, filename: str, data: MarkedMap, model: FileValues) -> None:
        if model.practice is not None:
            where = Location(filename, data.key_lines["practice"], "practice")
            first = self.locations.get("practice")
            if first is not None:
                self.problems.append(
                    Problem(
                        where,
                        f"practice is declared twice: {first.file}:{first.line} and {where.file}:{where.line} "
                        "(declare practice: in one file only)",
                        "duplicate",
                    )
                )
            else:
                self.practice = model.practice
                self.locations["practice"] = where
                practice_data = data["practice"]
                if isinstance(practice_data, MarkedMap):
                    for field, line in practice_data.key_lines.items():
                        self.locations[f"practice.{field}"] = Location(filename, line, f"practice.{field}")
        self._add_entries(
            filename,
            data,
            "staff",
            "staff",
            [(s.id, s) for s in model.staff],
            self.staff,
        )
        self._add_entries(
            filename,
            data,
            "clients",
            "client",
            [(c.id, c) for c in model.clients],
            self.clients,
        )
        self._add_entries(
            filename,
            data,
            "policies",
            "policy",
            [(p.name, p) for p in model.policies],
            self.policies,
        )

    def _add_entries(
        self,
        filename: str,
        data: MarkedMap,
        section: str,
        kind: str,
        entries: list[tuple[str, _E]],
        sink: list[_E],
    ) -> None:
        if not entries:
            return
        lines: list[int] = data[section].item_lines
        for index, (ident, item) in enumerate(entries):
            where = Location(filename, lines[index], f"{section}[{index}]")
            if self._declare(kind, ident, where, data, section, index):
                sink.append(item)


def load_builtin_policies(
    directory: Path | None = None,
) -> tuple[list[PolicySpec], dict[str, Location], list[Problem]]:
    """The shipped policies (one PolicySpec mapping per file), their locations and problems."""
    policies: list[PolicySpec] = []
    locations: dict[str, Location] = {}
    problems: list[Problem] = []
    if directory is None:
        from reconciler.resources import data_path

        directory = data_path("policies")
    if not directory.is_dir():
        return policies, locations, problems
    for path in sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml")):
        filename = f"<built-in>/policies/{path.name}"
        try:
            data = safe_load_marked(path.read_text(encoding="utf-8"), filename)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        policy = entries.policy_value(data)
        if policy is None:
            policy = _by_schema(lambda m: m.to_policy(m.PolicySpec.model_validate(data)), data, filename, problems)
            if policy is None:
                continue
        key = f"policy:{policy.name}"
        locations[key] = Location(filename, getattr(data, "line", 1), "")
        for field, line in data.key_lines.items():
            locations[f"{key}.{field}"] = Location(filename, line, field)
        policies.append(policy)
    return policies, locations, problems


def load_config(directory: Path, *, shown_as: str | None = None) -> DesiredState:
    """Read, check and merge the config directory into a located DesiredState.

    Raises one :class:`ConfigError` carrying every problem of every file (each at
    ``file:line`` with a field path), or for a missing/empty directory.
    """
    directory = Path(directory)
    files, unusable = walk_config_dir(directory)
    digest = hashlib.sha256()
    merger = _Merger()
    merger.problems.extend(unusable)
    for rel, path in files:
        # ``shown_as`` names a directory materialised from elsewhere (a git commit).
        filename = f"{shown_as}/{rel}" if shown_as is not None else _display_name(directory, rel)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                # A roster is kilobytes; a file this size is a mistake (or an attack) and
                # would take minutes to parse before any error could be reported.
                merger.problems.append(
                    Problem(
                        Location(filename, 1, ""),
                        f"file is {size // (1024 * 1024)} MiB; config files are limited to "
                        f"{MAX_FILE_BYTES // (1024 * 1024)} MiB",
                        "io",
                    )
                )
                continue
            raw = path.read_bytes()
        except OSError as exc:
            merger.problems.append(Problem(Location(filename, 1, ""), f"cannot read file: {exc.strerror}", "io"))
            continue
        digest.update(f"{rel}\0{len(raw)}\0".encode("utf-8"))
        digest.update(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            merger.problems.append(Problem(Location(filename, 1, ""), f"not UTF-8 text ({exc.reason})", "yaml"))
            continue
        try:
            data = safe_load_marked(text, filename)
        except ConfigError as exc:
            merger.problems.extend(exc.problems)
            continue
        if not isinstance(data, MarkedMap):
            what = "empty" if data is None else f"a {type(data).__name__.replace('Marked', '').lower()}"
            merger.problems.append(
                Problem(
                    Location(filename, getattr(data, "line", 1), ""),
                    f"expected a mapping with 'version: 1' and some of practice, staff, clients, policies; the file is {what}",
                    "schema",
                )
            )
            continue
        values = entries.file_values(data)
        if values is None:
            values = _by_schema(lambda m: m.to_file(m.ConfigFile.model_validate(data)), data, filename, merger.problems)
            if values is None:
                continue
        merger.add_file(filename, data, values)

    builtins, builtin_locations, builtin_problems = load_builtin_policies()
    merger.problems.extend(builtin_problems)
    if merger.problems:
        count = len(merger.problems)
        raise ConfigError(
            f"{count} problem{'s' if count != 1 else ''} in config {directory}",
            merger.problems,
        )

    policies = {p.name: p for p in builtins}
    locations = dict(builtin_locations)
    locations.update(merger.locations)  # config policies (and their locations) win
    for policy in merger.policies:
        policies[policy.name] = policy
    # Built-in locations of a policy the config replaced must not linger.
    for name in {p.name for p in merger.policies}:
        for key in [k for k in builtin_locations if k == f"policy:{name}" or k.startswith(f"policy:{name}.")]:
            if key not in merger.locations:
                del locations[key]
    return DesiredState(
        practice=merger.practice if merger.practice is not None else PracticeSpec(),
        staff=tuple(merger.staff),
        clients=tuple(merger.clients),
        policies=tuple(policies[name] for name in sorted(policies)),
        locations=locations,
        config_digest="sha256:" + digest.hexdigest(),
        source=str(directory),
    )
