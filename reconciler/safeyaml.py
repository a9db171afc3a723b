"""Safe YAML with line marks (the rules every YAML file of reconciler is read by).

* **Safe YAML only.** Documents are composed with PyYAML's C parser when available
  (``yaml.CSafeLoader``; the pure-Python ``SafeLoader`` otherwise) and values are
  constructed here from its events, so every mapping key and sequence item keeps its line.
  Only the YAML 1.1 core tags are accepted; any other tag such as ``!!python/object``
  is a :class:`ConfigError` at ``file:line``.
* **Bounded aliases.** Each alias adds the node count of what it names to a running
  total: past :data:`ALIAS_EXPANSION_BUDGET` added nodes the document is rejected.
  Recursive aliases and nesting deeper than :data:`MAX_DEPTH` are rejected too.
* Duplicate keys in one mapping are errors (PyYAML would silently keep the last one).

A base module: the config loader (``reconciler.config``) and the native target's
snapshot reader both use it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import yaml
from yaml.constructor import SafeConstructor

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
    return "!!" + tag[len(_T) :] if tag.startswith(_T) else tag


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
