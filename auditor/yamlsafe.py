"""The one YAML loader for files users give us: auditor.yaml, rule packs, exemption files.

Hostile or broken input gets an error naming file, line and field, never a traceback, a hang
or unbounded memory. So, unlike `yaml.safe_load`, this loader:
- reads only regular files, at most `MAX_BYTES` (never /dev/zero or a FIFO);
- accepts UTF-8 only (a UTF-16 file or stray bytes are named, with their line);
- refuses anchors and aliases (an alias bomb cannot expand) and nesting past `MAX_DEPTH`;
- refuses explicit tags other than the plain-data ones (`!!python/...` never constructs);
- refuses non-string mapping keys, duplicate keys, impossible dates and non-finite numbers;
- remembers the line of every key and item, so callers can name where a bad value is.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    MappingStartEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from auditor.errors import one_line

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64

Path_ = tuple[Any, ...]

_TAG = "tag:yaml.org,2002:"
PLAIN_TAGS = frozenset(
    _TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map")
)


class YamlError(Exception):
    """Not acceptable YAML (or unreadable): the message names file and line (one line)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


@dataclass(frozen=True, slots=True)
class YamlDoc:
    filename: str
    data: Any
    lines: Mapping[Path_, int]

    def line(self, *path: Any) -> int:
        """The line of the longest known prefix of `path` (1 for the document itself)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return 1

    def where(self, *path: Any) -> str:
        return f"{self.filename}:{self.line(*path)}"


def _field(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


class _Refused(yaml.MarkedYAMLError):
    def __init__(self, node_or_mark: Any, problem: str) -> None:
        mark = getattr(node_or_mark, "start_mark", node_or_mark)
        super().__init__(problem=problem, problem_mark=mark)


class _Composer(Composer):
    """PyYAML's composer without anchors or aliases, with a depth limit."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, AliasEvent):
            raise _Refused(event.start_mark, "aliases (*name) are not allowed")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Refused(event.start_mark, f"anchors (&{anchor}) are not allowed")
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and self._explicit_tag(tag) not in PLAIN_TAGS:
            shown = "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
            raise _Refused(event.start_mark, f"tag {shown} is not allowed (plain data only)")
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    @staticmethod
    def _explicit_tag(tag: str) -> str:
        return _TAG + tag[2:] if tag.startswith("!!") else tag


_Parser: Any
try:
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _PurePython(Reader, Scanner, _PyParser):
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _PyParser.__init__(self)

    _Parser = _PurePython


class _Loader(_Composer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc]
    """libyaml's event parser (fast) + the checked composer above + the safe constructor."""

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.paths: dict[int, Path_] = {}

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            value = super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # 2027-02-30, a 5,000-digit integer
            why = str(exc).split(":", 1)[0] if "digits" in str(exc) else str(exc)
            raise _Refused(node, f"{self._label(node)}not a valid value: {why}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused(node, f"{self._label(node)}not a finite number (.nan, .inf)")
        return value

    def _label(self, node: Node) -> str:
        path = self.paths.get(id(node))
        return f"{_field(path)}: " if path else ""


def _check_keys(node: Node, path: Path_, lines: dict[Path_, int], paths: dict[int, Path_]) -> None:
    """Record lines; refuse non-string and duplicate keys. Iterative: depth is bounded anyway."""
    stack: list[tuple[Node, Path_]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        paths[id(current)] = where
        lines.setdefault(where, current.start_mark.line + 1)
        if isinstance(current, MappingNode):
            seen: dict[str, int] = {}
            for key, value in current.value:
                if not isinstance(key, ScalarNode) or key.tag != _TAG + "str":
                    shown = repr(key.value) if isinstance(key, ScalarNode) else "a collection"
                    label = f"{_field(where)}: " if where else ""
                    raise _Refused(key, f"{label}key {shown} is not a string (quote it)")
                line = key.start_mark.line + 1
                if key.value in seen:
                    raise _Refused(
                        key,
                        f"{_field((*where, key.value))}: duplicate key "
                        f"(first at line {seen[key.value]})",
                    )
                seen[key.value] = line
                lines[(*where, key.value)] = line
                stack.append((value, (*where, key.value)))
        elif isinstance(current, SequenceNode):
            for i, item in enumerate(current.value):
                lines[(*where, i)] = item.start_mark.line + 1
                stack.append((item, (*where, i)))


def parse_yaml(text: str, filename: str) -> YamlDoc:
    """Parse one YAML document held in memory. Raises YamlError naming file and line."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise YamlError(f"{filename}:{line}: contains NUL bytes (UTF-16? save the file as UTF-8)")
    loader = _Loader(text.removeprefix("\ufeff"))
    lines: dict[Path_, int] = {}
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_keys(node, (), lines, loader.paths)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(f"{where}: {_prefix(exc)}{problem}") from None
    except RecursionError:  # the depth limit makes this unreachable; never a traceback
        raise YamlError(f"{filename}: nested too deeply") from None
    finally:
        loader.dispose()
    return YamlDoc(filename, data, lines)


def _prefix(exc: yaml.YAMLError) -> str:
    return "" if isinstance(exc, _Refused) else "not valid YAML: "


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; YamlError-free OSError-free.

    Opened non-blocking so a FIFO cannot hang us; devices (/dev/zero) and directories are
    refused before reading. Raises ValueError with a one-line message naming the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path}: cannot read {what}: not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{path}: {what} is larger than {limit:,} bytes")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read {what}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"{path}: {what} is larger than {limit:,} bytes")
    return data


def decode_utf8(data: bytes, filename: str) -> str:
    """UTF-8 text (a UTF-8 BOM is allowed); anything else is named with its line."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ValueError(f"{filename}:1: the file is UTF-16 or UTF-32: save it as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(
            f"{filename}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}): "
            "save the file as UTF-8"
        ) from None


def read_yaml(path: Path, what: str = "file", limit: int = MAX_BYTES) -> YamlDoc:
    """Read and parse a YAML file with every limit above. Raises YamlError."""
    try:
        text = decode_utf8(read_capped(path, limit, what), str(path))
    except ValueError as exc:
        raise YamlError(str(exc)) from None
    return parse_yaml(text, str(path))
