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
* **Located errors.** Schema errors from :class:`reconciler.model.desired.ConfigFile` are
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
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from pydantic import ValidationError

from reconciler.model.desired import ClientSpec, ConfigFile, DesiredState, PolicySpec, PracticeSpec, StaffSpec
from reconciler.errors import ConfigError, Location, Problem

# Nodes that alias expansion may add beyond those literally written in a document.
ALIAS_EXPANSION_BUDGET = 100_000
# Largest config file accepted (an imported practice of 200,000 clients is ~1 MiB).
MAX_FILE_BYTES = 8 * 1024 * 1024
# Deepest nesting of mappings/sequences accepted (config files need about 5).
MAX_DEPTH = 64

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_T = "tag:yaml.org,2002:"
_STR_TAG = _T + "str"
_MAP_TAG = _T + "map"
_SEQ_TAG = _T + "seq"
_MERGE_TAG = _T + "merge"
_SCALAR_TAGS = frozenset(_T + t for t in ("null", "bool", "int", "float", "str", "timestamp"))
_SCALAR_CONSTRUCTORS: dict[str, Callable[[Any, Any], Any]] = {
    tag: SafeConstructor.yaml_constructors[tag] for tag in _SCALAR_TAGS
}
_IMPLICIT: dict[Any, list[tuple[str, Any]]] = yaml.resolver.Resolver.yaml_implicit_resolvers
_PLAIN_TAGS: dict[str, str] = {}  # plain scalar text -> resolved tag (a pure function: safe to share)

_E = TypeVar("_E", StaffSpec, ClientSpec, PolicySpec)



# --------------------------------------------------------------------------- marked values
class MarkedMap(dict[Any, Any]):
    """A mapping from YAML that remembers where it and each of its keys were written.

    ``line`` is the 1-based line of the mapping's first key; ``key_lines[key]`` the
    line of that key.
    """

    line: int
    key_lines: dict[Any, int]


class MarkedSeq(list[Any]):
    """A sequence from YAML; ``item_lines[i]`` is the 1-based line of item ``i``."""

    line: int
    item_lines: list[int]


def line_of(data: Any, path: Iterable[str | int], default: int = 1) -> int:
    """The line of the deepest element of ``path`` (keys and indexes) found in ``data``.

    A path that leaves the data (a missing key, say) stops at the last container
    reached: that is where the missing field belongs.
    """
    line = getattr(data, "line", default)
    node = data
    for step in path:
        if isinstance(node, MarkedMap) and not isinstance(step, int) and step in node:
            line = node.key_lines.get(step, line)
            node = node[step]
        elif isinstance(node, MarkedSeq) and isinstance(step, int) and 0 <= step < len(node):
            line = node.item_lines[step]
            node = node[step]
        else:
            break
        # A mapping/sequence value starting on a later line is still reported at its key:
        # "staff:" is where a reader looks for a broken staff list.
    return line


