"""Read one YAML spec file into plain data plus the line and column of every node.

libyaml (through PyYAML's C composer) builds the node tree with marks at about 0.1 ms per
spec, which is what lets a 1,000-spec project compile in well under a second; the pure
round-trip loaders cost 30x more. Composing, YAML 1.2 scalars and the budget that refuses YAML
bombs (alias cycles, alias or merge-key expansion, deep nesting) are `llmops.yamlsafe`'s, shared
with every reader of text from users and history; this module adds the position of every node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from llmops.errors import Diagnostic
from llmops.yamlsafe import (
    _SCALARS,
    COLLECTION_TAGS,
    MAX_DEPTH,
    MERGE_TAG,
    YamlError,
    compose,
    merge_keys,
    scalar,
)
from llmops.yamlsafe import Loader as _Loader

# _Loader and _SCALARS stay importable from here for the tests and the compile benchmark.
__all__ = ["_SCALARS", "SourceDoc", "_Loader", "load_text"]

Path_ = tuple[str | int, ...]

_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.MULTILINE)


@dataclass
class SourceDoc:
    """A loaded YAML mapping and where each of its nodes stands in the file."""

    path: str
    data: dict[str, Any]
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Path_, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the node at loc, or of its nearest existing parent."""
        loc = tuple(loc)
        if key and loc in self.keys:
            return self.keys[loc]
        while loc not in self.values and loc:
            loc = loc[:-1]
        return self.values.get(loc, (1, 1))


def load_text(path: str, text: str) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Parse one spec file; a problem comes back as diagnostics, never as an exception."""
    conflict = _CONFLICT.search(text)
    if conflict:
        line = text.count("\n", 0, conflict.start()) + 1
        return None, [
            Diagnostic(path, line, 1, "", "merge-conflict marker in the file", "resolve the conflict")
        ]
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        return None, [
            Diagnostic(path, 1, 1, "", "the file is empty", "write a spec with `kind:` and `name:`")
        ]
    try:
        nodes = compose(path, text)
    except YamlError as exc:
        return None, [Diagnostic(path, exc.line, exc.col, "", exc.message, exc.hint)]
    if len(nodes) != 1:
        if not nodes:
            return None, [Diagnostic(path, 1, 1, "", "the file holds no YAML document")]
        line = nodes[1].start_mark.line + 1
        return None, [Diagnostic(path, line, 1, "", "more than one YAML document", "keep one spec per file")]
    root = nodes[0]
    if not isinstance(root, yaml.MappingNode):
        line, col = root.start_mark.line + 1, root.start_mark.column + 1
        found = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        return None, [
            Diagnostic(
                path,
                line,
                col,
                "",
                f"the document is {found}, not a mapping",
                "a spec is a mapping with `kind:`, `name:` and its fields",
            )
        ]
    doc = SourceDoc(path=path, data={})
    errors: list[Diagnostic] = []
    doc.data = _build(root, (), doc, errors)
    return doc, errors


def _build(node: yaml.Node, loc: Path_, doc: SourceDoc, errors: list[Diagnostic]) -> Any:
    mark = node.start_mark
    doc.values[loc] = (mark.line + 1, mark.column + 1)
    kind = type(node)
    if kind is yaml.ScalarNode:
        try:
            return scalar(node)
        except yaml.YAMLError as exc:
            errors.append(_at(doc.path, node, loc, f"bad value: {getattr(exc, 'problem', None) or exc}"))
            return None
    if node.tag not in COLLECTION_TAGS:
        errors.append(_at(doc.path, node, loc, f"unsupported YAML tag '{node.tag}'"))
        return None
    if len(loc) >= MAX_DEPTH:  # without aliases compose() did not measure the depth
        errors.append(_at(doc.path, node, loc, f"this value nests deeper than {MAX_DEPTH} levels: refused"))
        return None
    if kind is yaml.MappingNode:
        if any(k.tag == MERGE_TAG for k, _ in node.value):
            try:
                merge_keys(doc.path, node)
            except YamlError as exc:
                field_name = ".".join(str(p) for p in loc)
                errors.append(Diagnostic(doc.path, exc.line, exc.col, field_name, exc.message))
                return None
        out: dict[str, Any] = {}
        keys = doc.keys
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode:
                errors.append(_at(doc.path, key_node, loc, "a key must be a plain value"))
                continue
            try:
                key = str(scalar(key_node))
            except yaml.YAMLError:
                errors.append(_at(doc.path, key_node, loc, f"unsupported YAML tag '{key_node.tag}'"))
                continue
            where = loc + (key,)
            if key in out:
                errors.append(_at(doc.path, key_node, where, f"duplicate key '{key}'"))
                continue
            mark = key_node.start_mark
            keys[where] = (mark.line + 1, mark.column + 1)
            out[key] = _build(value_node, where, doc, errors)
        return out
    return [_build(item, loc + (i,), doc, errors) for i, item in enumerate(node.value)]


def _at(path: str, node: yaml.Node, loc: Path_, message: str) -> Diagnostic:
    field_name = ".".join(str(p) for p in loc)
    return Diagnostic(path, node.start_mark.line + 1, node.start_mark.column + 1, field_name, message)
