"""YAML files read with the line of every key and item, so each problem can say `file:line`.

PyYAML's loaders return plain objects and forget where they came from, and silently keep
the last of two equal keys. Here libyaml (C, fast) only composes the node tree; the
objects are built from it by hand, recording `path -> line` for every mapping entry and
sequence item, and reporting duplicate keys. Only the safe YAML types are built; any
other tag (`!!python/object`, `!custom`) is a problem, never code.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
# Scalar tags the safe constructor builds (str is handled inline: it is nearly every scalar).
_SAFE_SCALARS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp"))

YamlPath = tuple  # a place in a document: mapping keys and sequence indexes, root first
# What an unsupported or invalid node builds: its entry is left out (the problem is reported
# once), so validation does not add a second, confusing complaint about the same value.
_INVALID = object()


def format_path(path: Sequence[Any]) -> str:
    """`("devices", 17, "class")` -> `devices[17].class`, the spelling every message uses."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class Document:
    """One YAML file: its data, where each part of it is, and what was wrong with it."""

    name: str  # the file as messages show it
    data: Any  # None for an empty file, or one with a syntax error
    lines: Mapping[YamlPath, int] = field(default_factory=dict, repr=False)
    problems: tuple[str, ...] = ()

    def line(self, path: Sequence[Any]) -> int:
        """The line of `path`, or of its nearest recorded ancestor (1 when nothing matches)."""
        path = tuple(path)
        while path:
            line = self.lines.get(path)
            if line is not None:
                return line
            path = path[:-1]
        return self.lines.get((), 1)

    def where(self, path: Sequence[Any]) -> str:
        return f"{self.name}:{self.line(path)}"


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while building many small objects.

    Composing 50,000 devices allocates ~600,000 nodes, and the collector's repeated passes
    over them took 3/4 of the time (4 s instead of 1 s). Nothing built here forms cycles
    worth collecting early; the collector resumes right after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read(path: Path, name: Optional[str] = None) -> Document:
    """Read and parse a YAML file; OSError (missing, unreadable) is left to the caller."""
    name = str(path) if name is None else name
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # Windows editors like to add a BOM
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return Document(name, None, {(): 1}, (
            f"{name}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",))
    return parse(text, name)


def parse(text: str, name: str) -> Document:
    """Parse YAML text; syntax errors and unsafe content become problems, not exceptions."""
    with gc_paused():
        return _parse(text, name)


def _parse(text: str, name: str) -> Document:
    try:
        root = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = exc.problem or exc.context
        if exc.context and exc.problem and not exc.context.startswith("while"):
            message = f"{exc.context}, {exc.problem}"  # "expected a single document ..., but found another"
        return Document(name, None, {(): 1}, (f"{name}:{line}: YAML syntax error: {message}",))
    except yaml.reader.ReaderError as exc:  # a control character; no mark, only a position
        line = text.count("\n", 0, exc.position) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character  # libyaml gives an int
        return Document(name, None, {(): 1}, (
            f"{name}:{line}: YAML syntax error: character #x{code:04x}: {exc.reason}",))
    except yaml.YAMLError as exc:  # anything else libyaml may raise: still one line
        return Document(name, None, {(): 1}, (f"{name}:1: YAML syntax error: {' '.join(str(exc).split())}",))
    if root is None:
        return Document(name, None, {(): 1})
    builder = _Builder(name)
    builder.lines[()] = root.start_mark.line + 1
    data = builder.build(root, ())
    return Document(name, None if data is _INVALID else data, builder.lines, tuple(builder.problems))


class _Builder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: dict[YamlPath, int] = {}
        self.problems: list[str] = []
        self._constructor = SafeConstructor()
        # Aliases compose to the same node object: build it once and share the result,
        # so a "billion laughs" document costs no more than its text.
        self._built: dict[int, Any] = {}
        self._building: set[int] = set()

    def _unsupported(self, node: Node, path: YamlPath) -> None:
        self._problem(node, path, f"unsupported YAML tag '{node.tag.replace('tag:yaml.org,2002:', '!!')}' "
                                  "(only plain data is allowed)")

    def _problem(self, node: Node, path: YamlPath, message: str) -> None:
        where = f"{format_path(path)}: " if path else ""
        self.problems.append(f"{self.name}:{node.start_mark.line + 1}: {where}{message}")

    def build(self, node: Node, path: YamlPath) -> Any:
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        key = id(node)
        if key in self._built:
            return self._built[key]
        if key in self._building:
            self._problem(node, path, "an alias refers to its own anchor (recursive data is not supported)")
            return _INVALID
        self._building.add(key)
        try:
            value = self._sequence(node, path) if isinstance(node, SequenceNode) else self._mapping(node, path)
        finally:
            self._building.discard(key)
        self._built[key] = value
        return value

    def _scalar(self, node: ScalarNode, path: YamlPath) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag not in _SAFE_SCALARS:
            self._unsupported(node, path)
            return _INVALID
        try:
            return self._constructor.construct_object(node)
        except (ConstructorError, ValueError) as exc:
            self._problem(node, path, f"invalid value {node.value!r} ({getattr(exc, 'problem', exc)})")
            return _INVALID

    def _sequence(self, node: SequenceNode, path: YamlPath) -> Any:
        if node.tag != _SEQ:
            self._unsupported(node, path)
            return _INVALID
        items = []
        for item in node.value:
            item_path = path + (len(items),)
            self.lines[item_path] = item.start_mark.line + 1
            value = self.build(item, item_path)
            if value is not _INVALID:
                items.append(value)
        return items

    def _mapping(self, node: MappingNode, path: YamlPath) -> Any:
        if node.tag != _MAP:
            self._unsupported(node, path)
            return _INVALID
        result: dict = {}
        merges: list[tuple[Node, Node]] = []
        lines = self.lines
        for key_node, value_node in node.value:
            # Plain string keys and values are nearly everything: handled inline for speed.
            if key_node.tag == _STR and key_node.__class__ is ScalarNode:
                key = key_node.value
            elif key_node.tag == _MERGE:
                merges.append((key_node, value_node))
                continue
            else:
                key = self.build(key_node, path)
                if key is _INVALID:
                    continue
                try:
                    hash(key)
                except TypeError:
                    self._problem(key_node, path, "a mapping key must be a single value, not a list or a mapping")
                    continue
            entry_path = path + (key,)
            if key in result:
                self._problem(key_node, entry_path,
                              f"duplicate key '{key}' (first at line {lines[entry_path]}); "
                              "YAML would silently keep only one")
                continue
            lines[entry_path] = key_node.start_mark.line + 1
            if value_node.tag == _STR and value_node.__class__ is ScalarNode:
                result[key] = value_node.value
            else:
                value = self.build(value_node, entry_path)
                if value is not _INVALID:
                    result[key] = value
        for key_node, value_node in merges:
            self._merge(result, key_node, value_node, path)
        return result

    def _merge(self, result: dict, key_node: Node, value_node: Node, path: YamlPath) -> None:
        """`<<: *defaults`: copy keys the mapping does not set itself (YAML merge keys)."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        line = key_node.start_mark.line + 1
        for source in sources:
            if not isinstance(source, MappingNode):
                self._problem(key_node, path, "'<<' must be followed by a mapping or a list of mappings")
                return
            # Its own lines go under a side path so they cannot displace this mapping's.
            merged = self.build(source, path + ("<<",))
            if merged is _INVALID:
                continue
            for key, value in merged.items():
                if key not in result:
                    result[key] = value
                    self.lines[path + (key,)] = line