def field_path(path: Iterable[str | int]) -> str:
    """``("staff", 1, "role")`` -> ``"staff[1].role"``."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out


# --------------------------------------------------------------------------- safe YAML
class _Frame:
    """An open mapping or sequence while events stream in."""

    __slots__ = ("value", "anchor", "start", "key", "key_line", "merges", "line")

    def __init__(self, value: Any, anchor: str | None, start: int, line: int) -> None:
        self.value = value
        self.anchor = anchor
        self.start = start  # node count when the collection opened: its size on close
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.merges: list[tuple[Any, int]] | None = None
        self.line = line


_NO_KEY = object()
_MERGE = object()  # a plain "<<" in key position: a merge key


class _EventBuilder:
    """Builds marked values from the parser's event stream, safely and boundedly.

    Working from events (not PyYAML's composed node graph) keeps us in control:
    libyaml parses iteratively, while the C composer recurses and can crash the
    interpreter on absurdly deep nesting; here depth, tags and alias expansion are
    checked as each event arrives.
    """

    def __init__(self, loader: Any, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, expanded node count)
        self.open_anchors: set[str] = set()
        self.expansion = 0  # nodes added by aliases so far
        self.count = 0  # nodes (after alias expansion) so far
        self.scalars: dict[tuple[str, str], Any] = {}

    def fail(self, line: int, message: str) -> ConfigError:
        return ConfigError(message, [Problem(Location(self.filename, line, ""), message, "yaml")])

    def resolve(self, event: Any) -> str:
        tag: str | None = event.tag
        if tag is not None and tag != "!":
            return tag
        if not event.implicit[0]:
            return _STR_TAG  # quoted scalars are strings
        value: str = event.value
        cached = _PLAIN_TAGS.get(value)
        if cached is not None:
            return cached
        candidates = _IMPLICIT.get(value[0] if value else "", []) + _IMPLICIT.get(None, [])
        for candidate, regexp in candidates:
            if regexp.match(value):
                tag = candidate
                break
        else:
            tag = _STR_TAG
        if len(_PLAIN_TAGS) < 4096:  # keys and enum values repeat a lot
            _PLAIN_TAGS[value] = tag
        return tag

    def scalar(self, event: Any, line: int) -> Any:
        tag = self.resolve(event)
        if tag == _STR_TAG:
            return event.value
        if tag == _MERGE_TAG:
            return _MERGE
        key = (tag, event.value)
        if key in self.scalars:
            return self.scalars[key]
        ctor = _SCALAR_CONSTRUCTORS.get(tag)
        if ctor is None:
            raise self.fail(line, f"YAML tag {_short_tag(tag)} is not allowed (only plain data is accepted)")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = ctor(self.loader, node)
        except ValueError as exc:  # e.g. 2026-13-45 looks like a date but is none
            raise self.fail(line, f"invalid {_short_tag(tag)} value {event.value!r}: {exc}") from None
        self.scalars[key] = value  # every safe scalar value is immutable
        return value

    def add(self, stack: list[_Frame], value: Any, line: int) -> Any:
        """Put a finished value into the open collection; returns it if it is the root."""
        if not stack:
            return value
        frame = stack[-1]
        container = frame.value
        if isinstance(container, MarkedSeq):
            container.append("<<" if value is _MERGE else value)
            container.item_lines.append(line)
            return None
        if frame.key is _NO_KEY:
            if value is _MERGE:
                frame.key = _MERGE
            elif not isinstance(value, str):
                if isinstance(value, (dict, list)):
                    raise self.fail(line, "a mapping key must be a plain string, not a mapping or list")
                raise self.fail(line, f"mapping key {value!r} must be a string (quote it)")
            elif value in container:
                raise self.fail(line, f"duplicate key {value!r} (first written on line {container.key_lines[value]})")
            else:
                frame.key = value
            frame.key_line = line
            return None
        if frame.key is _MERGE:
            if frame.merges is None:
                frame.merges = []
            frame.merges.append((value, frame.key_line))
        else:
            container[frame.key] = "<<" if value is _MERGE else value
            container.key_lines[frame.key] = frame.key_line
        frame.key = _NO_KEY
        return None

    def close_mapping(self, frame: _Frame) -> None:
        """Apply ``<<`` merge keys: explicit keys win, earlier merge sources win."""
        if not frame.merges:
            return
        target: MarkedMap = frame.value
        for value, line in frame.merges:
            sources = value if isinstance(value, MarkedSeq) else [value]
            for source in sources:
                if not isinstance(source, MarkedMap):
                    raise self.fail(line, "a '<<' merge key needs a mapping or a list of mappings")
                for key, item in source.items():
                    if key not in target:
                        target[key] = item
                        target.key_lines[key] = source.key_lines[key]

    def run(self) -> Any:
        get = self.loader.get_event
        event = get()  # StreamStartEvent
        event = get()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        stack: list[_Frame] = []
        root: Any = None
        while True:
            event = get()
            kind = type(event)
            line = event.start_mark.line + 1
            if kind is yaml.ScalarEvent:
                value = self.scalar(event, line)
                self.count += 1
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, 1)
                root = self.add(stack, value, line)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                is_map = kind is yaml.MappingStartEvent
                tag = event.tag
                if tag is not None and tag != "!" and tag != (_MAP_TAG if is_map else _SEQ_TAG):
                    raise self.fail(line, f"YAML tag {_short_tag(tag)} is not allowed (only plain data is accepted)")
                if len(stack) >= MAX_DEPTH:
                    raise self.fail(line, f"YAML nested deeper than {MAX_DEPTH} levels")
                container: Any
                if is_map:
                    container = MarkedMap()
                    container.key_lines = {}
                else:
                    container = MarkedSeq()
                    container.item_lines = []
                container.line = line
                if event.anchor is not None:
                    self.open_anchors.add(event.anchor)
                stack.append(_Frame(container, event.anchor, self.count, line))
                self.count += 1
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = stack.pop()
                if kind is yaml.MappingEndEvent:
                    self.close_mapping(frame)
                if frame.anchor is not None:
                    self.open_anchors.discard(frame.anchor)
                    self.anchors[frame.anchor] = (frame.value, self.count - frame.start)
                root = self.add(stack, frame.value, frame.line)
            elif kind is yaml.AliasEvent:
                anchor = event.anchor
                if anchor in self.open_anchors:
                    raise self.fail(line, f"recursive YAML alias *{anchor}: the anchor is used inside itself")
                if anchor not in self.anchors:
                    raise self.fail(line, f"YAML alias *{anchor} names no anchor defined before it")
                value, size = self.anchors[anchor]
                self.expansion += size
                self.count += size
                if self.expansion > ALIAS_EXPANSION_BUDGET:
                    raise self.fail(
                        line,
                        f"YAML aliases expand to more than {ALIAS_EXPANSION_BUDGET} nodes "
                        "(alias expansion is bounded; is this a 'billion laughs' document?)",
                    )
                # The alias shares the anchored value, as PyYAML does: values are read only.
                root = self.add(stack, value, line)
            elif kind is yaml.DocumentEndEvent:
                break
        event = get()
        if not isinstance(event, yaml.StreamEndEvent):
            raise self.fail(event.start_mark.line + 1, "expected a single YAML document, found another ('---')")
        return root


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_T):] if tag.startswith(_T) else tag


def safe_load_marked(text: str, filename: str) -> Any:
    """Parse one YAML document safely, keeping line numbers.

    Returns plain data in which mappings are :class:`MarkedMap` and sequences are
    :class:`MarkedSeq` (dict/list subclasses carrying lines); an empty document
    gives ``None``. Raises :class:`ConfigError` located at ``filename:line`` for
    syntax errors, disallowed tags, duplicate keys, recursive or explosive aliases
    and too-deep nesting. Aliases share the anchored value: treat results as read-only.
    """
    loader = _Loader(text)
    try:
        return _EventBuilder(loader, filename).run()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        detail = ", ".join(str(p) for p in (exc.context, exc.problem) if p)
        message = f"invalid YAML: {detail or exc}"
        if "nesting depth" in str(exc.problem):
            # Newer libyaml scanners stop absurd nesting themselves (their look-ahead
            # for simple keys can reach their limit before we see MAX_DEPTH events);
            # it is the same fact, so report it in our words.
            message = f"YAML nested deeper than {MAX_DEPTH} levels"
        raise ConfigError(message, [Problem(Location(filename, line, ""), message, "yaml")]) from None
    except yaml.YAMLError as exc:  # e.g. a reader error (control characters)
        message = f"invalid YAML: {exc}"
        raise ConfigError(message, [Problem(Location(filename, 1, ""), message, "yaml")]) from None
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- the directory
def config_files(directory: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, path)`` of every config file, sorted by relative path.

    Raises ConfigError when the directory is missing or holds no YAML file.
    """
    if not directory.exists():
        raise ConfigError(f"config directory {directory} does not exist", location=Location(str(directory), None, ""))
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a directory", location=Location(str(directory), None, ""))
    found: list[tuple[str, Path]] = []
    for path in directory.rglob("*"):
        if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
            continue
        rel = path.relative_to(directory)
        # Hidden paths (.git, .github workflows...) are not part of the config.
        if any(part.startswith(".") for part in rel.parts):
            continue
        found.append((rel.as_posix(), path))
    if not found:
        raise ConfigError(
            f"no *.yaml files in config directory {directory}", location=Location(str(directory), None, "")
        )
    found.sort(key=lambda item: item[0])
    return found


def _display_name(directory: Path, rel: str) -> str:
    """How a file is named in messages: the directory as the user gave it, plus the file."""
    return (directory / rel).as_posix()


def _pydantic_problems(exc: ValidationError, data: Any, filename: str, prefix: tuple[str | int, ...] = ()) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        problems.append(
            Problem(Location(filename, line_of(data, loc), field_path(loc) or ""), err["msg"], "schema")
        )
    return problems


class _Merger:
    """Accumulates validated files into one desired state, recording where things are."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.practice: PracticeSpec | None = None
        self.staff: list[StaffSpec] = []
        self.clients: list[ClientSpec] = []
        self.policies: list[PolicySpec] = []
        self.locations: dict[str, Location] = {}

    def _declare(self, kind: str, ident: str, where: Location, data: Any, section: str, index: int) -> bool:
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

    def add_file(self, filename: str, data: MarkedMap, model: ConfigFile) -> None:
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
        self._add_entries(filename, data, "staff", "staff", [(s.id, s) for s in model.staff], self.staff)
        self._add_entries(filename, data, "clients", "client", [(c.id, c) for c in model.clients], self.clients)
        self._add_entries(filename, data, "policies", "policy", [(p.name, p) for p in model.policies], self.policies)

    def _add_entries(self, filename: str, data: MarkedMap, section: str, kind: str,
                     entries: list[tuple[str, _E]], sink: list[_E]) -> None:
        if not entries:
            return
        lines: list[int] = data[section].item_lines
        for index, (ident, item) in enumerate(entries):
            where = Location(filename, lines[index], f"{section}[{index}]")
            if self._declare(kind, ident, where, data, section, index):
                sink.append(item)


def load_builtin_policies(directory: Path | None = None) -> tuple[list[PolicySpec], dict[str, Location], list[Problem]]:
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
            policy = PolicySpec.model_validate(data)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, data, filename))
            continue
        key = f"policy:{policy.name}"
        locations[key] = Location(filename, getattr(data, "line", 1), "")
        for field, line in data.key_lines.items():
            locations[f"{key}.{field}"] = Location(filename, line, field)
        policies.append(policy)
    return policies, locations, problems


def load_config(directory: Path) -> DesiredState:
    """Read, check and merge the config directory into a located DesiredState.

    Raises one :class:`ConfigError` carrying every problem of every file (each at
    ``file:line`` with a field path), or for a missing/empty directory.
    """
    directory = Path(directory)
    files = config_files(directory)
    digest = hashlib.sha256()
    merger = _Merger()
    for rel, path in files:
        filename = _display_name(directory, rel)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                # A roster is kilobytes; a file this size is a mistake (or an attack) and
                # would take minutes to parse before any error could be reported.
                merger.problems.append(Problem(
                    Location(filename, 1, ""),
                    f"file is {size // (1024 * 1024)} MiB; config files are limited to "
                    f"{MAX_FILE_BYTES // (1024 * 1024)} MiB", "io"))
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
        try:
            model = ConfigFile.model_validate(data)
        except ValidationError as exc:
            merger.problems.extend(_pydantic_problems(exc, data, filename))
            continue
        merger.add_file(filename, data, model)

    builtins, builtin_locations, builtin_problems = load_builtin_policies()
    merger.problems.extend(builtin_problems)
    if merger.problems:
        count = len(merger.problems)
        raise ConfigError(f"{count} problem{'s' if count != 1 else ''} in config {directory}", merger.problems)

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
    # model_construct: every part was validated above; revalidating thousands of
    # entries and locations would only cost time.
    return DesiredState.model_construct(
        practice=merger.practice if merger.practice is not None else PracticeSpec(),
        staff=tuple(merger.staff),
        clients=tuple(merger.clients),
        policies=tuple(policies[name] for name in sorted(policies)),
        locations=locations,
        config_digest="sha256:" + digest.hexdigest(),
        source=str(directory),
    )
